package app_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/herald/herald/internal/app"
	"github.com/herald/herald/internal/client"
	"github.com/herald/herald/internal/event"
	"github.com/herald/herald/internal/hub"
	"github.com/herald/herald/internal/ingest"
	"github.com/herald/herald/internal/loadgen"
	"github.com/herald/herald/internal/problem"
)

// refusal posts one event and returns the API error it got (nil on 202).
func refusal(t *testing.T, c *client.Client, id string) *client.APIError {
	t.Helper()
	_, err := c.PostEvents(context.Background(), event.MediaCloudEvent, cloudEvent(id, []string{"pat"}, "hello", nil))
	var ae *client.APIError
	if errors.As(err, &ae) {
		return ae
	}
	if err != nil {
		t.Fatal(err)
	}
	return nil
}

// TestBacklogRefusesEventsUntilTheHandlerCatchesUp: with the handler
// stalled, POST /v1/events answers 429 backlog with Retry-After once more
// than --max-lag events wait; a producer honouring Retry-After gets every
// event in once the handler catches up.
func TestBacklogRefusesEventsUntilTheHandlerCatchesUp(t *testing.T) {
	t.Parallel()
	const maxLag = 3
	// An api-only process: the test plays the handler, stalled until
	// released, then acking everything.
	b := setupWith(t, app.Options{Roles: []string{app.RoleAPI}, Ingest: ingest.Config{MaxLag: maxLag}})
	release := make(chan struct{})
	var handled sync.Map
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- b.app.Hub.Consume(ctx, hub.TopicEvents, ingest.LagGroup, hub.ConsumeOptions{AckWait: time.Minute}, func(ctx context.Context, batch []hub.Delivery) {
			select {
			case <-release:
			case <-ctx.Done():
				return
			}
			for _, d := range batch {
				handled.Store(string(d.Message().ID), true)
				_ = d.Ack()
			}
		})
	}()
	t.Cleanup(func() { stop(); <-done })

	accepted := 0
	var ae *client.APIError
	eventually(t, 20*time.Second, "a 429 once the backlog is over --max-lag", func() (bool, string) {
		ae = refusal(t, b.producer, fmt.Sprintf("bp-%d", accepted))
		if ae == nil {
			accepted++
			return false, fmt.Sprintf("%d accepted", accepted)
		}
		return true, ""
	})
	if accepted <= maxLag || ae.Status != http.StatusTooManyRequests || ae.Problem.Code != problem.Backlog || ae.RetryAfter != time.Second ||
		!strings.Contains(ae.Problem.Detail, "--max-lag") {
		t.Fatalf("after %d accepted: %d %+v (Retry-After %s), want 429 backlog with Retry-After 1s", accepted, ae.Status, ae.Problem, ae.RetryAfter)
	}

	// A producer keeps retrying after Retry-After while the handler is
	// stalled, and gets everything in once it catches up.
	stats := &loadgen.Stats{}
	produced := make(chan error, 1)
	go func() {
		produced <- loadgen.Run(context.Background(), b.producer, loadgen.Config{Count: 10, Batch: 2, Concurrency: 2, Users: 5, RunID: "bp"}, stats)
	}()
	eventually(t, 20*time.Second, "the producer told to retry", func() (bool, string) {
		return stats.Snapshot().Retries > 0, fmt.Sprintf("%+v", stats.Snapshot())
	})
	if s := stats.Snapshot(); s.Accepted != 0 {
		t.Fatalf("events accepted while the handler is stalled: %+v", s)
	}
	close(release)
	select {
	case err := <-produced:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("producer not done: %+v", stats.Snapshot())
	}
	if s := stats.Snapshot(); s.Accepted != 10 || s.Errors != 0 || s.Retries == 0 {
		t.Fatalf("producer: %+v, want 10 accepted after retries, no errors", s)
	}
	eventually(t, 20*time.Second, "every accepted event handled", func() (bool, string) {
		n := 0
		handled.Range(func(any, any) bool { n++; return true })
		return n == accepted+10, fmt.Sprintf("%d of %d handled", n, accepted+10)
	})
}

// TestKeyRateLimit: one API key over --key-rate gets 429 rate-limited with
// Retry-After while another key is unaffected; a producer honouring
// Retry-After gets every event in at about the allowed rate.
func TestKeyRateLimit(t *testing.T) {
	t.Parallel()
	const rate = 20
	b := setupWith(t, app.Options{Ingest: ingest.Config{KeyRate: rate}})
	ctx := context.Background()
	var batch []map[string]any
	for i := range 30 {
		batch = append(batch, map[string]any{"specversion": "1.0", "id": fmt.Sprintf("kr-%d", i), "source": "urn:test", "type": "t",
			"data": map[string]any{"audience": map[string]any{"users": []string{"ivy"}}, "notification": map[string]any{"message": "m"}}})
	}
	body, _ := json.Marshal(batch)
	if _, err := b.producer.PostEvents(ctx, event.MediaCloudEventBatch, body); err != nil {
		t.Fatalf("a batch of 30 with 20 tokens: %v", err)
	}
	ae := refusal(t, b.producer, "kr-over")
	if ae == nil || ae.Status != http.StatusTooManyRequests || ae.Problem.Code != problem.RateLimited || ae.RetryAfter < time.Second ||
		ae.Problem.Type != problem.DocsBase+string(problem.RateLimited) {
		t.Fatalf("over the key's rate: %+v, want 429 rate-limited with Retry-After", ae)
	}
	if ae := refusal(t, b.admin, "kr-other-key"); ae != nil {
		t.Fatalf("another key refused: %+v", ae)
	}

	stats := &loadgen.Stats{}
	start := time.Now()
	if err := loadgen.Run(ctx, b.producer, loadgen.Config{Count: 60, Batch: 5, Concurrency: 2, Users: 5, RunID: "kr"}, stats); err != nil {
		t.Fatal(err)
	}
	el := time.Since(start)
	s := stats.Snapshot()
	if s.Accepted != 60 || s.Errors != 0 || s.Retries == 0 {
		t.Fatalf("producer: %+v, want 60 accepted after retries", s)
	}
	// 60 events at 20/s with a debt of 10 to pay first: at least 2.5s.
	if el < 2500*time.Millisecond {
		t.Errorf("60 events took %s at %d/s per key", el, rate)
	}
	t.Logf("60 events in %s with %d retries", el, s.Retries)
}
