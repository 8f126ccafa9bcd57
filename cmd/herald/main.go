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
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := cli.Execute(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
