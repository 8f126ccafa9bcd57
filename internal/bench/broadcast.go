package bench

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"time"

	"github.com/herald/herald/internal/app"
	"github.com/herald/herald/internal/client"
	"github.com/herald/herald/internal/event"
	"github.com/herald/herald/internal/store"
)

// BroadcastConfig says what the broadcast benchmark measures.
type BroadcastConfig struct {
	// Users is the population; OptedOut is the share whose inbox is off.
	Users    int
	OptedOut float64
	// Reads is how many random inboxes are read afterwards for latency.
	Reads int
	// Store is the store URL; empty means SQLite under Dir.
	Store string
	// Dir holds the data; empty means a new temporary directory.
	Dir      string
	Progress io.Writer
}

// BroadcastResult is what the broadcast benchmark measured.
type BroadcastResult struct {
	Users            int
	Import           time.Duration
	Broadcast        time.Duration
	Delivered        int
	Skipped          int
	ReadP50, ReadP99 time.Duration
	PeakRSSMiB       float64
}

// RunBroadcast imports the population over HTTP, sends one event to
// everyone, waits until the broadcast is done, then reads random inboxes.
func RunBroadcast(ctx context.Context, cfg BroadcastConfig) (BroadcastResult, error) {
	res := BroadcastResult{Users: cfg.Users}
	dir := cfg.Dir
	if dir == "" {
		d, err := os.MkdirTemp("", "herald-bench-broadcast-")
		if err != nil {
			return res, err
		}
		defer os.RemoveAll(d)
		dir = d
	}
	say := progress(cfg.Progress)
	a, c, stop, err := startHerald(ctx, app.Options{DataDir: filepath.Join(dir, "herald"), Store: cfg.Store})
	if err != nil {
		return res, err
	}
	defer stop()

	say("importing %d people over HTTP (%.0f%% with the inbox switched off)...", cfg.Users, cfg.OptedOut*100)
	pr, pw := io.Pipe()
	go func() {
		rng := rand.New(rand.NewPCG(1, 1))
		buf := []byte("id,sendNotificationToInbox\n")
		for i := range cfg.Users {
			inbox := "true"
			if rng.Float64() < cfg.OptedOut {
				inbox = "false"
			}
			buf = append(buf, "u"...)
			buf = strconv.AppendInt(buf, int64(i), 10)
			buf = append(buf, ',')
			buf = append(buf, inbox...)
			buf = append(buf, '\n')
			if len(buf) > 64<<10 {
				if _, err := pw.Write(buf); err != nil {
					return
				}
				buf = buf[:0]
			}
		}
		_, _ = pw.Write(buf)
		pw.Close()
	}()
	start := time.Now()
	var imp struct {
		Imported int `json:"imported"`
		Failed   int `json:"failed"`
	}
	if err := c.DoStream(ctx, http.MethodPost, "/v1/users:import", "text/csv", pr, &imp); err != nil {
		return res, fmt.Errorf("import: %w", err)
	}
	res.Import = time.Since(start)
	if imp.Imported != cfg.Users {
		return res, fmt.Errorf("imported %d of %d people", imp.Imported, cfg.Users)
	}
	say("  %s (%.0f people/s)", res.Import.Round(time.Millisecond), float64(cfg.Users)/res.Import.Seconds())

	say("broadcasting one event to everyone...")
	body := []byte(`{"specversion":"1.0","id":"bench-broadcast","source":"urn:bench","type":"herald.bench",` +
		`"data":{"audience":{"all":true},"notification":{"title":"Benefits enrollment","message":"Enrollment just opened: would you like to know more?","category":"benefits"}}}`)
	start = time.Now()
	if _, err := c.PostEvents(ctx, event.MediaCloudEvent, body); err != nil {
		return res, err
	}
	id := event.IDFor("urn:bench", "bench-broadcast")
	var b store.Broadcast
	for {
		b, err = a.Store.Broadcast(ctx, id)
		if err == nil && b.State == store.BroadcastDone {
			break
		}
		if time.Since(start) > 10*time.Minute {
			return res, fmt.Errorf("the broadcast did not finish: %+v %v", b.State, err)
		}
		time.Sleep(5 * time.Millisecond)
	}
	// The last delivery is recorded when the broadcast is marked done.
	res.Broadcast = b.FinishedAt.Sub(start)
	res.Delivered = b.Counts["inbox"]["delivered"]
	res.Skipped = b.Counts["inbox"]["skipped_preference"]
	say("  %s: %d inboxes, %d skipped by preference", res.Broadcast.Round(time.Millisecond), res.Delivered, res.Skipped)

	say("reading %d random inboxes over HTTP...", cfg.Reads)
	rng := rand.New(rand.NewPCG(2, 2))
	lat := make([]time.Duration, 0, cfg.Reads)
	for range cfg.Reads {
		u := "u" + strconv.Itoa(rng.IntN(cfg.Users))
		t0 := time.Now()
		if err := c.Do(ctx, http.MethodGet, client.UserPath(u, "/notifications"), "", nil, nil); err != nil {
			return res, err
		}
		lat = append(lat, time.Since(t0))
	}
	slices.Sort(lat)
	if len(lat) > 0 {
		res.ReadP50, res.ReadP99 = lat[len(lat)/2], lat[min(len(lat)-1, len(lat)*99/100)]
	}
	res.PeakRSSMiB = peakRSSMiB()
	return res, nil
}
