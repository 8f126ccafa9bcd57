package main

import (
	"context"
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/herald/herald/internal/client"
	"github.com/herald/herald/internal/event"
)

// TestGracefulShutdown sends SIGTERM while events stream in: herald stops
// taking new ones (503 with Retry-After), finishes what is in flight, exits
// 0, and after a restart every accepted event is delivered.
func TestGracefulShutdown(t *testing.T) {
	if testing.Short() {
		t.Skip("starts server processes")
	}
	dataDir := t.TempDir()
	key := strings.TrimSpace(runCLI(t, nil, "keys", "create", "--role", "admin", "--data", dataDir))
	addr := freeAddr(t)
	proc := startServe(t, dataDir, addr)
	t.Cleanup(func() { proc.kill() })
	c := client.New("http://"+addr, key)

	accepted := map[string]string{}
	stopAt := 100
	for i := 0; ; i++ {
		ids := make([]string, 20)
		for j := range ids {
			ids[j] = fmt.Sprintf("crash-%d", i*20+j)
		}
		resp, err := c.PostEvents(context.Background(), event.MediaCloudEventBatch, batchBody(ids, 50))
		if err != nil {
			if i < stopAt {
				t.Fatalf("request %d before shutdown: %v", i, err)
			}
			break // refused while draining, or the server is gone
		}
		for _, a := range resp.Accepted {
			accepted[a.ID] = userFor(a.SourceID, 50)
		}
		if i == stopAt {
			if err := proc.cmd.Process.Signal(syscall.SIGTERM); err != nil {
				t.Fatal(err)
			}
		}
		if i > stopAt+10000 {
			t.Fatal("herald kept accepting events after SIGTERM")
		}
	}
	exited := make(chan error, 1)
	go func() { exited <- proc.cmd.Wait() }()
	select {
	case err := <-exited:
		if err != nil {
			t.Fatalf("herald serve exited with %v after SIGTERM, want 0", err)
		}
	case <-time.After(60 * time.Second):
		t.Fatal("herald serve did not exit within 60s of SIGTERM")
	}
	proc.log.Close()

	proc = startServe(t, dataDir, addr)
	deadline := time.Now().Add(60 * time.Second)
	for {
		total, dups, missing := inboxCensus(t, c, 50, accepted)
		if dups > 0 {
			t.Fatalf("%d duplicates", dups)
		}
		if missing == 0 && total == len(accepted) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d accepted events delivered after restart", total, len(accepted))
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Logf("%d events accepted before shutdown, all delivered once", len(accepted))
}
