package natshub_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/herald/herald/internal/hub"
	"github.com/herald/herald/internal/hub/hubtest"
	"github.com/herald/herald/internal/hub/natshub"
	"github.com/herald/herald/internal/testenv"
)

// externalURL is the server the external-NATS tests use. CI must provide it.
const externalURL = "nats://127.0.0.1:4222"

// testCtx is a context for setting a test up.
func testCtx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// openEmbedded starts an embedded hub in dir and closes it at cleanup.
func openEmbedded(t testing.TB, dir string, opts natshub.Options) *natshub.Hub {
	t.Helper()
	h, err := natshub.Embedded(testCtx(t), dir, opts)
	if err != nil {
		t.Fatalf("Embedded: %v", err)
	}
	t.Cleanup(func() {
		if err := h.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return h
}

func TestEmbeddedConformance(t *testing.T) {
	t.Parallel()
	hubtest.Run(t, func(t *testing.T) hub.Hub {
		return openEmbedded(t, t.TempDir(), natshub.Options{})
	}, hubtest.Features{Dedup: true})
}

func TestEmbeddedLimitsRetentionConformance(t *testing.T) {
	t.Parallel()
	hubtest.Run(t, func(t *testing.T) hub.Hub {
		return openEmbedded(t, t.TempDir(), natshub.Options{Retention: natshub.RetentionLimits, MaxAge: time.Hour})
	}, hubtest.Features{Dedup: true, FanOut: true})
}

// externalConn connects to the external server: unreachable is a skip on a
// developer machine and a failure in CI.
func externalConn(t *testing.T) *nats.Conn {
	t.Helper()
	return testenv.NATS(t, nats.Name("herald-natshub-test"))
}

// connectExternal returns a hub on the external server under a prefix of its
// own and deletes the prefix's streams at cleanup.
func connectExternal(t *testing.T, nc *nats.Conn, opts natshub.Options) *natshub.Hub {
	t.Helper()
	opts.Prefix = fmt.Sprintf("HT%d%08X", time.Now().UnixNano()%1e6, rand.Uint32())
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		for _, topic := range []string{"EVENTS", "DELIVERIES", "DLQ"} {
			if err := js.DeleteStream(ctx, opts.Prefix+"_"+topic); err != nil && !errors.Is(err, jetstream.ErrStreamNotFound) {
				t.Errorf("delete stream %s_%s: %v", opts.Prefix, topic, err)
			}
		}
	})
	h, err := natshub.Connect(testCtx(t), nc, opts)
	if err != nil {
		t.Fatalf("Connect to %s (nats-server %s): %v", externalURL, nc.ConnectedServerVersion(), err)
	}
	t.Cleanup(func() { _ = h.Close() })
	return h
}

func TestExternalConformance(t *testing.T) {
	t.Parallel()
	nc := externalConn(t)
	t.Logf("external nats-server %s at %s", nc.ConnectedServerVersion(), externalURL)
	hubtest.Run(t, func(t *testing.T) hub.Hub {
		return connectExternal(t, nc, natshub.Options{})
	}, hubtest.Features{Dedup: true})
}

func TestExternalLimitsRetentionConformance(t *testing.T) {
	t.Parallel()
	nc := externalConn(t)
	hubtest.Run(t, func(t *testing.T) hub.Hub {
		return connectExternal(t, nc, natshub.Options{Retention: natshub.RetentionLimits})
	}, hubtest.Features{Dedup: true, FanOut: true})
}

func TestEmbeddedKeepsMessagesAcrossRestart(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	ctx := testCtx(t)
	want := []hub.Message{
		{Key: "user-1", ID: "e1", Data: []byte("first")},
		{Key: "user-2", ID: "e2", Data: []byte("second")},
		{Key: "user-1", ID: "e3", Data: []byte("third")},
	}
	h, err := natshub.Embedded(ctx, dir, natshub.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := h.Publish(ctx, hub.TopicDeliveries, want...); err != nil {
		t.Fatal(err)
	}
	if err := h.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}

	h = openEmbedded(t, dir, natshub.Options{})
	got := make(chan hub.Message, len(want))
	cctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		done <- h.Consume(cctx, hub.TopicDeliveries, "workers", hub.ConsumeOptions{}, func(_ context.Context, batch []hub.Delivery) {
			for _, d := range batch {
				got <- d.Message()
				if err := d.Ack(); err != nil {
					t.Errorf("Ack: %v", err)
				}
			}
		})
	}()
	seen := map[string]string{}
	for range want {
		select {
		case m := <-got:
			seen[m.ID] = string(m.Data)
		case <-ctx.Done():
			t.Fatalf("after restart got %v, want all of %v", seen, want)
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Consume: %v", err)
	}
	for _, m := range want {
		if seen[m.ID] != string(m.Data) {
			t.Errorf("after restart %s = %q, want %q", m.ID, seen[m.ID], m.Data)
		}
	}
}

func TestWorkQueueRefusesSecondGroup(t *testing.T) {
	t.Parallel()
	h := openEmbedded(t, t.TempDir(), natshub.Options{})
	ctx, cancel := context.WithCancel(testCtx(t))
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	started := make(chan struct{})
	var once sync.Once
	wg.Go(func() {
		err := h.Consume(ctx, hub.TopicEvents, "handler", hub.ConsumeOptions{}, func(_ context.Context, batch []hub.Delivery) {
			for _, d := range batch {
				_ = d.Ack()
			}
			once.Do(func() { close(started) })
		})
		if err != nil {
			t.Errorf("first group: %v", err)
		}
	})
	// A message through the first group proves its consumers exist.
	if err := h.Publish(ctx, hub.TopicEvents, hub.Message{Key: "k", Data: []byte("x")}); err != nil {
		t.Fatal(err)
	}
	select {
	case <-started:
	case <-ctx.Done():
		t.Fatal("the first group never got its message")
	}
	err := h.Consume(ctx, hub.TopicEvents, "auditor", hub.ConsumeOptions{}, func(context.Context, []hub.Delivery) {})
	if !errors.Is(err, natshub.ErrGroupConflict) || !strings.Contains(err.Error(), "handler") {
		t.Errorf("second group: %v, want ErrGroupConflict naming group handler", err)
	}
}

func TestConnectRefusesShrinkingPartitionsWithBacklog(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	ctx := testCtx(t)
	h, err := natshub.Embedded(ctx, dir, natshub.Options{Partitions: 8})
	if err != nil {
		t.Fatal(err)
	}
	var msgs []hub.Message
	for i := range 64 {
		msgs = append(msgs, hub.Message{Key: fmt.Sprint("user-", i), Data: []byte("x")})
	}
	if err := h.Publish(ctx, hub.TopicEvents, msgs...); err != nil {
		t.Fatal(err)
	}
	if err := h.Close(); err != nil {
		t.Fatal(err)
	}
	_, err = natshub.Embedded(ctx, dir, natshub.Options{Partitions: 4})
	if err == nil || !strings.Contains(err.Error(), "partitions") {
		t.Errorf("reopening with fewer partitions: %v, want an error about partitions", err)
	}
}

func TestOptionsValidation(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		opts natshub.Options
		want string
	}{
		{"partitions", natshub.Options{Partitions: -1}, "partitions"},
		{"prefix", natshub.Options{Prefix: "her.ald"}, "prefix"},
		{"retention", natshub.Options{Retention: 7}, "retention"},
		{"max ack pending", natshub.Options{MaxAckPending: -5}, "max ack pending"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := natshub.Embedded(context.Background(), t.TempDir(), tt.opts)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Embedded(%+v) = %v, want an error about %s", tt.opts, err, tt.want)
			}
		})
	}
}

func TestInvalidTopicAndGroup(t *testing.T) {
	t.Parallel()
	h := openEmbedded(t, t.TempDir(), natshub.Options{})
	ctx := testCtx(t)
	for _, topic := range []string{"dlq", "Events", "a.b", ""} {
		if err := h.Publish(ctx, topic, hub.Message{Data: []byte("x")}); err == nil {
			t.Errorf("Publish to topic %q succeeded, want an error", topic)
		}
	}
	if err := h.Consume(ctx, hub.TopicEvents, "a.b", hub.ConsumeOptions{}, nil); err == nil {
		t.Errorf("Consume as group %q succeeded, want an error", "a.b")
	}
}
