package cli

import (
	"fmt"
	"os"
	"runtime"
	"runtime/pprof"
	"time"

	"github.com/spf13/cobra"

	"github.com/herald/herald/internal/bench"
	"github.com/herald/herald/internal/config"
)

func newBenchCmd() *cobra.Command {
	cfg := bench.Config{}
	var cpuProfile string
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Measure herald end to end on this machine (HTTP ingest to inbox)",
		Long: "Start a herald process with embedded defaults in a temporary directory and measure:\n" +
			"the embedded hub's own publish+consume ceiling; end-to-end throughput of single-user\n" +
			"events from HTTP ingest to inbox delivery; ingest->inbox latency at a steady rate;\n" +
			"and peak memory. Results go to stdout as a Markdown table for BENCHMARKS.md.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := resolve(cmd); err != nil {
				return err
			}
			cfg.Progress = cmd.ErrOrStderr()
			if cpuProfile != "" {
				f, err := os.Create(cpuProfile)
				if err != nil {
					return err
				}
				defer f.Close()
				if err := pprof.StartCPUProfile(f); err != nil {
					return err
				}
				defer pprof.StopCPUProfile()
			}
			r, err := bench.Run(cmd.Context(), cfg)
			if err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			fmt.Fprintf(w, "| measure | value |\n|---|---|\n")
			fmt.Fprintf(w, "| machine | %d CPUs, %s/%s, %s |\n", runtime.NumCPU(), runtime.GOOS, runtime.GOARCH, runtime.Version())
			fmt.Fprintf(w, "| embedded hub ceiling (publish+consume, acks) | %.0f msgs/s |\n", r.CeilingPerSec)
			fmt.Fprintf(w, "| end to end, %d events (%d/request, %d in flight) | %.0f events/s (%.2f of the hub ceiling) |\n",
				r.Throughput.Events, cfg.Batch, cfg.Concurrency, r.Throughput.PerSec, r.Throughput.PerSec/r.CeilingPerSec)
			fmt.Fprintf(w, "| latency under full load: p50 / p99 | %s / %s |\n", round(r.Throughput.P50), round(r.Throughput.P99))
			fmt.Fprintf(w, "| latency at %.0f events/s, 1/request: p50 / p99 / max | %s / %s / %s |\n", cfg.LatencyRate, round(r.Latency.P50), round(r.Latency.P99), round(r.Latency.Max))
			fmt.Fprintf(w, "| CPU time per event, whole process (load generator included) / per bare hub message | %s / %s (%.1fx) |\n",
				r.Throughput.CPU.Round(100*time.Nanosecond), r.CeilingCPU.Round(100*time.Nanosecond), float64(r.Throughput.CPU)/float64(max(r.CeilingCPU, 1)))
			fmt.Fprintf(w, "| peak RSS (whole bench process) | %.0f MiB |\n", r.PeakRSSMiB)
			return nil
		},
	}
	f := cmd.Flags()
	f.IntVar(&cfg.Events, "events", 200000, "events in the throughput phase")
	f.IntVar(&cfg.Batch, "batch", 100, "events per request in the throughput phase")
	f.IntVar(&cfg.Concurrency, "concurrency", 8, "requests in flight in the throughput phase")
	f.Float64Var(&cfg.LatencyRate, "latency-rate", 2000, "events per second in the latency phase")
	f.DurationVar(&cfg.LatencyDuration, "latency-duration", 10*time.Second, "length of the latency phase")
	f.IntVar(&cfg.CeilingMessages, "ceiling-messages", 200000, "messages in the hub ceiling measurement")
	f.IntVar(&cfg.Users, "users", 10000, "distinct recipients")
	f.IntVar(&cfg.Partitions, "partitions", 4, "hub partitions")
	f.StringVar(&cpuProfile, "cpuprofile", "", "write a CPU profile of the whole run to this file")
	f.StringVar(&cfg.Dir, "dir", "", "directory for temporary data (default: a new temporary directory)")
	cmd.AddCommand(newBenchBroadcastCmd(), newBenchConversationCmd(), newBenchScaleOutCmd())
	return cmd
}

func newBenchConversationCmd() *cobra.Command {
	cfg := bench.ConversationConfig{}
	cmd := &cobra.Command{
		Use:   "conversation",
		Short: "Measure proactive messages into Teams conversations through a local Connector",
		Long: "Start herald with embedded defaults and a local Bot Connector, give --users people a Teams\n" +
			"conversation each, broadcast one event and time until the Connector has every message: first\n" +
			"with no rate limit (herald's own ceiling), then --teams-users people under Teams' default limits\n" +
			"(50 messages a second per tenant) beside the predicted time.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := resolve(cmd); err != nil {
				return err
			}
			cfg.Progress = cmd.ErrOrStderr()
			r, err := bench.RunConversation(cmd.Context(), cfg)
			if err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			fmt.Fprintf(w, "| measure | value |\n|---|---|\n")
			fmt.Fprintf(w, "| machine | %d CPUs, %s/%s, %s |\n", runtime.NumCPU(), runtime.GOOS, runtime.GOARCH, runtime.Version())
			fmt.Fprintf(w, "| %d people, no limits: ingest to last message at the Connector | %s (%.0f messages/s) |\n", r.Unlimited.Users, round(r.Unlimited.Took), r.Unlimited.PerSecond())
			if r.Teams.Users > 0 {
				fmt.Fprintf(w, "| %d people under Teams' limits | %s (%.1f messages/s); predicted %s; ratio %.3f |\n", r.Teams.Users, round(r.Teams.Took),
					r.Teams.PerSecond(), round(r.Teams.Predicted), r.Teams.Took.Seconds()/r.Teams.Predicted.Seconds())
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.IntVar(&cfg.Users, "users", 20000, "people in the unlimited phase")
	f.IntVar(&cfg.TeamsUsers, "teams-users", 10000, "people in the phase under Teams' limits (0 skips it)")
	f.StringVar(&cfg.Dir, "dir", "", "directory for temporary data (default: a new temporary directory)")
	return cmd
}

func newBenchBroadcastCmd() *cobra.Command {
	cfg := bench.BroadcastConfig{}
	cmd := &cobra.Command{
		Use:   "broadcast",
		Short: "Measure one event to everyone: import, fan-out with preferences, inbox reads",
		Long: "Start herald with embedded defaults in a temporary directory, import --users people over\n" +
			"HTTP (--opted-out of them with the inbox switched off), send one event to everyone and\n" +
			"measure the time from ingest to the last delivery recorded, then read random inboxes.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := resolve(cmd); err != nil {
				return err
			}
			cfg.Progress = cmd.ErrOrStderr()
			r, err := bench.RunBroadcast(cmd.Context(), cfg)
			if err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			fmt.Fprintf(w, "| measure | value |\n|---|---|\n")
			fmt.Fprintf(w, "| machine | %d CPUs, %s/%s, %s |\n", runtime.NumCPU(), runtime.GOOS, runtime.GOARCH, runtime.Version())
			fmt.Fprintf(w, "| import %d people over HTTP | %s (%.0f people/s) |\n", r.Users, round(r.Import), float64(r.Users)/r.Import.Seconds())
			fmt.Fprintf(w, "| broadcast to everyone, ingest to last delivery recorded | %s (%d inboxes, %d skipped by preference) |\n", round(r.Broadcast), r.Delivered, r.Skipped)
			fmt.Fprintf(w, "| inbox read after the broadcast, p50 / p99 | %s / %s |\n", round(r.ReadP50), round(r.ReadP99))
			fmt.Fprintf(w, "| peak RSS (whole bench process) | %.0f MiB |\n", r.PeakRSSMiB)
			return nil
		},
	}
	f := cmd.Flags()
	f.IntVar(&cfg.Users, "users", 1000000, "people in the population")
	f.Float64Var(&cfg.OptedOut, "opted-out", 0.1, "share of people with the inbox switched off")
	f.IntVar(&cfg.Reads, "reads", 10000, "random inbox reads afterwards")
	f.StringVar(&cfg.Store, "store", "", "store: empty for SQLite in the temporary directory, or postgres://... (use an empty schema)")
	config.MarkURL(f, "store")
	f.StringVar(&cfg.Dir, "dir", "", "directory for temporary data (default: a new temporary directory)")
	return cmd
}

func round(d time.Duration) string {
	switch {
	case d >= time.Second:
		return d.Round(time.Millisecond).String()
	case d >= time.Millisecond:
		return d.Round(10 * time.Microsecond).String()
	}
	return d.Round(time.Microsecond).String()
}

func newBenchScaleOutCmd() *cobra.Command {
	cfg := bench.ScaleOutConfig{}
	cmd := &cobra.Command{
		Use:   "scaleout",
		Short: "Measure end-to-end events/s with 1, 2, 3... worker processes on a shared store and hub",
		Long: "For each --workers count, start one api process and that many worker processes (handler and\n" +
			"delivery roles) of this binary on --store and --hub, send --events events and time from the\n" +
			"first send until the hub's lag is zero. Each phase uses a fresh hub prefix.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := resolve(cmd); err != nil {
				return err
			}
			exe, err := os.Executable()
			if err != nil {
				return err
			}
			cfg.Exe, cfg.Progress = exe, cmd.ErrOrStderr()
			phases, err := bench.RunScaleOut(cmd.Context(), cfg)
			if err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			fmt.Fprintf(w, "| worker processes | events | ingest to hub lag zero | events/s | vs 1 worker |\n|---|---|---|---|---|\n")
			for _, p := range phases {
				fmt.Fprintf(w, "| %d | %d | %s | %.0f | %.2fx |\n", p.Workers, p.Events, round(p.Took), p.PerSecond(), p.PerSecond()/phases[0].PerSecond())
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&cfg.Store, "store", "", "shared store, postgres://... (required)")
	f.StringVar(&cfg.Hub, "hub", "nats://127.0.0.1:4222", "shared hub: nats://... or kafka://...")
	f.IntSliceVar(&cfg.Workers, "workers", []int{1, 2, 3}, "worker process counts to measure")
	f.IntVar(&cfg.Events, "events", 100000, "events per phase")
	f.IntVar(&cfg.Batch, "batch", 100, "events per request")
	f.IntVar(&cfg.Concurrency, "concurrency", 8, "requests in flight")
	f.IntVar(&cfg.Users, "users", 10000, "distinct recipients")
	f.IntVar(&cfg.Partitions, "partitions", 6, "hub partitions per topic")
	f.StringVar(&cfg.Dir, "dir", "", "directory for the processes' logs (default: a new temporary directory)")
	config.MarkURL(cmd.Flags(), "store")
	return cmd
}
