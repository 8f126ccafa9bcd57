package natshub

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
)

// embeddedStartTimeout bounds how long the in-process server may take to
// recover its streams and accept connections.
const embeddedStartTimeout = 60 * time.Second

// Embedded starts an in-process nats-server with JetStream storing under
// dataDir/nats, connects to it without a network listener and returns a Hub
// on it. Close shuts the server down.
func Embedded(ctx context.Context, dataDir string, opts Options) (*Hub, error) {
	opts, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	log := opts.Logger.With("component", "natshub")
	sopts := &server.Options{
		ServerName: "herald",
		DontListen: true,
		JetStream:  true,
		StoreDir:   filepath.Join(dataDir, "nats"),
		SyncAlways: opts.SyncAlways,
		NoSigs:     true,
	}
	ns, err := server.NewServer(sopts)
	if err != nil {
		return nil, fmt.Errorf("natshub: configure embedded server: %w", err)
	}
	ns.SetLoggerV2(serverLogger{log.With("server", "nats")}, false, false, false)
	ns.Start()
	wait := embeddedStartTimeout
	if dl, ok := ctx.Deadline(); ok {
		wait = time.Until(dl)
	}
	if !ns.ReadyForConnections(wait) {
		ns.Shutdown()
		ns.WaitForShutdown()
		return nil, fmt.Errorf("natshub: embedded server in %s not ready after %s", sopts.StoreDir, wait)
	}
	ncClosed := make(chan struct{})
	nc, err := nats.Connect("", nats.InProcessServer(ns), nats.Name("herald"),
		nats.ClosedHandler(func(*nats.Conn) { close(ncClosed) }))
	if err != nil {
		ns.Shutdown()
		ns.WaitForShutdown()
		return nil, fmt.Errorf("natshub: connect to embedded server: %w", err)
	}
	h, err := Connect(ctx, nc, opts)
	if err != nil {
		nc.Close()
		ns.Shutdown()
		ns.WaitForShutdown()
		return nil, err
	}
	h.ns = ns
	h.ncClosed = ncClosed
	log.Info("embedded server started", "store", sopts.StoreDir, "sync_always", opts.SyncAlways,
		"version", server.VERSION)
	return h, nil
}

// serverLogger routes nats-server logs to slog. The server's notices (its
// start banner, mostly) become debug records; its debug and trace output
// is dropped.
type serverLogger struct{ log *slog.Logger }

func (l serverLogger) Noticef(format string, v ...any) { l.log.Debug(fmt.Sprintf(format, v...)) }
func (l serverLogger) Warnf(format string, v ...any)   { l.log.Warn(fmt.Sprintf(format, v...)) }
func (l serverLogger) Fatalf(format string, v ...any)  { l.log.Error(fmt.Sprintf(format, v...)) }
func (l serverLogger) Errorf(format string, v ...any)  { l.log.Error(fmt.Sprintf(format, v...)) }
func (l serverLogger) Debugf(string, ...any)           {}
func (l serverLogger) Tracef(string, ...any)           {}
