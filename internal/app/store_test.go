package app_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/herald/herald/internal/app"
	"github.com/herald/herald/internal/event"
	"github.com/herald/herald/internal/store/pgstore/pgtest"
)

// TestPostgresStore runs the spine (an event over HTTP to an inbox, with its
// status) and a topic broadcast on a herald whose store is PostgreSQL
// (--store postgres://...), in a schema of its own on the test server.
func TestPostgresStore(t *testing.T) {
	t.Parallel()
	b := setupWith(t, app.Options{Store: pgtest.SchemaURL(t)})
	if got := fmt.Sprintf("%T", b.app.Store); got != "*pgstore.Store" {
		t.Fatalf("store is %s, want pgstore", got)
	}

	ans := b.post(t, event.MediaCloudEvent, cloudEvent("pg-1", []string{"alice"}, "Finish security training by Friday", nil))
	st := b.waitCompleted(t, ans.ids[0])
	if got := st.Channels["inbox"].Outcomes["delivered"]; got != 1 {
		t.Errorf("inbox delivered = %d, want 1 (status %+v)", got, st)
	}
	page := b.inbox(t, "alice", "")
	if len(page.Notifications) != 1 || page.Notifications[0].Message != "Finish security training by Friday" || page.Unread != 1 {
		t.Fatalf("alice's inbox = %+v", page)
	}

	b.importCSV(t, "id,topics\npg-a,team\npg-b,team\npg-c,other\n")
	bc := b.post(t, event.MediaCloudEvent, broadcastEvent("pg-bc", map[string]any{"topics": []string{"team"}}, nil))
	if got := b.waitBroadcast(t, bc.ids[0]).Broadcast.Recipients; got != 2 {
		t.Fatalf("broadcast reached %d, want 2", got)
	}
	for _, u := range []string{"pg-a", "pg-b"} {
		if p := b.inbox(t, u, ""); len(p.Notifications) != 1 || p.Notifications[0].EventID != bc.ids[0] {
			t.Errorf("%s's inbox = %+v, want the broadcast", u, p)
		}
	}
	if p := b.inbox(t, "pg-c", ""); len(p.Notifications) != 0 {
		t.Errorf("pg-c, not in the topic, got %+v", p)
	}
}

func TestOpenStoreRefusesAnUnknownStore(t *testing.T) {
	t.Parallel()
	_, err := app.OpenStore(t.Context(), app.Options{DataDir: t.TempDir(), Store: "mysql://root:hunter2@db/herald"})
	if err == nil || !strings.Contains(err.Error(), "--store") || strings.Contains(err.Error(), "hunter2") {
		t.Fatalf("OpenStore(mysql://...) error = %v; want one naming --store, without the password", err)
	}
}
