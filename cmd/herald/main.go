// Command herald is a self-hosted proactive-notification platform: it turns
// events from enterprise systems into notifications that reach people in
// their inbox, their assistant conversation and on their devices.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
	_ "time/tzdata" // IANA zones for quiet hours even on machines without zone files

	"github.com/herald/herald/internal/cli"
)

func main() {
	os.Exit(run())
}

// run executes the command line with SIGINT and SIGTERM cancelling its
// context, and returns the exit code.
func run() int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return cli.Execute(ctx, os.Args[1:], os.Stdout, os.Stderr)
}
