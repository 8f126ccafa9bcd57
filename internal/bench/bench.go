// Package bench measures herald end to end on this machine: it starts a
// herald process in a temporary directory, drives single-user events through
// HTTP ingest to inbox delivery with the load generator, and reports
// throughput, ingest->inbox latency percentiles and peak memory beside the
// embedded hub's own publish+consume ceiling measured in the same run.
package bench

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/herald/herald/internal/app"
	"github.com/herald/herald/internal/auth"
	"github.com/herald/herald/internal/client"
	"github.com/herald/herald/internal/hub"
	"github.com/herald/herald/internal/hub/natshub"
	"github.com/herald/herald/internal/loadgen"
	"github.com/herald/herald/internal/store"
)

// Config says what to measure.
type Config struct {
	// Events is the number of events in the throughput phase.
	Events int
	// Batch and Concurrency shape the throughput phase's requests.
	Batch       int
	Concurrency int
	// LatencyRate and LatencyDuration shape the latency phase: single
	// events, one per request, at a steady rate.
	LatencyRate     float64
	LatencyDuration time.Duration
	// CeilingMessages is the size of the bare hub measurement.
	CeilingMessages int
	// Users is the number of distinct recipients.
	Users int
	// Partitions is the hub's partition count.
	Partitions int
	// Dir holds the temporary data; empty means a new temporary directory.
	Dir string
	// Progress receives progress lines.
	Progress io.Writer
}

// Result is what one run measured.
type Result struct {
	CeilingPerSec float64
	// CeilingCPU is the process CPU time (user + system) the bare hub
	// spent per message: a steadier figure than msgs/s on a shared machine.
	CeilingCPU       time.Duration
	Throughput       Phase
	Latency          Phase
	PeakRSSMiB       float64
	Partitions, Cpus int
}

// Phase is one measured phase.
type Phase struct {
	Events        int
	Elapsed       time.Duration
	PerSec        float64
	P50, P99, Max time.Duration
	Errors        int64
	// CPU is the whole process's CPU time (user + system: load generator,
	// HTTP, hub, handler, store) per event over the phase.
	CPU time.Duration
}

// Run performs the benchmark.
func Run(ctx context.Context, cfg Config) (Result, error) {
	res := Result{Partitions: cfg.Partitions}
	dir := cfg.Dir
	if dir == "" {
		d, err := os.MkdirTemp("", "herald-bench-")
		if err != nil {
			return res, err
		}
		defer os.RemoveAll(d)
		dir = d
	}
	say := progress(cfg.Progress)
	say("measuring the embedded hub's publish+consume ceiling with %d messages...", cfg.CeilingMessages)
	ceiling, ceilingCPU, err := hubCeiling(ctx, filepath.Join(dir, "ceiling"), cfg.CeilingMessages, cfg.Partitions)
	if err != nil {
		return res, fmt.Errorf("hub ceiling: %w", err)
	}
	res.CeilingPerSec, res.CeilingCPU = ceiling, ceilingCPU
	say("  %.0f msgs/s", ceiling)

	a, c, stop, err := startHerald(ctx, app.Options{DataDir: filepath.Join(dir, "herald"), Partitions: cfg.Partitions})
	if err != nil {
		return res, err
	}
	defer stop()

	tr := newTracker(a)
	defer tr.close()
	say("throughput: %d events, %d per request, %d requests in flight...", cfg.Events, cfg.Batch, cfg.Concurrency)
	res.Throughput, err = tr.phase(ctx, c, loadgen.Config{Count: cfg.Events, Batch: cfg.Batch, Concurrency: cfg.Concurrency, Users: cfg.Users, RunID: "t"}, cfg.Progress)
	if err != nil {
		return res, err
	}
	n := int(cfg.LatencyRate * cfg.LatencyDuration.Seconds())
	say("latency: %d events at %.0f/s, one per request...", n, cfg.LatencyRate)
	res.Latency, err = tr.phase(ctx, c, loadgen.Config{Count: n, Rate: cfg.LatencyRate, Batch: 1, Concurrency: 16, Users: cfg.Users, RunID: "l"}, cfg.Progress)
	if err != nil {
		return res, err
	}
	res.PeakRSSMiB = peakRSSMiB()
	return res, nil
}

// tracker matches delivered inbox items with their send times.
type tracker struct {
	sub       interface{ Close() }
	mu        sync.Mutex
	sent      map[string]time.Time
	latencies []time.Duration
	delivered atomic.Int64
	last      atomic.Int64
	stop      chan struct{}
}

func newTracker(a *app.App) *tracker {
	sub := a.Broker.SubscribeBuffered("", 1<<20)
	t := &tracker{sub: sub, sent: map[string]time.Time{}, stop: make(chan struct{})}
	go func() {
		for {
			select {
			case it := <-sub.C:
				now := time.Now()
				t.mu.Lock()
				if at, ok := t.sent[it.EventID]; ok {
					t.latencies = append(t.latencies, now.Sub(at))
					delete(t.sent, it.EventID)
				}
				t.mu.Unlock()
				t.delivered.Add(1)
				t.last.Store(now.UnixNano())
			case <-t.stop:
				return
			}
		}
	}()
	return t
}

func (t *tracker) close() { close(t.stop); t.sub.Close() }

// phase runs one load and waits until every accepted event is in an inbox.
func (t *tracker) phase(ctx context.Context, c *client.Client, lc loadgen.Config, progress io.Writer) (Phase, error) {
	t.mu.Lock()
	t.latencies = t.latencies[:0]
	t.mu.Unlock()
	base := t.delivered.Load()
	lc.OnSent = func(ids []string, at time.Time) {
		t.mu.Lock()
		for _, id := range ids {
			t.sent[id] = at
		}
		t.mu.Unlock()
	}
	var stats loadgen.Stats
	start, cpu0 := time.Now(), processCPU()
	if err := loadgen.Run(ctx, c, lc, &stats); err != nil {
		return Phase{}, err
	}
	s := stats.Snapshot()
	want := s.Accepted
	deadline := time.Now().Add(2*time.Minute + time.Duration(want)*time.Millisecond/10)
	for t.delivered.Load()-base < want {
		if time.Now().After(deadline) {
			return Phase{}, fmt.Errorf("only %d of %d accepted events reached an inbox", t.delivered.Load()-base, want)
		}
		select {
		case <-ctx.Done():
			return Phase{}, ctx.Err()
		case <-time.After(5 * time.Millisecond):
		}
	}
	elapsed := time.Unix(0, t.last.Load()).Sub(start)
	cpu := processCPU() - cpu0
	t.mu.Lock()
	lat := slices.Clone(t.latencies)
	t.mu.Unlock()
	slices.Sort(lat)
	p := Phase{Events: int(want), Elapsed: elapsed, PerSec: float64(want) / elapsed.Seconds(), Errors: s.Errors}
	if want > 0 {
		p.CPU = cpu / time.Duration(want)
	}
	if len(lat) > 0 {
		p.P50, p.P99, p.Max = lat[len(lat)*50/100], lat[min(len(lat)-1, len(lat)*99/100)], lat[len(lat)-1]
	}
	if progress != nil {
		fmt.Fprintf(progress, "  %d events in %s: %.0f events/s, latency p50 %s p99 %s, CPU %s per event\n",
			p.Events, p.Elapsed.Round(time.Millisecond), p.PerSec, p.P50, p.P99, p.CPU)
	}
	return p, nil
}

// hubCeiling publishes n messages in batches of 500 while consuming them with
// per-message acks, and returns messages per second and the process CPU
// time spent per message.
func hubCeiling(ctx context.Context, dir string, n, partitions int) (float64, time.Duration, error) {
	h, err := natshub.Embedded(ctx, dir, natshub.Options{Partitions: partitions})
	if err != nil {
		return 0, 0, err
	}
	defer h.Close()
	var got atomic.Int64
	all := make(chan struct{})
	cctx, cancel := context.WithCancel(ctx)
	defer cancel()
	consumed := make(chan error, 1)
	go func() {
		consumed <- h.Consume(cctx, hub.TopicEvents, "ceiling", hub.ConsumeOptions{}, func(_ context.Context, batch []hub.Delivery) {
			for _, d := range batch {
				_ = d.Ack()
			}
			if got.Add(int64(len(batch))) >= int64(n) {
				select {
				case <-all:
				default:
					close(all)
				}
			}
		})
	}()
	payload := []byte(strings.Repeat("x", 400))
	start, cpu0 := time.Now(), processCPU()
	for i := 0; i < n; i += 500 {
		msgs := make([]hub.Message, 0, 500)
		for j := i; j < min(n, i+500); j++ {
			msgs = append(msgs, hub.Message{Key: "u" + strconv.Itoa(j%1000), Data: payload})
		}
		if err := h.Publish(ctx, hub.TopicEvents, msgs...); err != nil {
			return 0, 0, err
		}
	}
	select {
	case <-all:
	case <-time.After(2 * time.Minute):
		return 0, 0, fmt.Errorf("consumed %d of %d", got.Load(), n)
	}
	el, cpu := time.Since(start), processCPU()-cpu0
	cancel()
	<-consumed
	return float64(n) / el.Seconds(), cpu / time.Duration(n), nil
}

// processCPU is the CPU time (user + system) this process has used so far.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// peakRSSMiB reads the process's peak resident set size from /proc.
func peakRSSMiB() float64 {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(data), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, _ := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 64)
			return kb / 1024
		}
	}
	return 0
}

// startHerald runs a herald process in this one on a loopback port with an
// admin key, and returns a client for it and the function that stops it.
func startHerald(ctx context.Context, opts app.Options) (*app.App, *client.Client, func(), error) {
	opts.Addr = "127.0.0.1:0"
	opts.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	a, err := app.Open(ctx, opts)
	if err != nil {
		return nil, nil, nil, err
	}
	addr, err := a.Listen()
	if err != nil {
		a.Close()
		return nil, nil, nil, err
	}
	key, rec, err := auth.NewKey(store.RoleAdmin, "bench", time.Now())
	if err == nil {
		err = a.Store.CreateAPIKey(ctx, rec)
	}
	if err != nil {
		a.Close()
		return nil, nil, nil, err
	}
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- a.Run(runCtx) }()
	return a, client.New("http://"+addr.String(), key), func() { cancel(); <-done }, nil
}

// progress returns a printf to w that does nothing when w is nil.
func progress(w io.Writer) func(format string, args ...any) {
	return func(format string, args ...any) {
		if w != nil {
			fmt.Fprintf(w, format+"\n", args...)
		}
	}
}
