package handler

import (
	"context"
	"encoding/json"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/herald/herald/internal/event"
	"github.com/herald/herald/internal/hub"
	"github.com/herald/herald/internal/hub/natshub"
	"github.com/herald/herald/internal/prefs"
	"github.com/herald/herald/internal/store"
	"github.com/herald/herald/internal/store/sqlitestore"
)

// panickyStore stands in for a bug: loading the preferences of anyone
// whose id starts with "boom" panics.
type panickyStore struct{ store.Store }

func (p panickyStore) LoadPreferences(ctx context.Context, ids []string) (map[string]prefs.Preferences, error) {
	for _, id := range ids {
		if strings.HasPrefix(id, "boom") {
			panic("preferences bug for " + id)
		}
	}
	return p.Store.LoadPreferences(ctx, ids)
}

// TestAnEventThatMakesPlanningPanicIsDeadLetteredAndThePartitionMovesOn:
// one poison event among good ones on the same partition. The process
// survives, the good events are planned, the poison one is retried alone
// and then dead-lettered with the panic as its reason.
func TestAnEventThatMakesPlanningPanicIsDeadLetteredAndThePartitionMovesOn(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	h, err := natshub.Embedded(ctx, filepath.Join(dir, "hub"), natshub.Options{Partitions: 1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	st, err := sqlitestore.Open(ctx, filepath.Join(dir, "h.db"), sqlitestore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	hd := New(h, panickyStore{st}, nil, Config{MaxAttempts: 2}, slog.New(slog.DiscardHandler), nil)
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		done <- hd.Run(runCtx, hub.ConsumeOptions{BatchSize: 10, MaxAttempts: 6, AckWait: 5 * time.Second})
	}()
	t.Cleanup(func() { cancel(); <-done })

	var msgs []hub.Message
	for _, u := range []string{"ada", "boom-1", "grace", "linus"} {
		ev := event.Event{ID: "ev-" + u, Source: "urn:t", SourceID: u, Type: "t", ReceivedAt: time.Now(),
			Audience: event.Audience{Users: []string{u}}, Notification: event.Notification{Message: "hello " + u}}
		data, _ := json.Marshal(ev)
		msgs = append(msgs, hub.Message{Key: "same-partition", Data: data})
	}
	if err := h.Publish(ctx, hub.TopicEvents, msgs...); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		planned := 0
		for _, u := range []string{"ada", "grace", "linus"} {
			if items, _ := st.ListInbox(ctx, store.InboxQuery{UserID: u, Limit: 10}); len(items) == 1 {
				planned++
			}
		}
		dls, err := h.DeadLetters(ctx, 0, 10)
		if err != nil {
			t.Fatal(err)
		}
		if planned == 3 && len(dls) == 1 {
			if !strings.Contains(dls[0].Reason, "panic: preferences bug for boom-1") {
				t.Fatalf("dead letter reason %q, want the panic", dls[0].Reason)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of 3 good events planned, %d dead letters; want 3 and 1", planned, len(dls))
		}
		time.Sleep(50 * time.Millisecond)
	}
}
