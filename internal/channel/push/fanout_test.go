package push_test

import (
	"context"
	"path/filepath"
	"sync"
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
