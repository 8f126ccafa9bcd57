package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"time"

	"github.com/spf13/cobra"

	"github.com/herald/herald/internal/client"
	"github.com/herald/herald/internal/loadgen"
	"github.com/herald/herald/internal/source"
)

func newProduceCmd() *cobra.Command {
	var sf serverFlags
	var cfg loadgen.Config
	var file, sample, vary, sourcesDir string
	cmd := &cobra.Command{
		Use:   "produce",
		Short: "Produce events: a JSONL file, or synthetic load at a rate, with live progress",
		Long: "Produce events against a running herald. With --file, each line of a JSONL file is\n" +
			"one event (a CloudEvent or the bare {\"userId\",\"message\"} form); otherwise synthetic\n" +
			"single-user events go to --users people. A progress line (sent, accepted, rate,\n" +
			"errors) is printed every second to stderr and a summary at the end. 429 and 503\n" +
			"answers are retried after their Retry-After.\n\n" +
			"With --sample, produce plays an upstream system instead: it posts the sample payloads\n" +
			"(a JSON file, several values in a row allowed) to POST /v1/sources/{--source}, signed\n" +
			"with the source's secret as the upstream system would (read from the definition in\n" +
			"--sources; no API key needed). --vary changes each payload with a jq program, given\n" +
			"$n (the request number) and $run, so that each gets its own id.",
		Example: `  herald produce --rate 2000 --duration 30s --key $KEY
  herald produce --count 100000 --batch 100 --concurrency 8 --key $KEY
  herald produce --file events.jsonl --key $KEY
  herald produce --source hr-training --sample examples/sources/samples/hr-training-assigned.json \
      --sources examples/sources --vary '.eventId += "-\($run)-\($n)"' --rate 50 --duration 10s`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := resolve(cmd); err != nil {
				return err
			}
			var c *client.Client
			var err error
			if sample != "" {
				if file != "" {
					return errors.New("give --sample or --file, not both")
				}
				up, err := upstream(sourcesDir, cfg.Source, sample, vary)
				if err != nil {
					return err
				}
				cfg.Upstream = up
				if cfg.Count == 0 && cfg.Duration == 0 {
					cfg.Count = up.Samples() // each sample once
				}
				c = client.New(sf.server, "") // the upstream system holds no herald key
			} else if c, err = sf.client(); err != nil {
				return err
			}
			if file != "" {
				f, err := os.Open(file)
				if err != nil {
					return err
				}
				defer f.Close()
				cfg.Input = f
			} else if cfg.Count == 0 && cfg.Duration == 0 {
				return errors.New("say how much to produce: --count, --duration or --file")
			}
			var stats loadgen.Stats
			start := time.Now()
			stop := progress(cmd.Context(), cmd.ErrOrStderr(), &stats, start)
			err = loadgen.Run(cmd.Context(), c, cfg, &stats)
			stop()
			s := stats.Snapshot()
			el := time.Since(start)
			fmt.Fprintf(cmd.OutOrStdout(), "sent %d events in %s: %d accepted, %d errors, %d retries, %.0f events/s\n",
				s.Sent, el.Round(time.Millisecond), s.Accepted, s.Errors, s.Retries, float64(s.Accepted)/el.Seconds())
			if s.Filtered > 0 {
				fmt.Fprintf(cmd.OutOrStdout(), "%d payloads were left out by the source's filter (answered 202 \"filtered\")\n", s.Filtered)
			}
			if s.LastError != "" {
				fmt.Fprintf(cmd.OutOrStdout(), "last error: %s\n", s.LastError)
			}
			if err != nil {
				return err
			}
			if s.Errors > 0 {
				return &exitError{code: 2, err: fmt.Errorf("%d events were not accepted", s.Sent-s.Accepted-s.Filtered)}
			}
			return nil
		},
	}
	sf.register(cmd)
	f := cmd.Flags()
	f.StringVar(&file, "file", "", "JSONL file of events to send")
	f.Float64Var(&cfg.Rate, "rate", 0, "events per second (0: as fast as accepted)")
	f.IntVar(&cfg.Count, "count", 0, "number of events")
	f.DurationVar(&cfg.Duration, "duration", 0, "how long to produce")
	f.IntVar(&cfg.Batch, "batch", 1, "events per request (more than 1 sends CloudEvents batches)")
	f.IntVar(&cfg.Concurrency, "concurrency", 4, "requests in flight")
	f.IntVar(&cfg.Users, "users", 1000, "synthetic recipients u0..uN-1")
	f.StringVar(&cfg.Source, "source", defaultProduceSource, "CloudEvent source of synthetic events; with --sample, the name of the source adapter to post through")
	f.StringVar(&sample, "sample", "", "play an upstream system: post this file's JSON payloads through the source adapter named by --source")
	f.StringVar(&vary, "vary", "", "with --sample, a jq program changing each payload ($n: request number, $run: unique to the run)")
	sourcesDirFlag(cmd, &sourcesDir)
	return cmd
}

const defaultProduceSource = "urn:herald:produce"

// upstream loads source name's definition from dir, with its secret, and
// the sample payloads.
func upstream(dir, name, samplePath, vary string) (*source.Upstream, error) {
	if name == defaultProduceSource {
		return nil, errors.New("--sample needs --source NAME, the source adapter to post through")
	}
	path, err := definitionPath(dir, name)
	if err != nil {
		return nil, err
	}
	src, err := source.ParseFile(path, source.LoadOptions{Secrets: true})
	if err != nil {
		return nil, err
	}
	samples, err := os.ReadFile(samplePath)
	if err != nil {
		return nil, fmt.Errorf("read the sample: %w", err)
	}
	up, err := source.NewUpstream(src, samples, vary, strconv.FormatInt(time.Now().UnixNano(), 36))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", samplePath, err)
	}
	return up, nil
}

// progress prints a status line every second until the returned stop is called.
func progress(ctx context.Context, w io.Writer, stats *loadgen.Stats, start time.Time) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(time.Second)
		defer t.Stop()
		var prev int64
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				s := stats.Snapshot()
				fmt.Fprintf(w, "[%5.0fs] sent %d  accepted %d  rate %d/s  errors %d  retries %d\n",
					time.Since(start).Seconds(), s.Sent, s.Accepted, s.Accepted-prev, s.Errors, s.Retries)
				prev = s.Accepted
			}
		}
	}()
	return func() { cancel(); <-done }
}
