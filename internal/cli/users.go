package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	"github.com/spf13/cobra"

	"github.com/herald/herald/internal/client"
	"github.com/herald/herald/internal/userimport"
)

func newUsersCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "users", Short: "Manage people known to herald"}
	var sf serverFlags
	var format string
	imp := &cobra.Command{
		Use:   "import FILE",
		Short: "Import people (preferences and topics) from CSV or JSONL, with progress",
		Long: "Stream a CSV or JSONL file of people to herald (POST /v1/users:import).\n\n" +
			"CSV: a header row naming columns among " + strings.Join(userimport.CSVColumns, ", ") + "\n" +
			"(id required; topics separated by ';').\n" +
			"JSONL: one object per line: {\"id\", \"locale\", \"timeZone\", \"topics\": [...], \"preferences\": {...}}.\n\n" +
			"Bad rows are skipped and listed with their line numbers; the summary says exactly how many\n" +
			"rows were stored. The exit code is 2 when any row failed.",
		Example: "  herald users import people.csv --key $KEY\n  herald users import people.jsonl --key $KEY",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := sf.resolvedClient(cmd)
			if err != nil {
				return err
			}
			f, err := os.Open(args[0])
			if err != nil {
				return err
			}
			defer f.Close()
			info, err := f.Stat()
			if err != nil {
				return err
			}
			if format == "" {
				format = strings.TrimPrefix(strings.ToLower(filepath.Ext(args[0])), ".")
				if format == "ndjson" {
					format = "jsonl"
				}
			}
			contentType := map[string]string{"csv": "text/csv", "jsonl": "application/x-ndjson"}[format]
			if contentType == "" {
				return fmt.Errorf("cannot tell the format of %s: pass --format csv or --format jsonl", args[0])
			}
			body := &countingReader{r: f}
			stop := importProgress(cmd.Context(), cmd.ErrOrStderr(), body, info.Size())
			var res struct {
				Imported int                   `json:"imported"`
				Failed   int                   `json:"failed"`
				Complete bool                  `json:"complete"`
				Stopped  string                `json:"stopped"`
				Errors   []userimport.RowError `json:"errors"`
			}
			start := time.Now()
			err = c.DoStream(cmd.Context(), http.MethodPost, "/v1/users:import", contentType, body, &res)
			stop()
			var ae *client.APIError
			if err != nil && !(errors.As(err, &ae) && len(ae.Body) > 0 && json.Unmarshal(ae.Body, &res) == nil && res.Imported+res.Failed > 0) {
				return err
			}
			el := time.Since(start)
			fmt.Fprintf(cmd.OutOrStdout(), "imported %d people in %s (%.0f/s); %d rows failed\n", res.Imported, el.Round(time.Millisecond), float64(res.Imported)/el.Seconds(), res.Failed)
			for i, e := range res.Errors {
				if i == 20 {
					fmt.Fprintf(cmd.OutOrStdout(), "  ... and %d more\n", res.Failed-20)
					break
				}
				fmt.Fprintf(cmd.OutOrStdout(), "  %s\n", e.Error())
			}
			if !res.Complete {
				return &exitError{code: 1, err: fmt.Errorf("the import stopped early: %s", res.Stopped)}
			}
			if res.Failed > 0 {
				return &exitError{code: 2, err: fmt.Errorf("%d rows were not imported (listed above)", res.Failed)}
			}
			return nil
		},
	}
	sf.register(imp)
	imp.Flags().StringVar(&format, "format", "", "csv or jsonl (default: from the file name)")
	cmd.AddCommand(imp)
	return cmd
}

// countingReader counts the bytes read through it.
type countingReader struct {
	r io.Reader
	n atomic.Int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n.Add(int64(n))
	return n, err
}

// importProgress prints the share of the file sent every second.
func importProgress(ctx context.Context, w io.Writer, body *countingReader, size int64) func() {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(time.Second)
		defer t.Stop()
		start := time.Now()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				sent := body.n.Load()
				pct := 100.0
				if size > 0 {
					pct = 100 * float64(sent) / float64(size)
				}
				fmt.Fprintf(w, "[%5.0fs] sent %s of %s (%.0f%%)\n", time.Since(start).Seconds(), mib(sent), mib(size), pct)
			}
		}
	}()
	return func() { cancel(); <-done }
}

func mib(n int64) string { return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20)) }
