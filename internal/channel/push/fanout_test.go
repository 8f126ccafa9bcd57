package push_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"maps"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/herald/herald/internal/channel"
	"github.com/herald/herald/internal/channel/push"
	"github.com/herald/herald/internal/event"
	"github.com/herald/herald/internal/store"
	"github.com/herald/herald/internal/store/sqlitestore"
)

// countingSender accepts every message and counts them by id.
type countingSender struct {
	mu   sync.Mutex
	sent map[string]int
}

func (c *countingSender) Send(_ context.Context, m push.Message) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.sent[m.ID]++
	return nil
}

func TestOldDeviceDeliveryRecordsArePruned(t *testing.T) {
	st, err := sqlitestore.Open(context.Background(), filepath.Join(t.TempDir(), "h.db"), sqlitestore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	d, err := st.RegisterDevice(t.Context(), store.Device{UserID: "ada", Platform: store.PlatformFCM, Token: "tok"})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2025, 3, 14, 9, 0, 0, 0, time.UTC)
	sender := &countingSender{sent: map[string]int{}}
	f, err := push.New(push.Config{Name: "mobile", Store: st, Retention: time.Hour,
		Senders: map[store.Platform]push.Sender{store.PlatformFCM: sender}, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	deliver := func(ev string) {
		t.Helper()
		res := f.Deliver(t.Context(), []channel.Job{{Event: event.Event{ID: ev}, UserID: "ada", Attempt: 1}})
		if res[0].Err != nil {
			t.Fatal(res[0].Err)
		}
	}
	delivered := func(ev string) bool {
		t.Helper()
		k := store.DeviceDeliveryKey{EventID: ev, DeviceID: d.ID}
		got, err := st.DeviceDelivered(t.Context(), []store.DeviceDeliveryKey{k})
		if err != nil {
			t.Fatal(err)
		}
		return got[k]
	}
	deliver("ev1")
	if !delivered("ev1") {
		t.Fatal("ev1 was not recorded")
	}
	now = now.Add(2 * time.Hour)
	deliver("ev2")
	if delivered("ev1") || !delivered("ev2") {
		t.Errorf("after the retention: ev1 recorded %v (want pruned), ev2 recorded %v (want kept)", delivered("ev1"), delivered("ev2"))
	}
}

// fanoutSetup opens a store with one FCM device per token, owned by the
// user before the colon ("ada:phone").
func fanoutSetup(t *testing.T, s push.Sender, devices ...string) (*push.Fanout, store.Store, map[string]store.Device, *bytes.Buffer) {
	t.Helper()
	st, err := sqlitestore.Open(context.Background(), filepath.Join(t.TempDir(), "h.db"), sqlitestore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	byToken := map[string]store.Device{}
	for _, d := range devices {
		user, _, _ := strings.Cut(d, ":")
		dev, err := st.RegisterDevice(t.Context(), store.Device{UserID: user, Platform: store.PlatformFCM, Token: d})
		if err != nil {
			t.Fatal(err)
		}
		byToken[d] = dev
	}
	var logs bytes.Buffer
	f, err := push.New(push.Config{Name: "mobile", Store: st, Senders: map[store.Platform]push.Sender{store.PlatformFCM: s},
		Log: slog.New(slog.NewJSONHandler(&syncWriter{w: &logs}, nil))})
	if err != nil {
		t.Fatal(err)
	}
	return f, st, byToken, &logs
}

type syncWriter struct {
	mu sync.Mutex
	w  *bytes.Buffer
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}

// funcSender sends with a function.
type funcSender func(ctx context.Context, m push.Message) error

func (f funcSender) Send(ctx context.Context, m push.Message) error { return f(ctx, m) }

func recorded(t *testing.T, st store.Store, ev string, d store.Device) bool {
	t.Helper()
	k := store.DeviceDeliveryKey{EventID: ev, DeviceID: d.ID}
	got, err := st.DeviceDelivered(t.Context(), []store.DeviceDeliveryKey{k})
	if err != nil {
		t.Fatal(err)
	}
	return got[k]
}

func TestAPanickingSendFailsThatDeviceNotTheProcess(t *testing.T) {
	var mu sync.Mutex
	sent := map[string]int{}
	buggy := true
	s := funcSender(func(_ context.Context, m push.Message) error {
		mu.Lock()
		defer mu.Unlock()
		if m.Device.Token == "ada:tablet" && buggy {
			panic("client bug")
		}
		sent[m.Device.Token]++
		return nil
	})
	f, st, dev, logs := fanoutSetup(t, s, "ada:phone", "ada:tablet", "bob:phone")
	ev := event.Event{ID: "ev-panic", Notification: event.Notification{Message: "the secret payload"}}

	res := f.Deliver(t.Context(), []channel.Job{{Event: ev, UserID: "ada", Attempt: 1}, {Event: ev, UserID: "bob", Attempt: 1}})
	if err := res[0].Err; err == nil || !strings.Contains(err.Error(), "panic: client bug") || channel.IsPermanent(err) {
		t.Fatalf("ada (one device panicked) = %v, want a retryable error naming the panic", err)
	}
	if res[1].Err != nil {
		t.Fatalf("bob (no panic) = %v, want delivered", res[1].Err)
	}
	if !recorded(t, st, ev.ID, dev["ada:phone"]) || recorded(t, st, ev.ID, dev["ada:tablet"]) {
		t.Fatal("want ada's phone recorded and the tablet whose send panicked not")
	}
	if l := logs.String(); !strings.Contains(l, `"event":"ev-panic"`) || !strings.Contains(l, dev["ada:tablet"].ID) || strings.Contains(l, "secret payload") {
		t.Errorf("the panic's log line must name the event and the device, never the content:\n%s", l)
	}

	// The retry sends to the tablet only.
	mu.Lock()
	buggy = false
	mu.Unlock()
	res = f.Deliver(t.Context(), []channel.Job{{Event: ev, UserID: "ada", Attempt: 2}})
	if res[0].Err != nil {
		t.Fatalf("retry: %v", res[0].Err)
	}
	mu.Lock()
	defer mu.Unlock()
	if want := map[string]int{"ada:phone": 1, "ada:tablet": 1, "bob:phone": 1}; !maps.Equal(sent, want) {
		t.Errorf("sends = %v, want %v (each device once)", sent, want)
	}
}

// A device is recorded as soon as its provider accepted the message, while
// the other sends of the same call are still running: a crash then repeats
// only sends answered during one commit, not the whole call or stage.
func TestEachSendIsRecordedAsItSucceeds(t *testing.T) {
	var st store.Store
	var dev map[string]store.Device
	s := funcSender(func(ctx context.Context, m push.Message) error {
		if m.Device.Token != "bob:phone" {
			return nil
		}
		// Bob's send waits until Ada's is recorded.
		deadline := time.Now().Add(10 * time.Second)
		for !recorded(t, st, m.Event.ID, dev["ada:phone"]) {
			if time.Now().After(deadline) {
				return errors.New("ada's device was not recorded while this call was still sending")
			}
			time.Sleep(5 * time.Millisecond)
		}
		return nil
	})
	var f *push.Fanout
	f, st, dev, _ = fanoutSetup(t, s, "ada:phone", "bob:phone")
	ev := event.Event{ID: "ev-now"}
	res := f.Deliver(t.Context(), []channel.Job{{Event: ev, UserID: "ada", Attempt: 1}, {Event: ev, UserID: "bob", Attempt: 1}})
	for i, r := range res {
		if r.Err != nil {
			t.Fatalf("job %d: %v", i, r.Err)
		}
	}
	if !recorded(t, st, ev.ID, dev["bob:phone"]) {
		t.Fatal("bob's device is not recorded when Deliver returns")
	}
}

// panickyStore panics in its device lookup while armed.
type panickyStore struct {
	store.Store
	armed atomic.Bool
}

func (p *panickyStore) DevicesFor(ctx context.Context, users []string, platforms ...store.Platform) ([]store.Device, error) {
	if p.armed.Load() {
		panic("lookup bug")
	}
	return p.Store.DevicesFor(ctx, users, platforms...)
}

// A panic in the goroutine that looks up a stage's devices fails that
// stage's jobs, retryably, instead of stopping the process; the retry sends.
func TestAPanickingDeviceLookupFailsTheStageNotTheProcess(t *testing.T) {
	var sends atomic.Int32
	s := funcSender(func(context.Context, push.Message) error { sends.Add(1); return nil })
	_, st, _, _ := fanoutSetup(t, s, "ada:phone")
	ps := &panickyStore{Store: st}
	ps.armed.Store(true)
	var logs bytes.Buffer
	f, err := push.New(push.Config{Name: "mobile", Store: ps, Senders: map[store.Platform]push.Sender{store.PlatformFCM: s},
		Log: slog.New(slog.NewJSONHandler(&syncWriter{w: &logs}, nil))})
	if err != nil {
		t.Fatal(err)
	}
	ev := event.Event{ID: "ev-lookup", Notification: event.Notification{Message: "the secret payload"}}

	res := f.Deliver(t.Context(), []channel.Job{{Event: ev, UserID: "ada", Attempt: 1}})
	if err := res[0].Err; err == nil || !strings.Contains(err.Error(), "panic: lookup bug") || channel.IsPermanent(err) {
		t.Fatalf("result = %v, want a retryable error naming the panic", err)
	}
	if n := sends.Load(); n != 0 {
		t.Fatalf("%d sends before the lookup worked, want 0", n)
	}
	if l := logs.String(); !strings.Contains(l, `"event":"ev-lookup"`) || strings.Contains(l, "secret payload") {
		t.Errorf("the panic's log line must name the event, never the content:\n%s", l)
	}

	ps.armed.Store(false)
	res = f.Deliver(t.Context(), []channel.Job{{Event: ev, UserID: "ada", Attempt: 2}})
	if res[0].Err != nil || sends.Load() != 1 {
		t.Fatalf("retry: %v with %d sends, want delivered once", res[0].Err, sends.Load())
	}
}
