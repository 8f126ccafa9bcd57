package cli

import (
	"fmt"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/herald/herald/internal/app"
	"github.com/herald/herald/internal/config"
)

func newConfigCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "config", Short: "Inspect herald's settings"}
	var o app.Options
	var lf logFlags
	print := &cobra.Command{
		Use:   "print",
		Short: "Print the settings 'serve' would use, where each came from, secrets redacted",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := resolve(cmd); err != nil {
				return err
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "SETTING\tVALUE\tSOURCE\tENVIRONMENT")
			for _, s := range config.Print(cmd.Flags()) {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", s.Name, s.Value, s.Source, s.Env)
			}
			return tw.Flush()
		},
	}
	serveFlags(print, &o)
	lf.register(print)
	cmd.AddCommand(print)
	return cmd
}
