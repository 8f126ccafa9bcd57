package ingest

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"sync"
	"time"

	"github.com/herald/herald/internal/hub"
)

// Backpressure defaults.
const (
	// DefaultMaxLag is the backlog of the handler group on the events
	// topic above which `herald serve` refuses new events.
	DefaultMaxLag = 1_000_000
	// LagGroup is the consumer group whose backlog is bounded: the
	// handler's (handler.Group).
	LagGroup = "handler"
	// lagInterval is how often the backlog is read from the hub at most.
	lagInterval = 250 * time.Millisecond
	// backlogRetry is the Retry-After of a refusal for backlog.
	backlogRetry = time.Second
	// maxBuckets bounds the per-key rate state.
	maxBuckets = 10000
)

// ErrBacklog is returned by Publish while the handler is further behind
// than Config.MaxLag: producers should wait for BacklogError.RetryAfter.
var ErrBacklog = errors.New("ingest: herald is behind on its events")

// BacklogError is ErrBacklog with the backlog and how long to wait.
type BacklogError struct {
	Pending, Max uint64
	RetryAfter   time.Duration
}

func (e *BacklogError) Error() string {
	return fmt.Sprintf("ingest: %d events are waiting for the handler, more than the %d allowed (--max-lag); retry after %s", e.Pending, e.Max, e.RetryAfter)
}

// Unwrap makes errors.Is(err, ErrBacklog) hold.
func (e *BacklogError) Unwrap() error { return ErrBacklog }

// admission decides whether the edge takes more events: it refuses while
// the handler's backlog on the events topic is above maxLag (read from the
// hub at most every lagInterval, so a burst of requests costs one read),
// and limits each API key to keyRate events per second with a token bucket
// that may go into debt: a request is taken while the bucket is not empty,
// whatever its size, and the next wait until the debt is paid off, so a
// batch of 1,000 is not refused forever by a rate of 10/s.
type admission struct {
	hub     hub.Hub
	maxLag  uint64
	keyRate float64
	log     *slog.Logger
	now     func() time.Time

	lagMu      sync.Mutex
	lagRead    time.Time // when the last read started
	lag        uint64
	lagReading bool

	keyMu   sync.Mutex
	buckets map[string]*bucket
}

// bucket is one key's tokens; it holds at most one second of its rate.
type bucket struct {
	tokens float64
	at     time.Time
}

func newAdmission(h hub.Hub, cfg Config, log *slog.Logger) *admission {
	return &admission{hub: h, maxLag: uint64(max(cfg.MaxLag, 0)), keyRate: max(cfg.KeyRate, 0), log: log, now: time.Now, buckets: map[string]*bucket{}}
}

// backlog returns a *BacklogError while the handler is too far behind. The
// hub is read by one caller at a time, at most every lagInterval; others
// use the last reading. A failed read lets events through: publishing will
// fail on its own if the hub is down.
func (ad *admission) backlog(ctx context.Context) error {
	if ad == nil || ad.maxLag == 0 {
		return nil
	}
	now := ad.now()
	ad.lagMu.Lock()
	lag, read := ad.lag, false
	if !ad.lagReading && now.Sub(ad.lagRead) >= lagInterval {
		ad.lagReading, ad.lagRead, read = true, now, true
	}
	ad.lagMu.Unlock()
	if read {
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Second)
		l, err := ad.hub.Lag(rctx, hub.TopicEvents, LagGroup)
		cancel()
		ad.lagMu.Lock()
		if err == nil {
			ad.lag = l.Pending
		} else {
			ad.log.Warn("reading the handler's backlog failed; taking events meanwhile", "err", err)
		}
		lag = ad.lag
		ad.lagReading = false
		ad.lagMu.Unlock()
	}
	if lag > ad.maxLag {
		return &BacklogError{Pending: lag, Max: ad.maxLag, RetryAfter: backlogRetry}
	}
	return nil
}

// take charges n events to key and reports how long to wait when the key
// is over its rate (nothing is charged then).
func (ad *admission) take(key string, n int) (time.Duration, bool) {
	if ad == nil || ad.keyRate == 0 || key == "" {
		return 0, true
	}
	now := ad.now()
	ad.keyMu.Lock()
	defer ad.keyMu.Unlock()
	b, ok := ad.buckets[key]
	if !ok {
		if len(ad.buckets) >= maxBuckets {
			clear(ad.buckets)
		}
		b = &bucket{tokens: ad.keyRate, at: now}
		ad.buckets[key] = b
	}
	b.tokens = min(ad.keyRate, b.tokens+now.Sub(b.at).Seconds()*ad.keyRate)
	b.at = now
	if b.tokens <= 0 {
		// Wait until the debt is paid and one event's worth is back.
		wait := time.Duration(math.Ceil((1 - b.tokens) / ad.keyRate * float64(time.Second)))
		return wait, false
	}
	b.tokens -= float64(n)
	return 0, true
}

type rateKeyCtx struct{}

// WithRateKey returns ctx naming the API key a request came with, so that
// ServeHTTP applies the key's rate limit (Config.KeyRate).
func WithRateKey(ctx context.Context, keyID string) context.Context {
	return context.WithValue(ctx, rateKeyCtx{}, keyID)
}

func rateKey(ctx context.Context) string {
	k, _ := ctx.Value(rateKeyCtx{}).(string)
	return k
}
