// Package hubtest is the conformance suite every hub.Hub driver passes. A
// driver's test calls Run with a function that opens a fresh, empty hub for
// one test and a Features value saying what the driver supports.
//
// The suite only waits on conditions, polled with a deadline; timing
// properties (Retry's delay, AckWait) are asserted as lower bounds so a slow
// machine cannot make them fail.
package hubtest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/herald/herald/internal/hub"
)

// Features declares what a driver supports and tunes the suite to it.
type Features struct {
	// Dedup says Publish stores a message once when its ID was published
	// before within the driver's de-duplication window.
	Dedup bool
	// FanOut says distinct groups on one topic each receive every message.
	FanOut bool
	// AckWait is the AckWait of the redelivery tests, short to keep the
	// suite fast but long enough for the driver to honour. Default 1s.
	AckWait time.Duration
	// Timeout bounds every wait of the suite. Default 30s.
	Timeout time.Duration
}

func (f Features) withDefaults() Features {
	if f.AckWait <= 0 {
		f.AckWait = time.Second
	}
	if f.Timeout <= 0 {
		f.Timeout = 30 * time.Second
	}
	return f
}

// Run runs the conformance suite. open returns a new hub whose topics are
// empty and registers its Close with t.Cleanup (Close must tolerate being
// called twice: the suite may Close it earlier). The suite specifies:
//
//   - Published messages are delivered exactly once when every delivery is
//     acked, with Key, ID and Data intact, Attempt 1, in batches of at most
//     BatchSize from a single partition; a key always maps to the same
//     partition and one key's messages arrive in publish order.
//   - Retry(delay) brings a message back as attempt 2, not before delay.
//   - A delivery never settled comes back as attempt 2, not before AckWait.
//   - DeadLetter stores the message, reason and attempts, listed in order by
//     DeadLetters after a sequence, and the message is not delivered again.
//   - DeleteDeadLetters removes the named dead letters (counting only those
//     it removed: repeating it removes nothing), the rest keep their Seq
//     and order, and a dead letter stored afterwards is listed after them.
//   - A message delivered MaxAttempts times without being settled is
//     dead-lettered by the hub with Attempts = MaxAttempts and a reason that
//     mentions attempts, and the handler never sees attempt MaxAttempts+1;
//     OnExhausted is called once with the message and that reason.
//   - Two Consume calls with one group share the messages, each handled once;
//     with Features.FanOut distinct groups each get every message.
//   - Lag counts delivered-but-unsettled and undelivered messages and drops
//     to 0 once everything is settled.
//   - With Features.Dedup a Message.ID published twice is stored once.
//   - Consume returns nil when its context ends, after the handler call in
//     progress returns, and what it held unsettled reaches the next consumer
//     of the group.
//   - Publish after Close fails with hub.ErrClosed.
func Run(t *testing.T, open func(t *testing.T) hub.Hub, f Features) {
	f = f.withDefaults()
	tests := []struct {
		name string
		run  func(t *testing.T, s *setup)
	}{
		{"PublishConsumeExactlyOnceInKeyOrder", testPublishConsume},
		{"RetryRedeliversAfterDelay", testRetry},
		{"UnsettledComesBackAfterAckWait", testAckWait},
		{"DeadLetterIsStoredAndNotRedelivered", testDeadLetter},
		{"ExhaustedAttemptsAreDeadLetteredByHub", testExhausted},
		{"DeletedDeadLettersAreNotListed", testDeleteDeadLetters},
		{"SameGroupSharesWork", testSharedGroup},
		{"DistinctGroupsEachGetEveryMessage", testFanOut},
		{"LagCountsUnsettledAndReturnsToZero", testLag},
		{"DuplicateIDStoredOnce", testDedup},
		{"CancelReturnsNilAndRedeliversInFlight", testCancel},
		{"ClosedHubRefusesPublish", testClosed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tt.run(t, &setup{t: t, hub: open(t), f: f})
		})
	}
}

// setup is what one test of the suite works with.
type setup struct {
	t   *testing.T
	hub hub.Hub
	f   Features
}

// ctx is a context bounded by the suite's timeout.
func (s *setup) ctx() context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), s.f.Timeout)
	s.t.Cleanup(cancel)
	return ctx
}

// publish stores msgs on topic or fails the test.
func (s *setup) publish(topic string, msgs ...hub.Message) {
	s.t.Helper()
	if err := s.hub.Publish(s.ctx(), topic, msgs...); err != nil {
		s.t.Fatalf("Publish(%s, %d messages): %v", topic, len(msgs), err)
	}
}

// waitFor polls cond until it holds or the suite's timeout passes.
func (s *setup) waitFor(what string, cond func() bool) {
	s.t.Helper()
	deadline := time.Now().Add(s.f.Timeout)
	for !cond() {
		if time.Now().After(deadline) {
			s.t.Fatalf("timed out after %s waiting for %s", s.f.Timeout, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// lag returns the group's backlog on topic or fails the test.
func (s *setup) lag(topic, group string) uint64 {
	s.t.Helper()
	l, err := s.hub.Lag(s.ctx(), topic, group)
	if err != nil {
		s.t.Fatalf("Lag(%s, %s): %v", topic, group, err)
	}
	if l.Topic != topic || l.Group != group {
		s.t.Errorf("Lag(%s, %s) names %s/%s", topic, group, l.Topic, l.Group)
	}
	return l.Pending
}

// waitLagZero waits until the group has settled everything on topic.
func (s *setup) waitLagZero(topic, group string) {
	s.t.Helper()
	s.waitFor(fmt.Sprintf("lag of %s on %s to reach 0", group, topic), func() bool { return s.lag(topic, group) == 0 })
}

// consumer is a Consume call running in the background.
type consumer struct {
	s      *setup
	cancel context.CancelFunc
	done   chan struct{}
	err    error
	once   sync.Once
}

// consume starts Consume in the background; the test's cleanup stops it.
func (s *setup) consume(topic, group string, opts hub.ConsumeOptions, h hub.Handler) *consumer {
	ctx, cancel := context.WithCancel(context.Background())
	c := &consumer{s: s, cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(c.done)
		c.err = s.hub.Consume(ctx, topic, group, opts, h)
	}()
	s.t.Cleanup(c.stop)
	return c
}

// stop cancels the Consume call and checks it returns nil in time.
func (c *consumer) stop() {
	c.once.Do(func() {
		c.cancel()
		c.wait()
	})
}

// wait checks the Consume call returns nil within the suite's timeout.
func (c *consumer) wait() {
	select {
	case <-c.done:
		if c.err != nil {
			c.s.t.Errorf("Consume returned %v, want nil after its context ended", c.err)
		}
	case <-time.After(c.s.f.Timeout):
		c.s.t.Errorf("Consume did not return within %s of its context ending", c.s.f.Timeout)
	}
}

// msgs builds n messages spread over keys keys. The ID and the payload are
// both "<key>#<index within the key>", so a delivery names its own position.
func msgs(prefix string, n, keys int) []hub.Message {
	out := make([]hub.Message, n)
	for i := range out {
		key := fmt.Sprintf("%s-key-%d", prefix, i%keys)
		id := fmt.Sprintf("%s#%06d", key, i/keys)
		out[i] = hub.Message{Key: key, ID: id, Data: []byte(id)}
	}
	return out
}

// recorder checks and counts deliveries across handler calls.
type recorder struct {
	t          *testing.T
	partitions int
	// unordered turns off the per-key order check: consumers sharing a
	// group may handle one key's messages concurrently.
	unordered bool
	mu        sync.Mutex
	count     map[string]int // deliveries by message ID
	partOf    map[string]int // partition by key
	last      map[string]string
	batches   int
}

func newRecorder(t *testing.T, partitions int) *recorder {
	return &recorder{t: t, partitions: partitions, count: map[string]int{}, partOf: map[string]int{}, last: map[string]string{}}
}

// batch records one handler call and checks its shape and every delivery.
func (r *recorder) batch(batch []hub.Delivery, limit int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.batches++
	if len(batch) == 0 || len(batch) > limit {
		r.t.Errorf("handler got a batch of %d, want 1..%d", len(batch), limit)
	}
	for _, d := range batch {
		m := d.Message()
		if d.Partition() != batch[0].Partition() {
			r.t.Errorf("one batch mixes partitions %d and %d", batch[0].Partition(), d.Partition())
		}
		if p := d.Partition(); p < 0 || p >= r.partitions {
			r.t.Errorf("message %s from partition %d, want 0..%d", m.ID, p, r.partitions-1)
		}
		if string(m.Data) != m.ID {
			r.t.Errorf("message %q arrived with data %q", m.ID, m.Data)
		}
		if key, _, _ := strings.Cut(m.ID, "#"); key != m.Key {
			r.t.Errorf("message %q arrived with key %q", m.ID, m.Key)
		}
		if p, seen := r.partOf[m.Key]; seen && p != d.Partition() {
			r.t.Errorf("key %s moved from partition %d to %d", m.Key, p, d.Partition())
		}
		r.partOf[m.Key] = d.Partition()
		r.count[m.ID]++
		if d.Attempt() == 1 && !r.unordered {
			if last := r.last[m.Key]; last >= m.ID {
				r.t.Errorf("key %s: %s delivered after %s", m.Key, m.ID, last)
			}
			r.last[m.Key] = m.ID
		}
	}
}

// seen reports how many distinct messages were delivered.
func (r *recorder) seen() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.count)
}

// times reports how often the message with id was delivered.
func (r *recorder) times(id string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.count[id]
}

// exactlyOnce checks every message of want was delivered exactly once and
// nothing else was.
func (r *recorder) exactlyOnce(want []hub.Message) {
	r.t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, m := range want {
		if n := r.count[m.ID]; n != 1 {
			r.t.Errorf("message %s delivered %d times, want 1", m.ID, n)
		}
	}
	if len(r.count) != len(want) {
		r.t.Errorf("%d distinct messages delivered, want %d", len(r.count), len(want))
	}
}

// ackAll is a handler that records and acks every delivery.
func ackAll(r *recorder, batchSize int) hub.Handler {
	return func(_ context.Context, batch []hub.Delivery) {
		r.batch(batch, batchSize)
		for _, d := range batch {
			if d.Attempt() != 1 {
				r.t.Errorf("message %s: attempt %d, want 1", d.Message().ID, d.Attempt())
			}
			if err := d.Ack(); err != nil {
				r.t.Errorf("Ack(%s): %v", d.Message().ID, err)
			}
		}
	}
}

func testPublishConsume(t *testing.T, s *setup) {
	for _, topic := range []string{hub.TopicEvents, hub.TopicDeliveries} {
		t.Run(topic, func(t *testing.T) {
			s := &setup{t: t, hub: s.hub, f: s.f}
			all := msgs(topic, 300, 17)
			// Three publishes, so a key's partition must hold across calls.
			s.publish(topic, all[:1]...)
			s.publish(topic, all[1:120]...)
			s.publish(topic, all[120:]...)

			r := newRecorder(t, s.hub.Partitions())
			opts := hub.ConsumeOptions{BatchSize: 32}
			s.consume(topic, "readers", opts, ackAll(r, opts.BatchSize))
			s.waitFor("every message to be delivered", func() bool { return r.seen() == len(all) })
			s.waitLagZero(topic, "readers")
			r.exactlyOnce(all)
		})
	}
}

// attempts collects the attempts of one message with the time each arrived.
type attempts struct {
	mu  sync.Mutex
	at  []time.Time
	got []int
}

func (a *attempts) add(d hub.Delivery) int {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.at = append(a.at, time.Now())
	a.got = append(a.got, d.Attempt())
	return len(a.got)
}

func (a *attempts) len() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.got)
}

func (a *attempts) snapshot() ([]int, []time.Time) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return slices.Clone(a.got), slices.Clone(a.at)
}

func testRetry(t *testing.T, s *setup) {
	const delay = 500 * time.Millisecond
	m := hub.Message{Key: "retry-key", ID: "retry-1", Data: []byte("retry me")}
	s.publish(hub.TopicEvents, m)
	var a attempts
	s.consume(hub.TopicEvents, "retriers", hub.ConsumeOptions{AckWait: 30 * time.Second}, func(_ context.Context, batch []hub.Delivery) {
		for _, d := range batch {
			if got := d.Message(); got.ID != m.ID || got.Key != m.Key || string(got.Data) != string(m.Data) {
				t.Errorf("delivered %+v, want %+v", got, m)
			}
			var err error
			if a.add(d) == 1 {
				err = d.Retry(delay)
			} else {
				err = d.Ack()
			}
			if err != nil {
				t.Errorf("settling attempt %d: %v", d.Attempt(), err)
			}
		}
	})
	s.waitFor("the retried message to come back", func() bool { return a.len() >= 2 })
	s.waitLagZero(hub.TopicEvents, "retriers")
	got, at := a.snapshot()
	if !slices.Equal(got, []int{1, 2}) {
		t.Fatalf("attempts %v, want [1 2]", got)
	}
	if gap := at[1].Sub(at[0]); gap < delay {
		t.Errorf("Retry(%s) redelivered after %s", delay, gap)
	}
}

func testAckWait(t *testing.T, s *setup) {
	m := hub.Message{Key: "lost-key", ID: "lost-1", Data: []byte("lost")}
	var a attempts
	s.consume(hub.TopicEvents, "forgetters", hub.ConsumeOptions{AckWait: s.f.AckWait}, func(_ context.Context, batch []hub.Delivery) {
		for _, d := range batch {
			if a.add(d) > 1 { // the first delivery is never settled
				if err := d.Ack(); err != nil {
					t.Errorf("Ack: %v", err)
				}
			}
		}
	})
	published := time.Now()
	s.publish(hub.TopicEvents, m)
	s.waitFor("the unsettled message to come back", func() bool { return a.len() >= 2 })
	s.waitLagZero(hub.TopicEvents, "forgetters")
	got, at := a.snapshot()
	if !slices.Equal(got, []int{1, 2}) {
		t.Fatalf("attempts %v, want [1 2]", got)
	}
	if gap := at[1].Sub(published); gap < s.f.AckWait {
		t.Errorf("unsettled message came back %s after publishing, before AckWait %s", gap, s.f.AckWait)
	}
}

// findDeadLetter returns the dead letter of the message with id, if listed.
func (s *setup) findDeadLetter(id string, after uint64) (hub.DeadLetter, bool) {
	s.t.Helper()
	for {
		page, err := s.hub.DeadLetters(s.ctx(), after, 10)
		if err != nil {
			s.t.Fatalf("DeadLetters(%d, 10): %v", after, err)
		}
		for i, dl := range page {
			if i > 0 && dl.Seq <= page[i-1].Seq {
				s.t.Errorf("DeadLetters out of order: seq %d after %d", dl.Seq, page[i-1].Seq)
			}
			if dl.Seq <= after {
				s.t.Errorf("DeadLetters(%d) listed seq %d", after, dl.Seq)
			}
			if dl.Message.ID == id {
				return dl, true
			}
		}
		if len(page) == 0 {
			return hub.DeadLetter{}, false
		}
		after = page[len(page)-1].Seq
	}
}

func testDeadLetter(t *testing.T, s *setup) {
	const reason = "poison: payload is not an event"
	poison := hub.Message{Key: "dl-key", ID: "dl-key#1-poison", Data: []byte("dl-key#1-poison")}
	sentinel := hub.Message{Key: "dl-key", ID: "dl-key#2-sentinel", Data: []byte("dl-key#2-sentinel")}
	before := time.Now()
	s.publish(hub.TopicEvents, poison)

	r := newRecorder(t, s.hub.Partitions())
	s.consume(hub.TopicEvents, "judges", hub.ConsumeOptions{AckWait: s.f.AckWait}, func(ctx context.Context, batch []hub.Delivery) {
		r.batch(batch, 500)
		for _, d := range batch {
			var err error
			if d.Message().ID == poison.ID {
				err = d.DeadLetter(ctx, reason)
			} else {
				err = d.Ack()
			}
			if err != nil {
				t.Errorf("settling %s: %v", d.Message().ID, err)
			}
		}
	})
	var dl hub.DeadLetter
	s.waitFor("the dead letter to be listed", func() bool {
		var ok bool
		dl, ok = s.findDeadLetter(poison.ID, 0)
		return ok
	})
	s.waitLagZero(hub.TopicEvents, "judges")
	if dl.Seq == 0 || dl.Topic != hub.TopicEvents || dl.Reason != reason || dl.Attempts != 1 {
		t.Errorf("dead letter seq %d topic %q reason %q attempts %d, want seq > 0, %q, %q, 1",
			dl.Seq, dl.Topic, dl.Reason, dl.Attempts, hub.TopicEvents, reason)
	}
	if dl.Message.Key != poison.Key || string(dl.Message.Data) != string(poison.Data) {
		t.Errorf("dead letter holds %+v, want %+v", dl.Message, poison)
	}
	if dl.At.Before(before.Add(-time.Second)) || dl.At.After(time.Now().Add(time.Second)) {
		t.Errorf("dead letter at %s, want between %s and now", dl.At, before)
	}
	if _, again := s.findDeadLetter(poison.ID, dl.Seq); again {
		t.Errorf("dead letter listed again after its own seq %d", dl.Seq)
	}
	// A later message of the same key arrives after the poison one would
	// have come back had it not been settled.
	s.publish(hub.TopicEvents, sentinel)
	s.waitFor("the sentinel", func() bool { return r.times(sentinel.ID) == 1 })
	s.waitLagZero(hub.TopicEvents, "judges")
	if n := r.times(poison.ID); n != 1 {
		t.Errorf("dead-lettered message delivered %d times, want 1", n)
	}
}

func testExhausted(t *testing.T, s *setup) {
	const maxAttempts = 2
	m := hub.Message{Key: "crash-key", ID: "crash-1", Data: []byte("crash-1")}
	s.publish(hub.TopicEvents, m)
	var a attempts
	var mu sync.Mutex
	var told []string // OnExhausted calls: "<id> <reason>"
	onExhausted := func(_ context.Context, m hub.Message, reason string) {
		mu.Lock()
		defer mu.Unlock()
		told = append(told, m.ID+" "+reason)
	}
	s.consume(hub.TopicEvents, "crashers", hub.ConsumeOptions{AckWait: s.f.AckWait, MaxAttempts: maxAttempts, OnExhausted: onExhausted},
		func(_ context.Context, batch []hub.Delivery) {
			for _, d := range batch {
				a.add(d) // never settled: as if the consumer crashed every time
			}
		})
	var dl hub.DeadLetter
	s.waitFor("the hub to dead-letter the exhausted message", func() bool {
		var ok bool
		dl, ok = s.findDeadLetter(m.ID, 0)
		return ok
	})
	s.waitLagZero(hub.TopicEvents, "crashers")
	if got, _ := a.snapshot(); !slices.Equal(got, []int{1, 2}) {
		t.Errorf("handler saw attempts %v, want [1 2] and no call after MaxAttempts", got)
	}
	if !strings.Contains(strings.ToLower(dl.Reason), "attempts") || dl.Attempts != maxAttempts {
		t.Errorf("dead letter reason %q attempts %d, want a reason about exhausted attempts and %d",
			dl.Reason, dl.Attempts, maxAttempts)
	}
	if dl.Topic != hub.TopicEvents || dl.Message.Key != m.Key || string(dl.Message.Data) != string(m.Data) {
		t.Errorf("dead letter %s %+v, want %s %+v", dl.Topic, dl.Message, hub.TopicEvents, m)
	}
	s.waitFor("OnExhausted to be called", func() bool { mu.Lock(); defer mu.Unlock(); return len(told) > 0 })
	mu.Lock()
	defer mu.Unlock()
	if len(told) != 1 || told[0] != m.ID+" "+dl.Reason {
		t.Errorf("OnExhausted calls %q, want one for %s with the dead letter's reason %q", told, m.ID, dl.Reason)
	}
}

func testDeleteDeadLetters(t *testing.T, s *setup) {
	ids := []string{"del#1", "del#2", "del#3", "del#4"}
	for _, id := range ids {
		s.publish(hub.TopicEvents, hub.Message{Key: "del-key", ID: id, Data: []byte(id)})
	}
	s.consume(hub.TopicEvents, "deleters", hub.ConsumeOptions{AckWait: s.f.AckWait}, func(ctx context.Context, batch []hub.Delivery) {
		for _, d := range batch {
			// The test may end (cancelling ctx) while the last one is
			// being stored; only a failure before that is the hub's.
			if err := d.DeadLetter(ctx, "unwanted"); err != nil && ctx.Err() == nil {
				t.Errorf("DeadLetter(%s): %v", d.Message().ID, err)
			}
		}
	})
	seqs := map[string]uint64{}
	s.waitFor("four dead letters", func() bool {
		for _, id := range ids {
			if dl, ok := s.findDeadLetter(id, 0); ok {
				seqs[id] = dl.Seq
			}
		}
		return len(seqs) == len(ids)
	})
	listed := func() []string {
		var out []string
		var after uint64
		for {
			page, err := s.hub.DeadLetters(s.ctx(), after, 2)
			if err != nil {
				t.Fatalf("DeadLetters(%d, 2): %v", after, err)
			}
			if len(page) == 0 {
				return out
			}
			for _, dl := range page {
				if dl.Seq != seqs[dl.Message.ID] {
					t.Errorf("%s listed with seq %d, was %d", dl.Message.ID, dl.Seq, seqs[dl.Message.ID])
				}
				out = append(out, dl.Message.ID)
			}
			after = page[len(page)-1].Seq
		}
	}
	del := func(want int, seqs ...uint64) {
		t.Helper()
		n, err := s.hub.DeleteDeadLetters(s.ctx(), seqs...)
		if err != nil || n != want {
			t.Fatalf("DeleteDeadLetters(%v) = %d, %v; want %d, nil", seqs, n, err, want)
		}
	}
	del(2, seqs["del#2"], seqs["del#3"], 1<<40)
	if got := listed(); !slices.Equal(got, []string{"del#1", "del#4"}) {
		t.Fatalf("after deleting del#2 and del#3, listed %v", got)
	}
	del(0, seqs["del#2"])
	del(1, seqs["del#1"])
	if got := listed(); !slices.Equal(got, []string{"del#4"}) {
		t.Fatalf("after deleting del#1, listed %v", got)
	}
	del(1, seqs["del#4"])
	if got := listed(); len(got) != 0 {
		t.Fatalf("after deleting all, listed %v", got)
	}
	late := hub.Message{Key: "del-key", ID: "del#5", Data: []byte("del#5")}
	s.publish(hub.TopicEvents, late)
	var dl hub.DeadLetter
	s.waitFor("a dead letter stored after the deletions", func() bool {
		var ok bool
		dl, ok = s.findDeadLetter(late.ID, 0)
		return ok
	})
	if dl.Seq <= seqs["del#4"] {
		t.Errorf("new dead letter has seq %d, not after the deleted %d", dl.Seq, seqs["del#4"])
	}
	seqs[late.ID] = dl.Seq
	if got := listed(); !slices.Equal(got, []string{"del#5"}) {
		t.Errorf("listed %v, want [del#5]", got)
	}
}

func testSharedGroup(t *testing.T, s *setup) {
	all := msgs("shared", 400, 40)
	s.publish(hub.TopicEvents, all...)
	r := newRecorder(t, s.hub.Partitions())
	r.unordered = true
	var perConsumer [2]atomic.Int64
	for i := range perConsumer {
		s.consume(hub.TopicEvents, "workers", hub.ConsumeOptions{BatchSize: 20}, func(ctx context.Context, batch []hub.Delivery) {
			perConsumer[i].Add(int64(len(batch)))
			ackAll(r, 20)(ctx, batch)
		})
	}
	s.waitFor("every message to be delivered", func() bool { return r.seen() == len(all) })
	s.waitLagZero(hub.TopicEvents, "workers")
	r.exactlyOnce(all)
	t.Logf("consumers handled %d and %d messages", perConsumer[0].Load(), perConsumer[1].Load())
}

func testFanOut(t *testing.T, s *setup) {
	if !s.f.FanOut {
		t.Skip("driver does not let distinct groups each read a topic (Features.FanOut)")
	}
	all := msgs("fan", 120, 12)
	s.publish(hub.TopicEvents, all...)
	for _, group := range []string{"audit", "billing"} {
		r := newRecorder(t, s.hub.Partitions())
		s.consume(hub.TopicEvents, group, hub.ConsumeOptions{BatchSize: 50}, ackAll(r, 50))
		s.waitFor(group+" to receive every message", func() bool { return r.seen() == len(all) })
		s.waitLagZero(hub.TopicEvents, group)
		r.exactlyOnce(all)
	}
}

func testLag(t *testing.T, s *setup) {
	all := msgs("lag", 60, 6)
	s.publish(hub.TopicEvents, all...)
	release := make(chan struct{})
	r := newRecorder(t, s.hub.Partitions())
	s.consume(hub.TopicEvents, "laggards", hub.ConsumeOptions{BatchSize: 10}, func(ctx context.Context, batch []hub.Delivery) {
		select { // hold the batch unsettled until released
		case <-release:
		case <-ctx.Done():
			return
		}
		ackAll(r, 10)(ctx, batch)
	})
	s.waitFor("lag to count every held and waiting message", func() bool {
		return s.lag(hub.TopicEvents, "laggards") == uint64(len(all))
	})
	close(release)
	s.waitFor("every message to be delivered", func() bool { return r.seen() == len(all) })
	s.waitLagZero(hub.TopicEvents, "laggards")
	r.exactlyOnce(all)
}

func testDedup(t *testing.T, s *setup) {
	if !s.f.Dedup {
		t.Skip("driver does not de-duplicate on Message.ID (Features.Dedup)")
	}
	a := hub.Message{Key: "dup-key", ID: "dup-key#000001", Data: []byte("dup-key#000001")}
	b := hub.Message{Key: "dup-key", ID: "dup-key#000002", Data: []byte("dup-key#000002")}
	s.publish(hub.TopicEvents, a)
	s.publish(hub.TopicEvents, a)
	s.publish(hub.TopicEvents, b, a)
	r := newRecorder(t, s.hub.Partitions())
	s.consume(hub.TopicEvents, "dedupers", hub.ConsumeOptions{}, ackAll(r, 500))
	s.waitFor("both messages", func() bool { return r.seen() == 2 })
	s.waitLagZero(hub.TopicEvents, "dedupers")
	r.exactlyOnce([]hub.Message{a, b})
}

func testCancel(t *testing.T, s *setup) {
	all := msgs("cancel", 30, 1) // one key: one partition, in order
	s.publish(hub.TopicEvents, all...)
	// Three times the usual AckWait: the second consumer must ack within
	// it even on a loaded machine, or its messages come again (as they
	// should) and "exactly once" below no longer holds.
	opts := hub.ConsumeOptions{BatchSize: 10, AckWait: 3 * s.f.AckWait}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var inFlight []string
	var handlerReturned atomic.Bool
	var calls atomic.Int32
	first := &consumer{s: s, cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(first.done)
		first.err = s.hub.Consume(ctx, hub.TopicEvents, "handover", opts, func(ctx context.Context, batch []hub.Delivery) {
			if calls.Add(1) > 1 {
				t.Errorf("handler called again after its context ended")
				return
			}
			for _, d := range batch {
				inFlight = append(inFlight, d.Message().ID)
			}
			cancel()
			<-ctx.Done()
			// Shut down mid-batch: acknowledge half, leave the rest.
			for _, d := range batch[:len(batch)/2] {
				if err := d.Ack(); err != nil {
					t.Errorf("Ack after cancel: %v", err)
				}
			}
			handlerReturned.Store(true)
		})
	}()
	first.wait()
	if !handlerReturned.Load() {
		t.Fatalf("Consume returned before its in-flight handler call finished")
	}
	if len(inFlight) == 0 {
		t.Fatalf("the first consumer got no batch")
	}
	acked := inFlight[:len(inFlight)/2]

	r := newRecorder(t, s.hub.Partitions())
	retried := map[string]int{}
	var mu sync.Mutex
	s.consume(hub.TopicEvents, "handover", opts, func(ctx context.Context, batch []hub.Delivery) {
		r.batch(batch, opts.BatchSize)
		for _, d := range batch {
			mu.Lock()
			retried[d.Message().ID] = d.Attempt()
			mu.Unlock()
			if err := d.Ack(); err != nil {
				t.Errorf("Ack: %v", err)
			}
		}
	})
	s.waitFor("the rest of the messages", func() bool { return r.seen() == len(all)-len(acked) })
	s.waitLagZero(hub.TopicEvents, "handover")
	r.exactlyOnce(slices.DeleteFunc(slices.Clone(all), func(m hub.Message) bool { return slices.Contains(acked, m.ID) }))
	mu.Lock()
	defer mu.Unlock()
	for _, id := range inFlight[len(inFlight)/2:] {
		if retried[id] < 2 {
			t.Errorf("in-flight message %s redelivered as attempt %d, want >= 2", id, retried[id])
		}
	}
}

func testClosed(t *testing.T, s *setup) {
	if err := s.hub.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	err := s.hub.Publish(context.Background(), hub.TopicEvents, hub.Message{Key: "k", Data: []byte("x")})
	if !errors.Is(err, hub.ErrClosed) {
		t.Errorf("Publish after Close = %v, want hub.ErrClosed", err)
	}
	if s.hub.Partitions() < 1 {
		t.Errorf("Partitions() = %d, want >= 1", s.hub.Partitions())
	}
}
