package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/herald/herald/internal/event"
	"github.com/herald/herald/internal/source"
)

// sourcesDirFlag registers --sources-dir (HERALD_SOURCES_DIR), also
// accepted as --sources.
func sourcesDirFlag(cmd *cobra.Command, dir *string) {
	f := cmd.Flags()
	f.StringVar(dir, "sources-dir", "", "directory of upstream source definitions (*.yaml), served at POST /v1/sources/{name} (also --sources)")
	prev := f.GetNormalizeFunc()
	f.SetNormalizeFunc(func(fs *pflag.FlagSet, name string) pflag.NormalizedName {
		if name == "sources" {
			name = "sources-dir"
		}
		return prev(fs, name)
	})
}

// definitionPath finds source name's definition in dir.
func definitionPath(dir, name string) (string, error) {
	if dir == "" {
		return "", errors.New("say where the source definitions are: --sources DIR or HERALD_SOURCES_DIR")
	}
	if msg := source.CheckName(name); msg != "" {
		return "", errors.New(msg)
	}
	for _, ext := range []string{".yaml", ".yml"} {
		p := filepath.Join(dir, name+ext)
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	var names []string
	for _, pattern := range []string{"*.yaml", "*.yml"} {
		found, _ := filepath.Glob(filepath.Join(dir, pattern))
		for _, f := range found {
			names = append(names, strings.TrimSuffix(filepath.Base(f), filepath.Ext(f)))
		}
	}
	return "", fmt.Errorf("no source %q in %s (sources there: %s)", name, dir, strings.Join(names, ", "))
}

func newSourcesCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "sources",
		Short: "Check upstream source definitions and test their mappings offline",
		Long: "Upstream systems post their own JSON to POST /v1/sources/{name}; a source definition\n" +
			"(a YAML file in the --sources directory) says how the request is authenticated and\n" +
			"how the payload becomes a notification. See docs/sources.md.",
	}
	cmd.AddCommand(newSourcesListCmd(), newSourcesTestCmd())
	return cmd
}

func newSourcesListCmd() *cobra.Command {
	var dir string
	var secrets bool
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List the source definitions, checking every one (as serve does with --secrets)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := resolve(cmd); err != nil {
				return err
			}
			if dir == "" {
				return errors.New("say where the source definitions are: --sources DIR or HERALD_SOURCES_DIR")
			}
			reg, err := source.LoadDir(dir, source.LoadOptions{Secrets: secrets})
			if err != nil {
				return err
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "NAME\tAUTH\tSECRET\tFILTER\tFILE")
			for _, s := range reg.List() {
				v := s.View()
				auth := v.Auth.Kind + " " + v.Auth.Header
				if v.Auth.TimestampHeader != "" {
					auth += " + " + v.Auth.TimestampHeader + " (" + v.Auth.Tolerance + ")"
				}
				filter := v.Filter
				if filter == "" {
					filter = "(all)"
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", v.Name, auth, v.Auth.Secret, filter, s.File())
			}
			return tw.Flush()
		},
	}
	sourcesDirFlag(cmd, &dir)
	cmd.Flags().BoolVar(&secrets, "secrets", false, "also read every secret (env: and file: references), as serve does at start")
	return cmd
}

func newSourcesTestCmd() *cobra.Command {
	var dir string
	var headers []string
	cmd := &cobra.Command{
		Use:   "test NAME SAMPLE.json",
		Short: "Map a sample payload through a source offline: the canonical event, or the step that fails",
		Long: "Run source NAME's filter and mapping on a sample payload (a file, or - for stdin) without a\n" +
			"server or secrets, and print the CloudEvent herald would store, after the same validation as\n" +
			"POST /v1/events. A failure names the step (body, filter, map.audience, ...) or the event field\n" +
			"and the map step that produced it, and exits 1. A payload the filter leaves out says so.",
		Example: `  herald sources test hr-training examples/sources/samples/hr-training-assigned.json --sources examples/sources
  curl -s https://hr.example.com/hooks/last | herald sources test hr-training - --header 'X-Event-Type: assigned'`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := resolve(cmd); err != nil {
				return err
			}
			path, err := definitionPath(dir, args[0])
			if err != nil {
				return err
			}
			src, err := source.ParseFile(path, source.LoadOptions{})
			if err != nil {
				return err
			}
			var body []byte
			if args[1] == "-" {
				body, err = io.ReadAll(cmd.InOrStdin())
			} else {
				body, err = os.ReadFile(args[1])
			}
			if err != nil {
				return fmt.Errorf("read the sample: %w", err)
			}
			h := http.Header{}
			for _, kv := range headers {
				k, v, ok := strings.Cut(kv, ":")
				if !ok {
					return fmt.Errorf("--header %q: write it as 'Name: value'", kv)
				}
				h.Add(strings.TrimSpace(k), strings.TrimSpace(v))
			}
			res, err := src.Map(cmd.Context(), body, h, time.Now().UTC())
			if err != nil {
				return mappingFailure(args[0], err)
			}
			if res.Filtered {
				fmt.Fprintf(cmd.OutOrStdout(), "filtered: the filter %s yielded false; herald would answer 202 \"filtered\" and store nothing\n", src.Definition().Filter)
				return nil
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "herald event id %s (from source %q and id %q)\n", res.Event.ID, res.Event.Source, res.Event.SourceID)
			out, err := json.MarshalIndent(canonical(res.Event), "", "  ")
			if err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), string(out))
			return nil
		},
	}
	sourcesDirFlag(cmd, &dir)
	cmd.Flags().StringArrayVar(&headers, "header", nil, "a request header the mapping may read as $headers, 'Name: value' (repeatable)")
	return cmd
}

// mappingFailure words a mapping error for the command line.
func mappingFailure(name string, err error) error {
	var ve *event.ValidationError
	if errors.As(err, &ve) {
		lines := make([]string, len(ve.Errors))
		for i, fe := range ve.Errors {
			lines[i] = "  " + fe.Field + ": " + fe.Problem
		}
		return fmt.Errorf("source %s mapped the payload to an invalid event (herald would answer 400 invalid-event):\n%s", name, strings.Join(lines, "\n"))
	}
	var me *source.MapError
	if errors.As(err, &me) {
		return fmt.Errorf("source %s: %s (herald would answer 400 mapping-failed)", name, me)
	}
	return err
}

// canonicalEvent is an event as the structured CloudEvent herald accepts.
type canonicalEvent struct {
	SpecVersion string     `json:"specversion"`
	ID          string     `json:"id"`
	Source      string     `json:"source"`
	Type        string     `json:"type"`
	Subject     string     `json:"subject,omitempty"`
	Time        *time.Time `json:"time,omitempty"`
	Data        struct {
		Audience     event.Audience     `json:"audience"`
		Notification event.Notification `json:"notification"`
	} `json:"data"`
}

func canonical(ev event.Event) canonicalEvent {
	c := canonicalEvent{SpecVersion: "1.0", ID: ev.SourceID, Source: ev.Source, Type: ev.Type, Subject: ev.Subject}
	if !ev.Time.IsZero() {
		c.Time = &ev.Time
	}
	c.Data.Audience, c.Data.Notification = ev.Audience, ev.Notification
	return c
}
