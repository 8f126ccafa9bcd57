package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/herald/herald/internal/bench"
	"github.com/herald/herald/internal/client"
	"github.com/herald/herald/internal/event"
	"github.com/herald/herald/internal/store/pgstore/pgtest"
	"github.com/herald/herald/internal/testenv"
)

// cluster is herald scaled out: one api process and several worker
// processes (handler and delivery) sharing a PostgreSQL schema and a hub.
type cluster struct {
	t       *testing.T
	store   string   // the store URL, with an application_name to find our connections
	appName string   // that application_name
	hub     []string // --hub and --hub-prefix arguments
	api     *serveProcess
	apiAddr string
	client  *client.Client
	key     string
	workers []*serveProcess
	n       int
}

func (c *cluster) start(roles string) (*serveProcess, string) {
	c.t.Helper()
	c.n++
	dir := filepath.Join(c.t.TempDir(), fmt.Sprintf("p%d", c.n))
	if err := os.MkdirAll(dir, 0o750); err != nil {
		c.t.Fatal(err)
	}
	addr := freeAddr(c.t)
	args := append([]string{"--roles", roles, "--store", c.store, "--ack-wait", "3s", "--conversation", "off"}, c.hub...)
	return startServeWith(c.t, dir, addr, args...), addr
}

// startServeWith is startServe with more arguments.
func startServeWith(t *testing.T, dataDir, addr string, args ...string) *serveProcess {
	t.Helper()
	logf, err := os.OpenFile(filepath.Join(dataDir, "serve.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	cmd := herald(t, append([]string{"serve", "--data", dataDir, "--addr", addr, "--log-level", "warn"}, args...)...)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &serveProcess{cmd: cmd, log: logf}
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get("http://" + addr + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return p
			}
		}
		if time.Now().After(deadline) {
			p.kill()
			log, _ := os.ReadFile(logf.Name())
			t.Fatalf("herald serve %v did not become ready:\n%s", args, log)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func newCluster(t *testing.T, hubArgs []string, workers int) *cluster {
	t.Helper()
	u, err := url.Parse(pgtest.SchemaURL(t))
	if err != nil {
		t.Fatal(err)
	}
	c := &cluster{t: t, hub: hubArgs, appName: fmt.Sprintf("herald-scaleout-%d", time.Now().UnixNano())}
	q := u.Query()
	q.Set("application_name", c.appName)
	u.RawQuery = q.Encode()
	c.store = u.String()
	key := strings.TrimSpace(runCLI(t, nil, "keys", "create", "--role", "admin", "--name", "scaleout", "--data", t.TempDir(), "--store", c.store))
	c.api, c.apiAddr = c.start("api")
	t.Cleanup(func() { c.api.kill() })
	c.client, c.key = client.New("http://"+c.apiAddr, key), key
	for range workers {
		p, _ := c.start("handler,delivery")
		c.workers = append(c.workers, p)
	}
	t.Cleanup(func() {
		for _, w := range c.workers {
			w.kill()
		}
	})
	return c
}

// terminateConnections kills the store connections of every process of
// the cluster, as a failover does.
func (c *cluster) terminateConnections() int {
	c.t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, pgtest.URL(c.t))
	if err != nil {
		c.t.Fatal(err)
	}
	defer conn.Close(ctx)
	var n int
	if err := conn.QueryRow(ctx, `SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = $1`, c.appName).Scan(&n); err != nil {
		c.t.Fatal(err)
	}
	return n
}

// lag reads the api process's hub lag gauges.
func (c *cluster) lag() (int, error) { return bench.HubLag(c.apiAddr) }

// runScaleOut streams events into the cluster while it SIGKILLs a worker
// (and starts another) and, with terminate, kills every store connection;
// then checks that every event is in its recipient's inbox exactly once
// and that the hub's lag returns to zero.
func runScaleOut(t *testing.T, c *cluster, events int) {
	const users, batch = 100, 100
	// A live stream on the api process: the notifications are delivered by
	// the worker processes, and each must appear on it once.
	streamed := c.openStream("u7")
	var mu sync.Mutex
	accepted := map[string]string{}
	requests := make(chan []string)
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for ids := range requests {
				body := batchBody(ids, users)
				for {
					resp, err := c.client.PostEvents(context.Background(), event.MediaCloudEventBatch, body)
					if err == nil {
						mu.Lock()
						for _, a := range resp.Accepted {
							accepted[a.ID] = userFor(a.SourceID, users)
						}
						mu.Unlock()
						break
					}
					var ae *client.APIError
					if errors.As(err, &ae) && !ae.Retryable() {
						t.Errorf("request refused: %v", err)
						break
					}
					time.Sleep(20 * time.Millisecond)
				}
			}
		})
	}
	start := time.Now()
	for i := 0; i < events; i += batch {
		ids := make([]string, batch)
		for j := range ids {
			ids[j] = fmt.Sprintf("crash-%d", i+j)
		}
		requests <- ids
		switch i / batch {
		case events / batch / 3:
			c.workers[0].kill()
			p, _ := c.start("handler,delivery")
			c.workers = append(c.workers, p)
			t.Logf("SIGKILLed worker 1 and started worker %d after %d events were sent", len(c.workers), i)
		case 2 * events / batch / 3:
			t.Logf("terminated %d store connections after %d events were sent", c.terminateConnections(), i)
		}
	}
	close(requests)
	wg.Wait()
	if len(accepted) != events {
		t.Fatalf("%d distinct events accepted, want %d", len(accepted), events)
	}
	t.Logf("%d events accepted in %s", events, time.Since(start).Round(time.Millisecond))
	deadline := time.Now().Add(3 * time.Minute)
	for {
		total, dups, missing := inboxCensus(t, c.client, users, accepted)
		if dups > 0 {
			t.Fatalf("%d duplicate notifications", dups)
		}
		lag, err := c.lag()
		if missing == 0 && total == events && err == nil && lag == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d events in inboxes (%d missing), hub lag %d (%v)", total, events, missing, lag, err)
		}
		time.Sleep(500 * time.Millisecond)
	}
	t.Logf("every event in its inbox exactly once and the hub lag back to zero after %s", time.Since(start).Round(time.Millisecond))
	want := 0
	for _, u := range accepted {
		if u == "u7" {
			want++
		}
	}
	deadline = time.Now().Add(10 * time.Second)
	for {
		got, dups := streamed()
		if dups > 0 {
			t.Fatalf("the live stream repeated %d notifications", dups)
		}
		if got == want {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the live stream on the api process showed %d of u7's %d notifications", got, want)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// openStream opens user's live stream on the api process and returns a
// function counting the notifications seen and the repeats.
func (c *cluster) openStream(user string) func() (seen, dups int) {
	c.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	c.t.Cleanup(cancel)
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+c.apiAddr+client.UserPath(user, "/notifications/stream"), nil)
	req.Header.Set("Authorization", "Bearer "+c.key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != http.StatusOK {
		c.t.Fatalf("open stream: %v %v", err, resp)
	}
	var mu sync.Mutex
	ids := map[string]int{}
	go func() {
		defer resp.Body.Close()
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			if id, ok := strings.CutPrefix(sc.Text(), "id: "); ok {
				mu.Lock()
				ids[id]++
				mu.Unlock()
			}
		}
	}()
	return func() (int, int) {
		mu.Lock()
		defer mu.Unlock()
		dups := 0
		for _, n := range ids {
			dups += n - 1
		}
		return len(ids), dups
	}
}

// scaleOutEvents is the load: the 50,000, or 10,000 in -short mode.
func scaleOutEvents() int {
	if testing.Short() {
		return 10000
	}
	return 50000
}

// TestScaleOutOnNATSAndPostgres: an api process and three worker processes
// on the external NATS server and PostgreSQL.
func TestScaleOutOnNATSAndPostgres(t *testing.T) {
	nc := testenv.NATS(t)
	prefix := fmt.Sprintf("SCALE%d", time.Now().UnixNano())
	testenv.DeleteStreamsAtCleanup(t, nc, prefix)
	c := newCluster(t, []string{"--hub", testenv.NATSURL, "--hub-prefix", prefix}, 3)
	runScaleOut(t, c, scaleOutEvents())
}

// TestScaleOutOnKafkaAndPostgres: the same on a Kafka cluster (franz-go's
// kfake, on a loopback port).
func TestScaleOutOnKafkaAndPostgres(t *testing.T) {
	kc, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(kc.Close)
	c := newCluster(t, []string{"--hub", "kafka://" + strings.Join(kc.ListenAddrs(), ",")}, 3)
	runScaleOut(t, c, scaleOutEvents())
}
