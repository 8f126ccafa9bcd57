package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/herald/herald/internal/deadletter"
)

// printDeadLetters writes a table of dead letters.
func printDeadLetters(w io.Writer, list []deadletter.View) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SEQ\tTOPIC\tCHANNEL\tEVENT\tRECIPIENTS\tATTEMPTS\tAT\tLAST ERROR")
	for _, d := range list {
		ev := "-"
		if len(d.Events) > 0 {
			ev = d.Events[0]
			if len(d.Events) > 1 {
				ev += fmt.Sprintf(" (+%d)", len(d.Events)-1)
			}
		}
		who := "-"
		if len(d.Recipients) > 0 {
			who = strings.Join(d.Recipients[:min(3, len(d.Recipients))], ",")
			if d.RecipientCount > 3 {
				who += fmt.Sprintf(" (+%d)", d.RecipientCount-3)
			}
		}
		ch := d.Channel
		if ch == "" {
			ch = "-"
		}
		last := d.LastError
		if last == "" {
			last = d.Reason
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%d\t%s\t%s\n", d.Seq, d.Topic, ch, ev, who, d.Attempts, d.At.Format(time.RFC3339), oneLine(last, 100))
	}
	return tw.Flush()
}

// oneLine shortens s to one line of at most n runes.
func oneLine(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if r := []rune(s); len(r) > n {
		return string(r[:n-1]) + "…"
	}
	return s
}

// selection is how dlq replay and purge pick dead letters: --all, or a
// --filter and --older-than.
type selection struct {
	all       bool
	filter    string
	olderThan time.Duration
}

func (s *selection) register(cmd *cobra.Command) {
	cmd.Flags().BoolVar(&s.all, "all", false, "every dead letter")
	cmd.Flags().StringVar(&s.filter, "filter", "", "comma-separated terms: topic=events|deliveries, reason~=TEXT (contains, any case), event=ID, channel=NAME, user=ID, before=RFC3339")
	cmd.Flags().DurationVar(&s.olderThan, "older-than", 0, "only dead letters stored longer ago than this (such as 24h)")
}

// bulk reports whether the command works on a selection (--all, --filter,
// --older-than) rather than the seqs in args, refusing both or neither.
func (s selection) bulk(args []string) (bool, error) {
	bulk := s.all || s.filter != "" || s.olderThan != 0
	switch {
	case bulk && len(args) > 0:
		return false, errors.New("give seqs or a selection (--all, --filter, --older-than), not both")
	case !bulk && len(args) == 0:
		return false, errors.New("say which dead letters: seqs, --all, --filter or --older-than")
	}
	return bulk, nil
}

// body builds the API's bulk request (a deadletter.Request).
func (s *selection) body(dryRun bool) ([]byte, error) {
	f, err := deadletter.ParseFilter(s.filter)
	if err != nil {
		return nil, err
	}
	if s.olderThan < 0 {
		return nil, errors.New("--older-than must be positive")
	}
	if f.IsZero() && s.olderThan == 0 && !s.all {
		return nil, errors.New("say which dead letters: --all, --filter or --older-than")
	}
	req := deadletter.Request{All: s.all, Filter: f, DryRun: dryRun}
	if s.olderThan > 0 {
		req.OlderThan = s.olderThan.String()
	}
	return json.Marshal(req)
}

// checkSeqs refuses args that are not dead letters' seqs.
func checkSeqs(args []string) error {
	for _, a := range args {
		if _, err := strconv.ParseUint(a, 10, 64); err != nil {
			return fmt.Errorf("%q is not a dead letter's seq (see 'herald dlq list')", a)
		}
	}
	return nil
}

func newDLQCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "dlq", Short: "Inspect, replay and purge dead letters (needs an admin key)"}
	var sf serverFlags
	sf.registerPersistent(cmd)
	var after uint64
	var limit int
	list := &cobra.Command{
		Use: "list", Short: "List dead letters, oldest first", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := sf.resolvedClient(cmd)
			if err != nil {
				return err
			}
			var out struct {
				DeadLetters []deadletter.View `json:"deadLetters"`
			}
			path := fmt.Sprintf("/v1/deadletters?after=%d&limit=%d", after, limit)
			if err := c.Do(cmd.Context(), http.MethodGet, path, "", nil, &out); err != nil {
				return err
			}
			return printDeadLetters(cmd.OutOrStdout(), out.DeadLetters)
		},
	}
	list.Flags().Uint64Var(&after, "after", 0, "list dead letters after this seq")
	list.Flags().IntVar(&limit, "limit", 100, "most dead letters to list (1-1000)")
	show := &cobra.Command{
		Use: "show SEQ", Short: "Print one dead letter with its message", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := sf.resolvedClient(cmd)
			if err != nil {
				return err
			}
			seq, err := strconv.ParseUint(args[0], 10, 64)
			if err != nil || seq == 0 {
				return fmt.Errorf("%q is not a dead letter's seq (see 'herald dlq list')", args[0])
			}
			var out struct {
				DeadLetters []deadletter.View `json:"deadLetters"`
			}
			if err := c.Do(cmd.Context(), http.MethodGet, fmt.Sprintf("/v1/deadletters?after=%d&limit=1", seq-1), "", nil, &out); err != nil {
				return err
			}
			if len(out.DeadLetters) == 0 || out.DeadLetters[0].Seq != seq {
				return fmt.Errorf("no dead letter %d", seq)
			}
			b, _ := json.MarshalIndent(out.DeadLetters[0], "", "  ")
			fmt.Fprintln(cmd.OutOrStdout(), string(b))
			return nil
		},
	}

	var replaySel selection
	var replayDry bool
	replay := &cobra.Command{
		Use:   "replay [SEQ...]",
		Short: "Send dead letters back to their topic (safe to repeat)",
		Long: "Send dead letters back to their topic: the ones named by seq, or every one selected by\n" +
			"--all, --filter and --older-than. Replaying is idempotent: people who already have a\n" +
			"notification are skipped. The dead letters stay listed (purge them once delivered).",
		Example: "  herald dlq replay 12 13\n  herald dlq replay --filter topic=deliveries,reason~=503\n  herald dlq replay --all --dry-run",
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := sf.resolvedClient(cmd)
			if err != nil {
				return err
			}
			bulk, err := replaySel.bulk(args)
			switch {
			case err != nil:
				return err
			case bulk:
				body, err := replaySel.body(replayDry)
				if err != nil {
					return err
				}
				var ans deadletter.Answer
				if err := c.Do(cmd.Context(), http.MethodPost, "/v1/deadletters:replay", "application/json", body, &ans); err != nil {
					return err
				}
				if replayDry {
					if err := printDeadLetters(cmd.OutOrStdout(), ans.DeadLetters); err != nil {
						return err
					}
					fmt.Fprintf(cmd.OutOrStdout(), "%d dead letter(s) would be replayed; run again without --dry-run to replay them\n", ans.Matched)
					return nil
				}
				fmt.Fprintf(cmd.OutOrStdout(), "replayed %d dead letter(s)\n", ans.Matched)
				return nil
			}
			if err := checkSeqs(args); err != nil {
				return err
			}
			for _, a := range args {
				if err := c.Do(cmd.Context(), http.MethodPost, "/v1/deadletters/"+a+"/replay", "", nil, nil); err != nil {
					return fmt.Errorf("replay %s: %w", a, err)
				}
				fmt.Fprintf(cmd.OutOrStdout(), "replayed %s\n", a)
			}
			return nil
		},
	}
	replaySel.register(replay)
	replay.Flags().BoolVar(&replayDry, "dry-run", false, "list what would be replayed, replay nothing")

	var purgeSel selection
	var yes bool
	purge := &cobra.Command{
		Use:   "purge [SEQ...]",
		Short: "Remove dead letters for good (asks for --yes; without it, lists what it would remove)",
		Long: "Remove dead letters for good: the ones named by seq, or every one selected by --all,\n" +
			"--filter and --older-than. Without --yes nothing is removed: the command lists what\n" +
			"it would remove.",
		Example: "  herald dlq purge --older-than 720h --yes\n  herald dlq purge --filter event=training-42\n  herald dlq purge 7 --yes",
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := sf.resolvedClient(cmd)
			if err != nil {
				return err
			}
			bulk, err := purgeSel.bulk(args)
			switch {
			case err != nil:
				return err
			case bulk:
				body, err := purgeSel.body(!yes)
				if err != nil {
					return err
				}
				var ans deadletter.Answer
				if err := c.Do(cmd.Context(), http.MethodPost, "/v1/deadletters:purge", "application/json", body, &ans); err != nil {
					return err
				}
				if !yes {
					if err := printDeadLetters(cmd.OutOrStdout(), ans.DeadLetters); err != nil {
						return err
					}
					fmt.Fprintf(cmd.OutOrStdout(), "%d dead letter(s) would be purged; run again with --yes to remove them\n", ans.Matched)
					return nil
				}
				n := 0
				if ans.Purged != nil {
					n = *ans.Purged
				}
				fmt.Fprintf(cmd.OutOrStdout(), "purged %d dead letter(s)\n", n)
				return nil
			}
			if err := checkSeqs(args); err != nil {
				return err
			}
			if !yes {
				fmt.Fprintf(cmd.OutOrStdout(), "would purge dead letter(s) %s; run again with --yes to remove them\n", strings.Join(args, ", "))
				return nil
			}
			for _, a := range args {
				if err := c.Do(cmd.Context(), http.MethodDelete, "/v1/deadletters/"+a, "", nil, nil); err != nil {
					return fmt.Errorf("purge %s: %w", a, err)
				}
				fmt.Fprintf(cmd.OutOrStdout(), "purged %s\n", a)
			}
			return nil
		},
	}
	purgeSel.register(purge)
	purge.Flags().BoolVar(&yes, "yes", false, "really remove them")
	cmd.AddCommand(list, show, replay, purge)
	return cmd
}
