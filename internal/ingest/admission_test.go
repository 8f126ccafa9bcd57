package ingest

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/herald/herald/internal/hub"
)

// lagHub is a hub whose only working call is Lag, counting its calls.
type lagHub struct {
	hub.Hub
	mu    sync.Mutex
	lag   uint64
	err   error
	reads int
}

func (h *lagHub) Lag(_ context.Context, topic, group string) (hub.Lag, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.reads++
	if topic != hub.TopicEvents || group != LagGroup {
		return hub.Lag{}, errors.New("wrong topic or group")
	}
	return hub.Lag{Topic: topic, Group: group, Pending: h.lag}, h.err
}

func (h *lagHub) set(lag uint64, err error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.lag, h.err = lag, err
}

// clock is a settable time.
type clock struct{ t time.Time }

func (c *clock) now() time.Time          { return c.t }
func (c *clock) advance(d time.Duration) { c.t = c.t.Add(d) }
func newClock() *clock                   { return &clock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)} }
func testAdmission(h hub.Hub, cfg Config) *admission {
	return newAdmission(h, cfg, slog.New(slog.DiscardHandler))
}

func TestBacklogIsReadAtMostEvery250ms(t *testing.T) {
	t.Parallel()
	h := &lagHub{lag: 10}
	c := newClock()
	ad := testAdmission(h, Config{MaxLag: 10})
	ad.now = c.now
	ctx := context.Background()
	for range 100 {
		if err := ad.backlog(ctx); err != nil {
			t.Fatalf("lag 10 of 10 refused: %v", err)
		}
	}
	if h.reads != 1 {
		t.Fatalf("%d reads of the lag within 250ms, want 1", h.reads)
	}
	h.set(11, nil)
	c.advance(200 * time.Millisecond)
	if err := ad.backlog(ctx); err != nil {
		t.Fatalf("the cached reading should still be used: %v", err)
	}
	c.advance(50 * time.Millisecond)
	err := ad.backlog(ctx)
	var be *BacklogError
	if !errors.As(err, &be) || !errors.Is(err, ErrBacklog) || be.Pending != 11 || be.Max != 10 || be.RetryAfter != time.Second {
		t.Fatalf("lag 11 of 10: %v", err)
	}
	if h.reads != 2 {
		t.Fatalf("%d reads, want 2", h.reads)
	}
	// A failed read keeps the last reading.
	h.set(0, errors.New("hub down"))
	c.advance(time.Second)
	if err := ad.backlog(ctx); !errors.Is(err, ErrBacklog) {
		t.Fatalf("after a failed read: %v, want the last reading (11) to hold", err)
	}
	h.set(3, nil)
	c.advance(time.Second)
	if err := ad.backlog(ctx); err != nil {
		t.Fatalf("caught up: %v", err)
	}
	if err := testAdmission(h, Config{}).backlog(ctx); err != nil {
		t.Fatalf("MaxLag 0 bounds nothing: %v", err)
	}
}

func TestKeyRateTokenBucket(t *testing.T) {
	t.Parallel()
	c := newClock()
	ad := testAdmission(nil, Config{KeyRate: 10})
	ad.now = c.now
	// A burst of one second's worth, then a batch bigger than the rate is
	// taken while tokens remain, putting the bucket into debt.
	if _, ok := ad.take("k1", 5); !ok {
		t.Fatal("first 5 refused")
	}
	if _, ok := ad.take("k1", 25); !ok {
		t.Fatal("a batch larger than the rate refused while tokens remained")
	}
	wait, ok := ad.take("k1", 1)
	if ok || wait != 2100*time.Millisecond {
		t.Fatalf("in debt of 20: ok %v wait %s, want refused for 2.1s", ok, wait)
	}
	if _, ok := ad.take("k2", 1); !ok {
		t.Fatal("another key is limited by k1's debt")
	}
	c.advance(2 * time.Second)
	if _, ok := ad.take("k1", 1); ok {
		t.Fatal("taken before the debt was paid")
	}
	c.advance(200 * time.Millisecond)
	if _, ok := ad.take("k1", 1); !ok {
		t.Fatal("refused after the debt was paid")
	}
	// Tokens do not pile up beyond one second's worth.
	c.advance(time.Hour)
	if _, ok := ad.take("k1", 10); !ok {
		t.Fatal("a second's worth refused after an hour")
	}
	if _, ok := ad.take("k1", 1); ok {
		t.Fatal("more than a second's worth taken at once after an idle hour")
	}
	off := testAdmission(nil, Config{})
	for range 1000 {
		if _, ok := off.take("k", 1000); !ok {
			t.Fatal("KeyRate 0 limited")
		}
	}
}
