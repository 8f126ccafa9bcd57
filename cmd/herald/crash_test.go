package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/herald/herald/internal/client"
	"github.com/herald/herald/internal/event"
)

// TestMain lets the test binary act as the herald command when
// HERALD_TEST_AS_CLI is set, so crash tests run real herald processes
// without a separate build.
func TestMain(m *testing.M) {
	if os.Getenv("HERALD_TEST_AS_CLI") == "1" {
		os.Exit(run())
	}
	os.Exit(m.Run())
}

// herald runs the command line in a child process.
func herald(t *testing.T, args ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(os.Environ(), "HERALD_TEST_AS_CLI=1")
	return cmd
}

// serveProcess is a `herald serve` child.
type serveProcess struct {
	cmd *exec.Cmd
	log *os.File
}

func startServe(t *testing.T, dataDir, addr string) *serveProcess {
	t.Helper()
	return startServeWith(t, dataDir, addr)
}

func (p *serveProcess) kill() {
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	_ = p.cmd.Wait()
	p.log.Close()
}

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// TestCrashLosesNothingAndDuplicatesNothing SIGKILLs `herald serve` twice
// while 10,000 events stream in, restarts it each time, re-sends what was
// not acknowledged (as a real producer would), and checks that every
// accepted event is in its recipient's inbox exactly once.
func TestCrashLosesNothingAndDuplicatesNothing(t *testing.T) {
	if testing.Short() {
		t.Skip("crash test skipped in -short mode")
	}
	const (
		events = 10000
		users  = 100
		batch  = 20
	)
	dataDir := t.TempDir()
	out, err := herald(t, "keys", "create", "--role", "admin", "--data", dataDir).Output()
	if err != nil {
		t.Fatalf("keys create: %v", err)
	}
	key := strings.TrimSpace(string(out))
	addr := freeAddr(t)
	proc := startServe(t, dataDir, addr)
	t.Cleanup(func() { proc.kill() })
	c := client.New("http://"+addr, key)

	// Requests go out in order from a few workers; each retries until
	// accepted, across crashes.
	var mu sync.Mutex
	accepted := map[string]string{} // event id -> user
	var wantAccepted sync.WaitGroup
	requests := make(chan []string)
	var sentBatches, acceptedBatches int64
	var counterMu sync.Mutex
	for w := 0; w < 4; w++ {
		wantAccepted.Add(1)
		go func() {
			defer wantAccepted.Done()
			for ids := range requests {
				body := batchBody(ids, users)
				for {
					resp, err := c.PostEvents(context.Background(), event.MediaCloudEventBatch, body)
					if err == nil {
						mu.Lock()
						for _, a := range resp.Accepted {
							accepted[a.ID] = userFor(a.SourceID, users)
						}
						mu.Unlock()
						counterMu.Lock()
						acceptedBatches++
						counterMu.Unlock()
						break
					}
					var ae *client.APIError
					if errors.As(err, &ae) && !ae.Retryable() {
						t.Errorf("request refused: %v", err)
						break
					}
					time.Sleep(20 * time.Millisecond) // herald is down or draining: retry
				}
			}
		}()
	}
	killAt := map[int]bool{events / batch / 3: true, 2 * events / batch / 3: true}
	for i := 0; i < events; i += batch {
		ids := make([]string, batch)
		for j := range ids {
			ids[j] = fmt.Sprintf("crash-%d", i+j)
		}
		requests <- ids
		sentBatches++
		if killAt[i/batch] {
			proc.kill()
			t.Logf("SIGKILLed herald after %d batches were handed to producers", sentBatches)
			proc = startServe(t, dataDir, addr)
		}
	}
	close(requests)
	wantAccepted.Wait()
	if len(accepted) != events {
		t.Fatalf("%d distinct events accepted, want %d", len(accepted), events)
	}

	// Every accepted event ends in its recipient's inbox exactly once.
	deadline := time.Now().Add(60 * time.Second)
	for {
		total, dups, missing := inboxCensus(t, c, users, accepted)
		if dups > 0 {
			t.Fatalf("%d duplicate notifications", dups)
		}
		if missing == 0 && total == events {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after restarts %d of %d accepted events are in inboxes (%d missing)", total, events, missing)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func userFor(sourceID string, users int) string {
	var n int
	fmt.Sscanf(strings.TrimPrefix(sourceID, "crash-"), "%d", &n)
	return fmt.Sprintf("u%d", n%users)
}

func batchBody(ids []string, users int) []byte {
	evs := make([]map[string]any, len(ids))
	for i, id := range ids {
		evs[i] = map[string]any{
			"specversion": "1.0", "id": id, "source": "urn:crash", "type": "com.example.crash",
			"data": map[string]any{
				"audience":     map[string]any{"users": []string{userFor(id, users)}},
				"notification": map[string]any{"message": "event " + id},
			},
		}
	}
	b, _ := json.Marshal(evs)
	return b
}

// inboxCensus reads every user's whole inbox and counts notifications,
// duplicates (an event twice in one inbox, or in the wrong inbox) and
// accepted events missing.
func inboxCensus(t *testing.T, c *client.Client, users int, accepted map[string]string) (total, dups, missing int) {
	t.Helper()
	pairs := inboxPairs(t, c, users)
	for k, n := range pairs {
		total += n
		user, id, _ := strings.Cut(k, "|")
		if accepted[id] != user {
			dups += n // in the wrong inbox
		}
	}
	for id, user := range accepted {
		switch n := pairs[user+"|"+id]; {
		case n == 0:
			missing++
		case n > 1:
			dups += n - 1
		}
	}
	return total, dups, missing
}

// inboxPairs reads every person's whole inbox and counts each
// (person, event) it holds, keyed "user|event".
func inboxPairs(t *testing.T, c *client.Client, users int) map[string]int {
	t.Helper()
	out := map[string]int{}
	for u := range users {
		user := fmt.Sprintf("u%d", u)
		cursor := ""
		for {
			var page struct {
				Notifications []struct {
					EventID string `json:"eventId"`
				} `json:"notifications"`
				NextCursor string `json:"nextCursor"`
			}
			q := "?limit=500"
			if cursor != "" {
				q += "&cursor=" + cursor
			}
			if err := c.Do(context.Background(), http.MethodGet, client.UserPath(user, "/notifications"+q), "", nil, &page); err != nil {
				t.Fatal(err)
			}
			for _, n := range page.Notifications {
				out[user+"|"+n.EventID]++
			}
			if page.NextCursor == "" {
				break
			}
			cursor = page.NextCursor
		}
	}
	return out
}
