package main

import (
	"context"
	"database/sql"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	_ "modernc.org/sqlite"

	"github.com/herald/herald/internal/client"
	"github.com/herald/herald/internal/event"
)

// TestBroadcastCrashDeliversEachOnce SIGKILLs `herald serve` in the middle
// of a broadcast to 100,000 people, restarts it, and checks that every
// person ends up with the notification exactly once.
func TestBroadcastCrashDeliversEachOnce(t *testing.T) {
	if testing.Short() {
		t.Skip("crash test skipped in -short mode")
	}
	const people = 100000
	dataDir := t.TempDir()
	csv := filepath.Join(t.TempDir(), "people.csv")
	var b strings.Builder
	b.WriteString("id\n")
	for i := range people {
		fmt.Fprintf(&b, "p%06d\n", i)
	}
	if err := os.WriteFile(csv, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	key := strings.TrimSpace(runCLI(t, nil, "keys", "create", "--role", "admin", "--data", dataDir))
	addr := freeAddr(t)
	proc := startServe(t, dataDir, addr)
	t.Cleanup(func() { proc.kill() })
	env := []string{"HERALD_SERVER=http://" + addr, "HERALD_KEY=" + key}
	runCLI(t, env, "users", "import", csv)

	c := client.New("http://"+addr, key)
	body := []byte(`{"specversion":"1.0","id":"crash-bc","source":"urn:crash","type":"t","data":{"audience":{"all":true},"notification":{"message":"everyone"}}}`)
	if _, err := c.PostEvents(context.Background(), event.MediaCloudEvent, body); err != nil {
		t.Fatal(err)
	}
	id := event.IDFor("urn:crash", "crash-bc")
	status := func() (state string, recipients int) {
		var st struct {
			Broadcast *struct {
				State      string `json:"state"`
				Recipients int    `json:"recipients"`
			} `json:"broadcast"`
		}
		if err := c.Do(context.Background(), http.MethodGet, "/v1/events/"+id, "", nil, &st); err != nil || st.Broadcast == nil {
			return "", 0
		}
		return st.Broadcast.State, st.Broadcast.Recipients
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		state, n := status()
		if state == "running" && n >= people/5 {
			break
		}
		if state == "done" {
			t.Fatal("the broadcast finished before the crash; make it bigger")
		}
		if time.Now().After(deadline) {
			t.Fatalf("broadcast did not progress: %s %d", state, n)
		}
		time.Sleep(2 * time.Millisecond)
	}
	_, killedAt := status()
	proc.kill()
	t.Logf("SIGKILLed herald with %d of %d people reached", killedAt, people)
	proc = startServe(t, dataDir, addr)
	deadline = time.Now().Add(120 * time.Second)
	for {
		state, n := status()
		if state == "done" {
			if n != people {
				t.Fatalf("broadcast done with %d recipients, want %d", n, people)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("broadcast not done after restart: %s %d", state, n)
		}
		time.Sleep(20 * time.Millisecond)
	}
	proc.kill()

	db, err := sql.Open("sqlite", "file:"+filepath.Join(dataDir, "herald.db")+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var rows, users, dups int
	if err := db.QueryRow(`SELECT count(*), count(DISTINCT user_id) FROM inbox WHERE event_id = ?`, id).Scan(&rows, &users); err != nil {
		t.Fatal(err)
	}
	if err := db.QueryRow(`SELECT count(*) FROM (SELECT user_id FROM inbox WHERE event_id = ? GROUP BY user_id HAVING count(*) > 1)`, id).Scan(&dups); err != nil {
		t.Fatal(err)
	}
	if rows != people || users != people || dups != 0 {
		t.Fatalf("inbox rows %d for %d distinct people (%d duplicated); want %d exactly once each", rows, users, dups, people)
	}
}
