package vabot_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/herald/herald/internal/activity"
	"github.com/herald/herald/internal/channel"
	"github.com/herald/herald/internal/channel/vabot"
	"github.com/herald/herald/internal/connector"
	"github.com/herald/herald/internal/directline"
	"github.com/herald/herald/internal/event"
	"github.com/herald/herald/internal/store/sqlitestore"
)

// TestDirectLineTransport hands BroadcastEvents to a bot behind a Direct
// Line service (herald's own, which behaves as the Bot Framework's) with
// the bot's secret, as the original design's handler did.
func TestDirectLineTransport(t *testing.T) {
	st, err := sqlitestore.Open(context.Background(), filepath.Join(t.TempDir(), "h.db"), sqlitestore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	var mu sync.Mutex
	var got []vabot.Value
	dl, err := directline.New(directline.Config{Secret: "va-secret-0123456789abcdef", Transcripts: st,
		Bot: directline.BotFunc(func(_ context.Context, a activity.Activity) error {
			if a.Type == activity.TypeEvent && a.Name == activity.BroadcastEventName {
				var v vabot.Value
				if err := json.Unmarshal(a.Value, &v); err != nil {
					return err
				}
				mu.Lock()
				got = append(got, v)
				mu.Unlock()
			}
			return nil
		})})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(dl)
	t.Cleanup(srv.Close)

	ch, err := vabot.New(vabot.Config{Transport: &vabot.DirectLine{BaseURL: srv.URL + "/v3/directline", Secret: "va-secret-0123456789abcdef"}})
	if err != nil {
		t.Fatal(err)
	}
	ev := event.Event{ID: "ev-1", Notification: event.Notification{Title: "Open enrolment", Message: "Choose a plan"}}
	res := ch.Deliver(t.Context(), []channel.Job{{Event: ev, UserID: "ada", Attempt: 1}, {Event: ev, UserID: "grace", Attempt: 1}})
	for i, r := range res {
		if r.Err != nil {
			t.Fatalf("job %d: %v", i, r.Err)
		}
	}
	if len(got) != 2 || got[0].Event.ID != "ev-1" || got[0].Message != "Choose a plan" {
		t.Fatalf("the bot received %+v", got)
	}

	bad, _ := vabot.New(vabot.Config{Transport: &vabot.DirectLine{BaseURL: srv.URL + "/v3/directline", Secret: "wrong"}})
	if res := bad.Deliver(t.Context(), []channel.Job{{Event: ev, UserID: "ada", Attempt: 1}}); res[0].Err == nil {
		t.Fatal("a wrong secret delivered")
	}
}

func TestEndpointErrorsAreClassified(t *testing.T) {
	for _, tc := range []struct {
		status    int
		permanent bool
	}{{http.StatusBadRequest, true}, {http.StatusServiceUnavailable, false}, {http.StatusTooManyRequests, false}} {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Retry-After", "2")
			w.WriteHeader(tc.status)
		}))
		ch, _ := vabot.New(vabot.Config{Transport: vabot.Endpoint{URL: srv.URL, Client: connector.New(nil, nil, "")}})
		res := ch.Deliver(t.Context(), []channel.Job{{Event: event.Event{ID: "e"}, UserID: "u", Attempt: 1}})
		srv.Close()
		var ce *connector.Error
		if !errors.As(res[0].Err, &ce) || ce.Status != tc.status || channel.IsPermanent(res[0].Err) != tc.permanent {
			t.Errorf("status %d: %v, want permanent=%v", tc.status, res[0].Err, tc.permanent)
		}
	}
}

// transportFunc posts with a function.
type transportFunc func(ctx context.Context, a activity.Activity) error

func (f transportFunc) Post(ctx context.Context, a activity.Activity) error { return f(ctx, a) }

// A panic in one post fails that job, retryably and logged with the event
// and the person, not the content; the other jobs are delivered.
func TestAPanickingPostFailsThatJobNotTheProcess(t *testing.T) {
	var logs bytes.Buffer
	var mu sync.Mutex
	ch, err := vabot.New(vabot.Config{
		Transport: transportFunc(func(_ context.Context, a activity.Activity) error {
			if a.From.ID == "ada" {
				panic("transport bug")
			}
			return nil
		}),
		Log: slog.New(slog.NewJSONHandler(writerFunc(func(p []byte) (int, error) {
			mu.Lock()
			defer mu.Unlock()
			return logs.Write(p)
		}), nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	ev := event.Event{ID: "ev-va-panic", Notification: event.Notification{Message: "the secret payload"}}
	res := ch.Deliver(t.Context(), []channel.Job{{Event: ev, UserID: "ada", Attempt: 1}, {Event: ev, UserID: "bob", Attempt: 1}})
	if err := res[0].Err; err == nil || !strings.Contains(err.Error(), "panic: transport bug") || channel.IsPermanent(err) {
		t.Fatalf("ada = %v, want a retryable error naming the panic", err)
	}
	if res[1].Err != nil {
		t.Fatalf("bob = %v, want delivered", res[1].Err)
	}
	mu.Lock()
	defer mu.Unlock()
	if l := logs.String(); !strings.Contains(l, `"event":"ev-va-panic"`) || !strings.Contains(l, `"address":"ada"`) || strings.Contains(l, "secret payload") {
		t.Errorf("the panic's log line must name the event and the person, never the content:\n%s", l)
	}
}

type writerFunc func(p []byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }
