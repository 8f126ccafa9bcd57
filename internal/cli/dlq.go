package cli

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
)

// deadLetter mirrors the API's dead letter.
type deadLetter struct {
	Seq      uint64    `json:"seq"`
	Topic    string    `json:"topic"`
	Key      string    `json:"key"`
	Reason   string    `json:"reason"`
	Attempts int       `json:"attempts"`
	At       time.Time `json:"at"`
	Data     string    `json:"data"`
}

func newDLQCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "dlq", Short: "Inspect and replay dead letters (needs an admin key)"}
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
				DeadLetters []deadLetter `json:"deadLetters"`
			}
			path := fmt.Sprintf("/v1/deadletters?after=%d&limit=%d", after, limit)
			if err := c.Do(cmd.Context(), http.MethodGet, path, "", nil, &out); err != nil {
				return err
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "SEQ\tTOPIC\tATTEMPTS\tAT\tREASON")
			for _, d := range out.DeadLetters {
				fmt.Fprintf(tw, "%d\t%s\t%d\t%s\t%s\n", d.Seq, d.Topic, d.Attempts, d.At.Format(time.RFC3339), d.Reason)
			}
			return tw.Flush()
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
				DeadLetters []deadLetter `json:"deadLetters"`
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
	replay := &cobra.Command{
		Use: "replay SEQ...", Short: "Send dead letters back to their topic (safe to repeat)", Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := sf.resolvedClient(cmd)
			if err != nil {
				return err
			}
			for _, a := range args {
				if _, err := strconv.ParseUint(a, 10, 64); err != nil {
					return fmt.Errorf("%q is not a dead letter's seq (see 'herald dlq list')", a)
				}
				if err := c.Do(cmd.Context(), http.MethodPost, "/v1/deadletters/"+a+"/replay", "", nil, nil); err != nil {
					return fmt.Errorf("replay %s: %w", a, err)
				}
				fmt.Fprintf(cmd.OutOrStdout(), "replayed %s\n", a)
			}
			return nil
		},
	}
	cmd.AddCommand(list, show, replay)
	return cmd
}
