// Package loadgen produces events against a herald server: synthetic ones at
// a target rate, or lines of a JSONL file, with batching, concurrency,
// Retry-After honoured on 429 and 503, and live counters for progress lines.
// `herald produce` and `herald bench` drive it.
package loadgen

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"

	"github.com/herald/herald/internal/client"
	"github.com/herald/herald/internal/event"
	"github.com/herald/herald/internal/ingest"
)

// Config says what to produce.
type Config struct {
	// Rate is events per second; 0 sends as fast as the server accepts.
	Rate float64
	// Count stops after this many events (0: no limit).
	Count int
	// Duration stops after this long (0: no limit).
	Duration time.Duration
	// Batch is events per request: 1 sends structured events, more sends
	// CloudEvents batches.
	Batch int
	// Concurrency is the number of requests in flight.
	Concurrency int
	// Users is the number of synthetic recipients (u0 .. u<Users-1>).
	Users int
	// Source is the CloudEvent source of synthetic events.
	Source string
	// RunID makes synthetic event ids unique to this run.
	RunID string
	// Input, when set, is read as JSONL instead of generating events.
	Input io.Reader
	// OnSent, when set, is called with herald's ids of the events of each
	// request just before it is sent.
	OnSent func(ids []string, at time.Time)
	// Upstream, when set, plays an upstream system instead: each request
	// is one of its payloads, posted to its source adapter and signed.
	Upstream Upstream
}

// Upstream is an upstream system posting to a source adapter (see
// source.Upstream).
type Upstream interface {
	// Name is the source's name, as in POST /v1/sources/{name}.
	Name() string
	// Payload is the body of request seq.
	Payload(seq int) ([]byte, error)
	// Sign sets the request's credentials for body at now.
	Sign(h http.Header, body []byte, now time.Time) error
}

// Stats are live counters; read them with Snapshot.
type Stats struct {
	Sent     atomic.Int64
	Accepted atomic.Int64
	Errors   atomic.Int64
	Retries  atomic.Int64
	// Filtered counts upstream payloads the source's filter left out.
	Filtered atomic.Int64
	mu       sync.Mutex
	lastErr  string
}

// Snapshot is a copy of the counters.
type Snapshot struct {
	Sent, Accepted, Errors, Retries, Filtered int64
	LastError                                 string
}

// Snapshot copies the counters.
func (s *Stats) Snapshot() Snapshot {
	s.mu.Lock()
	defer s.mu.Unlock()
	return Snapshot{Sent: s.Sent.Load(), Accepted: s.Accepted.Load(), Errors: s.Errors.Load(), Retries: s.Retries.Load(), Filtered: s.Filtered.Load(), LastError: s.lastErr}
}

func (s *Stats) fail(err error) {
	s.Errors.Add(1)
	s.mu.Lock()
	s.lastErr = err.Error()
	s.mu.Unlock()
}

// request is one HTTP request's worth of events.
type request struct {
	contentType string
	body        []byte
	ids         []string
	n           int
	// upstream marks a payload for the source adapter of cfg.Upstream.
	upstream bool
}

// Run produces until the count, the duration or ctx ends, and returns when
// every request in flight has been answered.
func Run(ctx context.Context, c *client.Client, cfg Config, stats *Stats) error {
	if cfg.Batch < 1 {
		cfg.Batch = 1
	}
	if cfg.Concurrency < 1 {
		cfg.Concurrency = 1
	}
	if cfg.Users < 1 {
		cfg.Users = 1
	}
	if cfg.Source == "" {
		cfg.Source = "urn:herald:produce"
	}
	if cfg.RunID == "" {
		cfg.RunID = strconv.FormatInt(time.Now().UnixNano(), 36)
	}
	if cfg.Duration > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, cfg.Duration)
		defer cancel()
	}
	var limiter *rate.Limiter
	if cfg.Rate > 0 {
		limiter = rate.NewLimiter(rate.Limit(cfg.Rate), max(cfg.Batch, int(cfg.Rate/20)+1))
	}
	reqs := make(chan request, cfg.Concurrency*2)
	genErr := make(chan error, 1)
	go func() {
		defer close(reqs)
		genErr <- generate(ctx, cfg, limiter, reqs)
	}()
	var wg sync.WaitGroup
	for range cfg.Concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for r := range reqs {
				send(ctx, c, cfg, r, stats)
			}
		}()
	}
	wg.Wait()
	if err := <-genErr; err != nil && !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	return nil
}

// generate builds requests, pacing them with limiter.
func generate(ctx context.Context, cfg Config, limiter *rate.Limiter, out chan<- request) error {
	var scanner *bufio.Scanner
	if cfg.Input != nil {
		scanner = bufio.NewScanner(cfg.Input)
		scanner.Buffer(make([]byte, 0, 64<<10), 4<<20)
	}
	produced, line := 0, 0
	for cfg.Count == 0 || produced < cfg.Count {
		n := cfg.Batch
		if cfg.Count > 0 {
			n = min(n, cfg.Count-produced)
		}
		var r request
		var err error
		switch {
		case cfg.Upstream != nil:
			body, perr := cfg.Upstream.Payload(produced)
			if perr != nil {
				return fmt.Errorf("payload %d: %w", produced, perr)
			}
			r = request{contentType: event.MediaJSON, body: body, n: 1, upstream: true}
		case scanner != nil:
			r, line, err = fromFile(scanner, n, line)
			if err != nil {
				return err
			}
			if r.n == 0 {
				return nil
			}
		default:
			r = synthetic(cfg, produced, n)
		}
		if limiter != nil {
			if err := limiter.WaitN(ctx, r.n); err != nil {
				return err
			}
		}
		select {
		case out <- r:
		case <-ctx.Done():
			return ctx.Err()
		}
		produced += r.n
	}
	return nil
}

// synthetic builds n events starting at sequence number seq.
func synthetic(cfg Config, seq, n int) request {
	events := make([]json.RawMessage, n)
	ids := make([]string, n)
	for i := range n {
		s := seq + i
		id := cfg.RunID + "-" + strconv.Itoa(s)
		user := "u" + strconv.Itoa(s%cfg.Users)
		ids[i] = event.IDFor(cfg.Source, id)
		events[i] = json.RawMessage(`{"specversion":"1.0","id":"` + id + `","source":"` + cfg.Source +
			`","type":"herald.loadtest","data":{"audience":{"users":["` + user +
			`"]},"notification":{"title":"Load test","message":"Synthetic notification ` + strconv.Itoa(s) + `","category":"loadtest"}}}`)
	}
	if n == 1 {
		return request{contentType: event.MediaCloudEvent, body: events[0], ids: ids, n: 1}
	}
	body, _ := json.Marshal(events)
	return request{contentType: event.MediaCloudEventBatch, body: body, ids: ids, n: n}
}

// fromFile reads up to n non-empty lines.
func fromFile(sc *bufio.Scanner, n, line int) (request, int, error) {
	var lines []json.RawMessage
	for len(lines) < n && sc.Scan() {
		line++
		b := sc.Bytes()
		if len(b) == 0 {
			continue
		}
		if !json.Valid(b) {
			return request{}, line, fmt.Errorf("input line %d is not valid JSON", line)
		}
		lines = append(lines, append(json.RawMessage(nil), b...))
	}
	if err := sc.Err(); err != nil {
		return request{}, line, fmt.Errorf("read input after line %d: %w", line, err)
	}
	switch len(lines) {
	case 0:
		return request{}, line, nil
	case 1:
		return request{contentType: event.MediaJSON, body: lines[0], n: 1}, line, nil
	}
	body, _ := json.Marshal(lines)
	return request{contentType: event.MediaCloudEventBatch, body: body, n: len(lines)}, line, nil
}

// send posts one request, retrying while the server asks to.
func send(ctx context.Context, c *client.Client, cfg Config, r request, stats *Stats) {
	for {
		if cfg.OnSent != nil && r.ids != nil {
			cfg.OnSent(r.ids, time.Now())
		}
		var resp ingest.Response
		var err error
		if r.upstream {
			var sr client.SourceResponse
			sr, err = c.PostSource(context.WithoutCancel(ctx), cfg.Upstream.Name(), r.body, func(h http.Header) error {
				return cfg.Upstream.Sign(h, r.body, time.Now())
			})
			resp = sr.Response
			if err == nil && sr.Filtered {
				stats.Filtered.Add(1)
			}
		} else {
			resp, err = c.PostEvents(context.WithoutCancel(ctx), r.contentType, r.body)
		}
		var ae *client.APIError
		if errors.As(err, &ae) && ae.Retryable() && ctx.Err() == nil {
			stats.Retries.Add(1)
			wait := ae.RetryAfter
			if wait <= 0 {
				wait = time.Second
			}
			select {
			case <-time.After(wait):
				continue
			case <-ctx.Done():
			}
		}
		stats.Sent.Add(int64(r.n))
		if err != nil {
			stats.fail(err)
			return
		}
		stats.Accepted.Add(int64(len(resp.Accepted)))
		return
	}
}
