package bench

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/herald/herald/internal/client"
	"github.com/herald/herald/internal/loadgen"
)

// ScaleOutConfig says what the scale-out benchmark measures: end-to-end
// events per second with one api process and N worker processes (handler
// and delivery roles), each a separate herald, on a shared store and hub.
type ScaleOutConfig struct {
	// Exe is the herald binary the processes run.
	Exe string
	// Store is the shared store (a postgres:// URL); Hub the shared hub
	// (nats://... or kafka://...).
	Store, Hub string
	// Workers lists the worker counts to measure, one phase each.
	Workers []int
	// Events per phase, sent in batches of Batch by Concurrency requests.
	Events, Batch, Concurrency int
	// Users is the number of distinct recipients.
	Users int
	// Partitions is the hub's partition count (the most workers that can
	// share a topic).
	Partitions int
	Dir        string
	Progress   io.Writer
}

// ScaleOutPhase is one measured worker count.
type ScaleOutPhase struct {
	Workers int
	Events  int
	Took    time.Duration
}

// PerSecond is the phase's end-to-end events per second.
func (p ScaleOutPhase) PerSecond() float64 { return float64(p.Events) / p.Took.Seconds() }

// RunScaleOut runs one phase per worker count: it starts the processes
// with a fresh hub prefix, sends the events, and times from the first send
// until the hub's lag (events and deliveries) is zero.
func RunScaleOut(ctx context.Context, cfg ScaleOutConfig) ([]ScaleOutPhase, error) {
	if cfg.Store == "" || cfg.Hub == "" {
		return nil, errors.New("bench scaleout needs --store (postgres://...) and --hub (nats:// or kafka://): processes share them")
	}
	dir := cfg.Dir
	if dir == "" {
		d, err := os.MkdirTemp("", "herald-bench-scaleout-")
		if err != nil {
			return nil, err
		}
		defer os.RemoveAll(d)
		dir = d
	}
	say := progress(cfg.Progress)
	var out []ScaleOutPhase
	for _, n := range cfg.Workers {
		say("%d worker process(es): %d events...", n, cfg.Events)
		ph, err := scaleOutPhase(ctx, cfg, filepath.Join(dir, strconv.Itoa(n)), n)
		if err != nil {
			return out, err
		}
		say("  %s (%.0f events/s)", ph.Took.Round(time.Millisecond), ph.PerSecond())
		out = append(out, ph)
	}
	return out, nil
}

func scaleOutPhase(ctx context.Context, cfg ScaleOutConfig, dir string, workers int) (ScaleOutPhase, error) {
	ph := ScaleOutPhase{Workers: workers, Events: cfg.Events}
	prefix := fmt.Sprintf("BENCH%d", time.Now().UnixNano())
	common := []string{"--store", cfg.Store, "--hub", cfg.Hub, "--hub-prefix", prefix, "--conversation", "off",
		"--partitions", strconv.Itoa(cfg.Partitions), "--log-level", "warn"}
	var procs []*exec.Cmd
	defer func() {
		for _, p := range procs {
			_ = p.Process.Signal(os.Interrupt)
			_ = p.Wait()
		}
	}()
	start := func(name, roles string) (string, error) {
		d := filepath.Join(dir, name)
		if err := os.MkdirAll(d, 0o750); err != nil {
			return "", err
		}
		addr, err := freePort()
		if err != nil {
			return "", err
		}
		logf, err := os.Create(filepath.Join(d, "serve.log"))
		if err != nil {
			return "", err
		}
		cmd := exec.CommandContext(ctx, cfg.Exe, append([]string{"serve", "--roles", roles, "--data", d, "--addr", addr}, common...)...)
		cmd.Stdout, cmd.Stderr = logf, logf
		if err := cmd.Start(); err != nil {
			return "", err
		}
		procs = append(procs, cmd)
		return addr, waitReady(ctx, addr, logf.Name())
	}
	apiAddr, err := start("api", "api")
	if err != nil {
		return ph, err
	}
	for i := range workers {
		if _, err := start(fmt.Sprintf("worker%d", i+1), "handler,delivery"); err != nil {
			return ph, err
		}
	}
	keyOut, err := exec.CommandContext(ctx, cfg.Exe, "keys", "create", "--role", "producer", "--name", "bench-"+prefix,
		"--store", cfg.Store, "--data", dir).Output()
	if err != nil {
		return ph, fmt.Errorf("create a key: %w", err)
	}
	c := client.New("http://"+apiAddr, strings.TrimSpace(string(keyOut)))
	t0 := time.Now()
	var stats loadgen.Stats
	if err := loadgen.Run(ctx, c, loadgen.Config{Count: cfg.Events, Batch: cfg.Batch, Concurrency: cfg.Concurrency,
		Users: cfg.Users, RunID: prefix}, &stats); err != nil {
		return ph, err
	}
	if s := stats.Snapshot(); s.Accepted != int64(cfg.Events) {
		return ph, fmt.Errorf("%d of %d events accepted", s.Accepted, cfg.Events)
	}
	for {
		lag, err := HubLag(apiAddr)
		if err == nil && lag == 0 {
			break
		}
		if time.Since(t0) > 30*time.Minute {
			return ph, fmt.Errorf("the hub's lag did not return to zero: %d (%v)", lag, err)
		}
		time.Sleep(5 * time.Millisecond)
	}
	ph.Took = time.Since(t0)
	return ph, nil
}

func freePort() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

func waitReady(ctx context.Context, addr, logName string) error {
	deadline := time.Now().Add(60 * time.Second)
	for {
		resp, err := http.Get("http://" + addr + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return fmt.Errorf("herald at %s did not become ready; see %s", addr, logName)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// HubLag sums herald_hub_lag_messages from the /metrics of the herald
// process at addr: zero when every group has settled everything.
func HubLag(addr string) (int, error) {
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	total, seen := 0, 0
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, "herald_hub_lag_messages{") {
			continue
		}
		f := strings.Fields(line)
		v, err := strconv.ParseFloat(f[len(f)-1], 64)
		if err != nil {
			return 0, err
		}
		total += int(v)
		seen++
	}
	if seen == 0 {
		return 0, errors.New("no hub lag in /metrics")
	}
	return total, nil
}
