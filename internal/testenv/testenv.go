// Package testenv holds, for tests only, the rule they follow when
// something they need from the machine is missing (a local service, Node
// packages, a browser): on a developer machine the test is skipped and says
// how to get it; in CI (CI=true) it fails, so that a missing service never
// passes for a green run. It also connects to the machine's NATS server.
package testenv

import (
	"context"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// NATSURL is the machine's NATS server with JetStream.
const NATSURL = "nats://127.0.0.1:4222"

// Need skips tb, or fails it when CI=true, if err says that what the test
// needs is missing; what names the test, how tells how to get it.
func Need(tb testing.TB, err error, what, how string) {
	tb.Helper()
	if err == nil {
		return
	}
	if os.Getenv("CI") == "true" {
		tb.Fatalf("%s cannot run (%v): %s", what, err, how)
	}
	tb.Skipf("%s cannot run (%v): %s", what, err, how)
}

// Node returns the node binary, or an error for Need when node is not on
// PATH or one of files (such as a project's node_modules/PKG/package.json,
// or a browser) is missing.
func Node(files ...string) (string, error) {
	node, err := exec.LookPath("node")
	if err != nil {
		return "", err
	}
	for _, f := range files {
		if _, err := os.Stat(f); err != nil {
			return "", err
		}
	}
	return node, nil
}

// NATS connects to the machine's NATS server (Need's rule when it does not
// answer) and closes the connection when tb ends.
func NATS(tb testing.TB, opts ...nats.Option) *nats.Conn {
	tb.Helper()
	nc, err := nats.Connect(NATSURL, append([]nats.Option{nats.Timeout(2 * time.Second)}, opts...)...)
	Need(tb, err, "a test on the NATS server at "+NATSURL, "start nats-server with JetStream (nats-server -js)")
	tb.Cleanup(nc.Close)
	return nc
}

// DeleteStreamsAtCleanup deletes, when tb ends, the streams whose names
// start with prefix: a test's own, on a server tests share.
func DeleteStreamsAtCleanup(tb testing.TB, nc *nats.Conn, prefix string) {
	tb.Cleanup(func() {
		js, err := jetstream.New(nc)
		if err != nil {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		for name := range js.StreamNames(ctx).Name() {
			if strings.HasPrefix(name, prefix) {
				if err := js.DeleteStream(ctx, name); err != nil {
					tb.Errorf("delete stream %s: %v", name, err)
				}
			}
		}
	})
}
