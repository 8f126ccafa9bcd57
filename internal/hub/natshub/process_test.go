package natshub_test

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"github.com/herald/herald/internal/hub"
	"github.com/herald/herald/internal/hub/hubtest"
	"github.com/herald/herald/internal/hub/natshub"
)

// serverEnv makes the test binary run as a nats-server: the current one,
// the same module herald embeds, in a process of its own.
const serverEnv = "HERALD_TEST_AS_NATS_SERVER"

func TestMain(m *testing.M) {
	if port := os.Getenv(serverEnv); port != "" {
		os.Exit(runServer(port))
	}
	os.Exit(m.Run())
}

// runServer serves JetStream on 127.0.0.1:port until SIGTERM.
func runServer(port string) int {
	p, err := strconv.Atoi(port)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	dir, err := os.MkdirTemp("", "herald-nats-server-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	ns, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: p, JetStream: true, StoreDir: dir, NoSigs: true})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	ns.Start()
	if !ns.ReadyForConnections(10 * time.Second) {
		fmt.Fprintln(os.Stderr, "nats-server not ready")
		return 1
	}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, os.Interrupt)
	<-sig
	ns.Shutdown()
	ns.WaitForShutdown()
	return 0
}

// TestCurrentServerProcessConformance runs the hub suite against a current
// nats-server started by the test as a separate process on a loopback port,
// beside the machine's own (older) server used by the external tests.
func TestCurrentServerProcessConformance(t *testing.T) {
	t.Parallel()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), serverEnv+"="+strconv.Itoa(port))
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Signal(syscall.SIGTERM); _ = cmd.Wait() })
	url := fmt.Sprintf("nats://127.0.0.1:%d", port)
	var nc *nats.Conn
	deadline := time.Now().Add(20 * time.Second)
	for {
		nc, err = nats.Connect(url, nats.Timeout(time.Second))
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the nats-server process at %s did not answer: %v", url, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Cleanup(nc.Close)
	t.Logf("nats-server %s in its own process at %s", nc.ConnectedServerVersion(), url)
	hubtest.Run(t, func(t *testing.T) hub.Hub {
		return connectExternal(t, nc, natshub.Options{})
	}, hubtest.Features{Dedup: true})
}
