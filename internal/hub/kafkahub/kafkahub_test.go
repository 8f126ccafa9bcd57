package kafkahub_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"math/big"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/herald/herald/internal/hub"
	"github.com/herald/herald/internal/hub/hubtest"
	"github.com/herald/herald/internal/hub/kafkahub"
)

// testCtx is a context for setting a test up.
func testCtx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// newCluster starts a one-broker kfake cluster on a loopback port and stops
// it at cleanup.
func newCluster(t testing.TB, opts ...kfake.Opt) *kfake.Cluster {
	t.Helper()
	c, err := kfake.NewCluster(append([]kfake.Opt{kfake.NumBrokers(1)}, opts...)...)
	if err != nil {
		t.Fatalf("kfake cluster: %v", err)
	}
	t.Cleanup(c.Close)
	return c
}

// open connects a hub to cluster c and closes it at cleanup.
func open(t testing.TB, c *kfake.Cluster, opts kafkahub.Options) *kafkahub.Hub {
	t.Helper()
	opts.Brokers = c.ListenAddrs()
	h, err := kafkahub.Connect(testCtx(t), opts)
	if err != nil {
		t.Fatalf("Connect: %v", err)
	}
	t.Cleanup(func() {
		if err := h.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return h
}

func TestConformance(t *testing.T) {
	t.Parallel()
	hubtest.Run(t, func(t *testing.T) hub.Hub {
		return open(t, newCluster(t), kafkahub.Options{})
	}, hubtest.Features{FanOut: true})
}

// consumeInBackground runs Consume until the returned stop is called, which
// checks it returned nil.
func consumeInBackground(t *testing.T, h hub.Hub, topic, group string, opts hub.ConsumeOptions, handler hub.Handler) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- h.Consume(ctx, topic, group, opts, handler) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("Consume: %v", err)
				}
			case <-time.After(30 * time.Second):
				t.Errorf("Consume did not return after its context ended")
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestUnsettledBatchGoesToTheNextConsumer simulates a crash: the first
// consumer gets a batch, settles none of it and stops; a new consumer of the
// group gets the whole batch again as attempt 2, and what followed it as
// attempt 1.
func TestUnsettledBatchGoesToTheNextConsumer(t *testing.T) {
	t.Parallel()
	h := open(t, newCluster(t), kafkahub.Options{Partitions: 1})
	ctx := testCtx(t)
	var all []hub.Message
	for i := range 50 {
		id := fmt.Sprintf("m%03d", i)
		all = append(all, hub.Message{Key: "k", ID: id, Data: []byte(id)})
	}
	if err := h.Publish(ctx, hub.TopicDeliveries, all...); err != nil {
		t.Fatal(err)
	}
	opts := hub.ConsumeOptions{BatchSize: 10, AckWait: time.Minute}

	var first []string
	got := make(chan struct{})
	stop := consumeInBackground(t, h, hub.TopicDeliveries, "workers", opts, func(ctx context.Context, batch []hub.Delivery) {
		if first != nil {
			return // only one batch: the consumer "crashes" holding it
		}
		for _, d := range batch {
			first = append(first, d.Message().ID)
		}
		close(got)
		<-ctx.Done()
	})
	<-got
	stop()
	if len(first) == 0 || len(first) > opts.BatchSize {
		t.Fatalf("first consumer got a batch of %d, want 1..%d", len(first), opts.BatchSize)
	}

	var mu sync.Mutex
	attempts := map[string]int{}
	consumeInBackground(t, h, hub.TopicDeliveries, "workers", opts, func(_ context.Context, batch []hub.Delivery) {
		mu.Lock()
		defer mu.Unlock()
		for _, d := range batch {
			attempts[d.Message().ID] = d.Attempt()
			if err := d.Ack(); err != nil {
				t.Errorf("Ack: %v", err)
			}
		}
	})
	waitFor(t, "every message at the second consumer", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(attempts) == len(all)
	})
	waitFor(t, "lag 0", func() bool {
		l, err := h.Lag(ctx, hub.TopicDeliveries, "workers")
		return err == nil && l.Pending == 0
	})
	mu.Lock()
	defer mu.Unlock()
	for _, m := range all {
		want := 1
		if slices.Contains(first, m.ID) {
			want = 2
		}
		if attempts[m.ID] != want {
			t.Errorf("%s: attempt %d at the second consumer, want %d", m.ID, attempts[m.ID], want)
		}
	}
}

// TestCrashLoopIsDeadLettered: a message whose consumer dies every time it
// handles it (no AckWait in between) is dead-lettered by the hub after
// MaxAttempts deliveries, counted across consumers.
func TestCrashLoopIsDeadLettered(t *testing.T) {
	t.Parallel()
	h := open(t, newCluster(t), kafkahub.Options{Partitions: 1})
	ctx := testCtx(t)
	poison := hub.Message{Key: "k", ID: "poison", Data: []byte("boom")}
	if err := h.Publish(ctx, hub.TopicEvents, poison); err != nil {
		t.Fatal(err)
	}
	opts := hub.ConsumeOptions{AckWait: time.Minute, MaxAttempts: 3}
	for want := 1; want <= opts.MaxAttempts; want++ {
		seen := make(chan int, 1)
		stop := consumeInBackground(t, h, hub.TopicEvents, "crashers", opts, func(ctx context.Context, batch []hub.Delivery) {
			seen <- batch[0].Attempt()
			<-ctx.Done() // "crash": never settle
		})
		select {
		case got := <-seen:
			if got != want {
				t.Errorf("consumer %d saw attempt %d", want, got)
			}
		case <-ctx.Done():
			t.Fatalf("consumer %d got nothing", want)
		}
		stop()
	}
	called := make(chan struct{}, 1)
	consumeInBackground(t, h, hub.TopicEvents, "crashers", opts, func(context.Context, []hub.Delivery) {
		called <- struct{}{}
	})
	waitFor(t, "the hub to dead-letter the poison message", func() bool {
		dls, err := h.DeadLetters(ctx, 0, 10)
		return err == nil && len(dls) == 1
	})
	dls, _ := h.DeadLetters(ctx, 0, 10)
	if dl := dls[0]; dl.Message.ID != poison.ID || dl.Attempts != opts.MaxAttempts || !strings.Contains(dl.Reason, "attempts") {
		t.Errorf("dead letter %+v, want %s with %d attempts", dl, poison.ID, opts.MaxAttempts)
	}
	waitFor(t, "lag 0", func() bool {
		l, err := h.Lag(ctx, hub.TopicEvents, "crashers")
		return err == nil && l.Pending == 0
	})
	select {
	case <-called:
		t.Errorf("handler called for a message past MaxAttempts")
	default:
	}
}

func TestConnectChecksPartitions(t *testing.T) {
	t.Parallel()
	c := newCluster(t)
	open(t, c, kafkahub.Options{Partitions: 3})

	_, err := kafkahub.Connect(testCtx(t), kafkahub.Options{Brokers: c.ListenAddrs(), Partitions: 6})
	if err == nil || !strings.Contains(err.Error(), "has 3 partitions") {
		t.Errorf("Connect with 6 partitions to 3-partition topics: %v, want an error naming 3 partitions", err)
	}
	adopted := open(t, c, kafkahub.Options{})
	if adopted.Partitions() != 3 {
		t.Errorf("Partitions() = %d after adopting 3-partition topics", adopted.Partitions())
	}
	fresh := open(t, c, kafkahub.Options{Prefix: "other"})
	if fresh.Partitions() != 4 {
		t.Errorf("Partitions() = %d for new topics, want the default 4", fresh.Partitions())
	}
}

func TestNoCreateTopicsNamesTheMissingTopic(t *testing.T) {
	t.Parallel()
	c := newCluster(t)
	_, err := kafkahub.Connect(testCtx(t), kafkahub.Options{Brokers: c.ListenAddrs(), NoCreateTopics: true})
	if err == nil || !strings.Contains(err.Error(), "herald.events") {
		t.Errorf("Connect without topics and NoCreateTopics: %v, want an error naming herald.events", err)
	}
	// Provisioned topics are adopted.
	adm, err := kadm.NewOptClient(kgo.SeedBrokers(c.ListenAddrs()...))
	if err != nil {
		t.Fatal(err)
	}
	defer adm.Close()
	if _, err := adm.CreateTopics(testCtx(t), 2, -1, nil, "herald.events", "herald.deliveries", "herald.dlq"); err != nil {
		t.Fatal(err)
	}
	h := open(t, c, kafkahub.Options{NoCreateTopics: true})
	if h.Partitions() != 2 {
		t.Errorf("Partitions() = %d, want the provisioned 2", h.Partitions())
	}
}

func TestConnectFailsWithoutBroker(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	_, err = kafkahub.Connect(ctx, kafkahub.Options{Brokers: []string{addr}})
	if err == nil || !strings.Contains(err.Error(), "no broker") {
		t.Errorf("Connect to %s: %v, want an error saying no broker answered", addr, err)
	}
}

func TestOptionsValidation(t *testing.T) {
	t.Parallel()
	token := func(context.Context) (string, error) { return "t", nil }
	tests := []struct {
		name string
		opts kafkahub.Options
		want string
	}{
		{"no brokers", kafkahub.Options{}, "brokers"},
		{"url broker", kafkahub.Options{Brokers: []string{"kafka://b:9092"}}, "host:port"},
		{"prefix", kafkahub.Options{Brokers: []string{"b:9092"}, Prefix: "her ald"}, "prefix"},
		{"partitions", kafkahub.Options{Brokers: []string{"b:9092"}, Partitions: -2}, "partitions"},
		{"replication", kafkahub.Options{Brokers: []string{"b:9092"}, ReplicationFactor: -3}, "replication"},
		{"sasl mechanism", kafkahub.Options{Brokers: []string{"b:9092"}, SASL: &kafkahub.SASL{Mechanism: "GSSAPI"}}, "GSSAPI"},
		{"sasl no mechanism", kafkahub.Options{Brokers: []string{"b:9092"}, SASL: &kafkahub.SASL{User: "u"}}, "mechanism"},
		{"plain user", kafkahub.Options{Brokers: []string{"b:9092"}, SASL: &kafkahub.SASL{Mechanism: "PLAIN"}}, "user"},
		{"scram password", kafkahub.Options{Brokers: []string{"b:9092"}, SASL: &kafkahub.SASL{Mechanism: "SCRAM-SHA-512", User: "u"}}, "password"},
		{"oauth token", kafkahub.Options{Brokers: []string{"b:9092"}, SASL: &kafkahub.SASL{Mechanism: "OAUTHBEARER"}}, "Token"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := kafkahub.Connect(context.Background(), tt.opts)
			if err == nil || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), "invalid options") {
				t.Errorf("Connect(%+v) = %v, want an invalid-options error about %s", tt.opts, err, tt.want)
			}
		})
	}
	// A valid OAUTHBEARER setting passes validation and fails only on the
	// unreachable broker.
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	_, err := kafkahub.Connect(ctx, kafkahub.Options{Brokers: []string{"127.0.0.1:1"},
		SASL: &kafkahub.SASL{Mechanism: "oauthbearer", Token: token}})
	if err == nil || strings.Contains(err.Error(), "invalid options") {
		t.Errorf("Connect with OAUTHBEARER and a token: %v, want only a connection error", err)
	}
}

func TestInvalidTopicAndGroup(t *testing.T) {
	t.Parallel()
	h := open(t, newCluster(t), kafkahub.Options{})
	ctx := testCtx(t)
	for _, topic := range []string{"dlq", "Events", "a.b", ""} {
		if err := h.Publish(ctx, topic, hub.Message{Data: []byte("x")}); err == nil {
			t.Errorf("Publish to topic %q succeeded, want an error", topic)
		}
	}
	if err := h.Consume(ctx, hub.TopicEvents, "a.b", hub.ConsumeOptions{}, func(context.Context, []hub.Delivery) {}); err == nil {
		t.Errorf("Consume as group %q succeeded, want an error", "a.b")
	}
	// Another topic is created on first use.
	if err := h.Publish(ctx, "audit", hub.Message{Key: "k", Data: []byte("x")}); err != nil {
		t.Errorf("Publish to a new topic: %v", err)
	}
}

// TestSASLAndTLS connects through TLS with each SASL mechanism kfake serves
// and checks that a wrong password or a missing TLS setting fails Connect.
func TestSASLAndTLS(t *testing.T) {
	t.Parallel()
	serverTLS, clientTLS := selfSignedTLS(t)
	c := newCluster(t,
		kfake.EnableSASL(),
		kfake.Superuser("PLAIN", "plain-user", "plain-pass"),
		kfake.Superuser("SCRAM-SHA-256", "scram256", "pass-256"),
		kfake.Superuser("SCRAM-SHA-512", "scram512", "pass-512"),
		kfake.TLS(serverTLS),
	)
	for _, s := range []kafkahub.SASL{
		{Mechanism: "PLAIN", User: "plain-user", Password: "plain-pass"},
		{Mechanism: "SCRAM-SHA-256", User: "scram256", Password: "pass-256"},
		{Mechanism: "scram-sha-512", User: "scram512", Password: "pass-512"},
	} {
		t.Run(s.Mechanism, func(t *testing.T) {
			h := open(t, c, kafkahub.Options{TLS: clientTLS, SASL: &s})
			ctx := testCtx(t)
			if err := h.Publish(ctx, hub.TopicEvents, hub.Message{Key: "k", ID: s.Mechanism, Data: []byte("x")}); err != nil {
				t.Fatalf("Publish over TLS with %s: %v", s.Mechanism, err)
			}
			got := make(chan string, 10)
			consumeInBackground(t, h, hub.TopicEvents, "sasl-"+strings.ToLower(s.Mechanism), hub.ConsumeOptions{},
				func(_ context.Context, batch []hub.Delivery) {
					for _, d := range batch {
						got <- d.Message().ID
						_ = d.Ack()
					}
				})
			select {
			case <-got:
			case <-ctx.Done():
				t.Fatalf("nothing consumed over TLS with %s", s.Mechanism)
			}
		})
	}
	t.Run("wrong password", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_, err := kafkahub.Connect(ctx, kafkahub.Options{Brokers: c.ListenAddrs(), TLS: clientTLS,
			SASL: &kafkahub.SASL{Mechanism: "SCRAM-SHA-256", User: "scram256", Password: "nope"}})
		if err == nil {
			t.Errorf("Connect with a wrong password succeeded")
		}
	})
	t.Run("no TLS", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_, err := kafkahub.Connect(ctx, kafkahub.Options{Brokers: c.ListenAddrs(),
			SASL: &kafkahub.SASL{Mechanism: "PLAIN", User: "plain-user", Password: "plain-pass"}})
		if err == nil {
			t.Errorf("Connect without TLS to a TLS listener succeeded")
		}
	})
}

// selfSignedTLS makes a certificate for 127.0.0.1 and the configurations of
// a server presenting it and a client trusting it.
func selfSignedTLS(t *testing.T) (server, client *tls.Config) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "kfake"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IPAddresses:           []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IsCA:                  true,
		BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	server = &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key, Leaf: cert}}, MinVersion: tls.VersionTLS12}
	client = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	return server, client
}

// TestRebalanceHandsOverWithoutLoss publishes while consumers of one group
// join and leave: every message is handled exactly once, as attempt 1,
// because a revoked partition finishes its batch and commits before it moves.
func TestRebalanceHandsOverWithoutLoss(t *testing.T) {
	t.Parallel()
	h := open(t, newCluster(t), kafkahub.Options{Partitions: 6})
	ctx := testCtx(t)
	var mu sync.Mutex
	seen := map[string]int{}
	by := map[string]int{} // messages handled by consumer
	handler := func(name string) hub.Handler {
		return func(_ context.Context, batch []hub.Delivery) {
			mu.Lock()
			defer mu.Unlock()
			for _, d := range batch {
				seen[d.Message().ID]++
				by[name]++
				if d.Attempt() != 1 {
					t.Errorf("%s: attempt %d, want 1", d.Message().ID, d.Attempt())
				}
				if err := d.Ack(); err != nil {
					t.Errorf("Ack: %v", err)
				}
			}
		}
	}
	handled := func(name string) int {
		mu.Lock()
		defer mu.Unlock()
		if name == "" {
			return len(seen)
		}
		return by[name]
	}
	published := 0
	publish := func() {
		var msgs []hub.Message
		for range 100 {
			id := fmt.Sprintf("m%05d", published)
			msgs = append(msgs, hub.Message{Key: fmt.Sprint("user-", published%37), ID: id, Data: []byte(id)})
			published++
		}
		if err := h.Publish(ctx, hub.TopicDeliveries, msgs...); err != nil {
			t.Fatal(err)
		}
	}
	// publishUntil keeps publishing until consumer name has handled some.
	publishUntil := func(name string) {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for handled(name) == 0 {
			if time.Now().After(deadline) {
				t.Fatalf("consumer %s never got a partition", name)
			}
			publish()
			time.Sleep(50 * time.Millisecond)
		}
	}
	opts := hub.ConsumeOptions{BatchSize: 25}
	stopA := consumeInBackground(t, h, hub.TopicDeliveries, "workers", opts, handler("A"))
	publishUntil("A")
	consumeInBackground(t, h, hub.TopicDeliveries, "workers", opts, handler("B"))
	publishUntil("B") // A gave B partitions
	stopA()
	publish() // B has every partition
	consumeInBackground(t, h, hub.TopicDeliveries, "workers", opts, handler("C"))
	publishUntil("C") // B gave C partitions
	waitFor(t, "every message", func() bool { return handled("") == published })
	waitFor(t, "lag 0", func() bool {
		l, err := h.Lag(ctx, hub.TopicDeliveries, "workers")
		return err == nil && l.Pending == 0
	})
	mu.Lock()
	defer mu.Unlock()
	t.Logf("%d messages; handled by A %d, B %d, C %d", published, by["A"], by["B"], by["C"])
	for id, n := range seen {
		if n != 1 {
			t.Errorf("%s handled %d times", id, n)
		}
	}
}

// TestRetryDoesNotHoldThePartition: a retried message waits for its delay
// in memory while later messages of its partition go on.
func TestRetryDoesNotHoldThePartition(t *testing.T) {
	t.Parallel()
	h := open(t, newCluster(t), kafkahub.Options{Partitions: 1})
	ctx := testCtx(t)
	const delay = time.Second
	first := hub.Message{Key: "k", ID: "first", Data: []byte("1")}
	second := hub.Message{Key: "k", ID: "second", Data: []byte("2")}
	if err := h.Publish(ctx, hub.TopicEvents, first); err != nil {
		t.Fatal(err)
	}
	type arrival struct {
		id      string
		attempt int
		at      time.Time
	}
	arrivals := make(chan arrival, 10)
	consumeInBackground(t, h, hub.TopicEvents, "retriers", hub.ConsumeOptions{}, func(_ context.Context, batch []hub.Delivery) {
		for _, d := range batch {
			arrivals <- arrival{d.Message().ID, d.Attempt(), time.Now()}
			var err error
			if d.Message().ID == first.ID && d.Attempt() == 1 {
				err = d.Retry(delay)
			} else {
				err = d.Ack()
			}
			if err != nil {
				t.Errorf("settle %s: %v", d.Message().ID, err)
			}
		}
	})
	next := func() arrival {
		select {
		case a := <-arrivals:
			return a
		case <-ctx.Done():
			t.Fatal("timed out")
			return arrival{}
		}
	}
	a1 := next()
	if err := h.Publish(ctx, hub.TopicEvents, second); err != nil {
		t.Fatal(err)
	}
	a2, a3 := next(), next()
	if a1.id != "first" || a2.id != "second" || a3.id != "first" || a3.attempt != 2 {
		t.Fatalf("arrivals %v %v %v, want first, second, first again as attempt 2", a1, a2, a3)
	}
	if gap := a3.at.Sub(a1.at); gap < delay {
		t.Errorf("retry came back after %s, before its delay %s", gap, delay)
	}
	if a2.at.Sub(a1.at) >= delay {
		t.Errorf("second message waited for the retry's delay")
	}
}

// TestHeldRetryHoldsTheCommitNotTheWork: while a retry waits for its time,
// thousands of later messages of its partition are handled (and dropped from
// memory); the committed offset stays at the retry, so lag counts them until
// it is settled.
func TestHeldRetryHoldsTheCommitNotTheWork(t *testing.T) {
	t.Parallel()
	h := open(t, newCluster(t), kafkahub.Options{Partitions: 1})
	ctx := testCtx(t)
	const delay = 2 * time.Second
	if err := h.Publish(ctx, hub.TopicEvents, hub.Message{Key: "k", ID: "later", Data: []byte("x")}); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	seen := map[string]int{}
	retried := make(chan struct{})
	consumeInBackground(t, h, hub.TopicEvents, "holders", hub.ConsumeOptions{}, func(_ context.Context, batch []hub.Delivery) {
		mu.Lock()
		defer mu.Unlock()
		for _, d := range batch {
			id := d.Message().ID
			seen[id]++
			var err error
			if id == "later" && d.Attempt() == 1 {
				err = d.Retry(delay)
				close(retried)
			} else {
				err = d.Ack()
			}
			if err != nil {
				t.Errorf("settle %s: %v", id, err)
			}
		}
	})
	<-retried
	const n = 10000
	var msgs []hub.Message
	for i := range n {
		id := fmt.Sprintf("m%05d", i)
		msgs = append(msgs, hub.Message{Key: fmt.Sprint("k", i%50), ID: id, Data: []byte(id)})
	}
	if err := h.Publish(ctx, hub.TopicEvents, msgs...); err != nil {
		t.Fatal(err)
	}
	count := func() int {
		mu.Lock()
		defer mu.Unlock()
		return len(seen)
	}
	waitFor(t, "the later messages", func() bool { return count() >= n })
	mu.Lock()
	early := seen["later"]
	mu.Unlock()
	if early == 1 {
		l, err := h.Lag(ctx, hub.TopicEvents, "holders")
		if err != nil || l.Pending < n {
			t.Errorf("lag %d (%v) while the retry waits, want at least %d", l.Pending, err, n)
		}
	}
	waitFor(t, "the retry", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return seen["later"] == 2
	})
	waitFor(t, "lag 0", func() bool {
		l, err := h.Lag(ctx, hub.TopicEvents, "holders")
		return err == nil && l.Pending == 0
	})
	mu.Lock()
	defer mu.Unlock()
	for _, m := range msgs {
		if seen[m.ID] != 1 {
			t.Errorf("%s handled %d times", m.ID, seen[m.ID])
		}
	}
}
