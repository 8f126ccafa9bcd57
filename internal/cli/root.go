// Package cli is herald's command line: one file per subcommand, each
// reading its settings through package config (flags, HERALD_* variables,
// an optional YAML file) and returning errors instead of exiting.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"

	"github.com/spf13/cobra"

	"github.com/herald/herald/internal/config"
)

// Version is set at build time with -ldflags "-X github.com/herald/herald/internal/cli.Version=...".
var Version = "dev"

// exitError carries a specific exit code.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }

// Execute runs the command line and returns the process exit code.
func Execute(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	root := newRoot(stdout, stderr)
	root.SetArgs(args)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return 0
	}
	fmt.Fprintln(stderr, "herald:", err)
	var ee *exitError
	if errors.As(err, &ee) {
		return ee.code
	}
	return 1
}

func newRoot(stdout, stderr io.Writer) *cobra.Command {
	root := &cobra.Command{
		Use:           "herald",
		Short:         "herald turns enterprise events into proactive notifications",
		Long:          "herald turns events from enterprise systems into proactive notifications that reach people\nin their inbox, their assistant conversation and on their devices.\n\nEvery flag can also be set with a HERALD_* environment variable (HERALD_ plus the flag\nname in upper case, '-' as '_') or as a key in the YAML file given by --config.",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.AddCommand(
		newServeCmd(), newKeysCmd(), newSendCmd(), newProduceCmd(), newPrefsCmd(), newTopicsCmd(), newUsersCmd(), newDLQCmd(),
		newBenchCmd(), newVersionCmd(), newConfigCmd(),
		newDevicesCmd(), newVapidCmd(), newSourcesCmd(),
	)
	return root
}

// resolve applies environment variables and the config file to cmd's flags;
// every command calls it first.
func resolve(cmd *cobra.Command) error {
	return config.Resolve(cmd.Flags())
}

// logFlags holds the logging settings shared by long-running commands.
type logFlags struct {
	level  string
	format string
}

func (l *logFlags) register(cmd *cobra.Command) {
	cmd.Flags().StringVar(&l.level, "log-level", "info", "log level: debug, info, warn or error")
	cmd.Flags().StringVar(&l.format, "log-format", "text", "log format: text or json")
}

func (l *logFlags) logger(w io.Writer) (*slog.Logger, error) {
	var level slog.Level
	if err := level.UnmarshalText([]byte(l.level)); err != nil {
		return nil, fmt.Errorf("--log-level: %q is not one of debug, info, warn, error", l.level)
	}
	opts := &slog.HandlerOptions{Level: level}
	switch strings.ToLower(l.format) {
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("--log-format: %q is not text or json", l.format)
}

func newVersionCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print herald's version",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			fmt.Fprintln(cmd.OutOrStdout(), "herald", Version)
			return nil
		},
	}
}
