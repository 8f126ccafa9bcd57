package delivery_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/herald/herald/internal/channel"
	"github.com/herald/herald/internal/deadletter"
	"github.com/herald/herald/internal/delivery"
	"github.com/herald/herald/internal/event"
	"github.com/herald/herald/internal/hub"
	"github.com/herald/herald/internal/hub/natshub"
	"github.com/herald/herald/internal/prefs"
	"github.com/herald/herald/internal/store"
	"github.com/herald/herald/internal/store/sqlitestore"
)

// provider is a channel standing in for a push provider: what it answers
// depends on the recipient's name, and it counts what it delivered.
type provider struct {
	mu        sync.Mutex
	calls     map[string]int // "event/user" -> attempts seen
	delivered map[string]int // "event/user" -> successful deliveries
	failRate  float64
	rng       *rand.Rand
	// recovered makes "down" recipients succeed from now on.
	recovered bool
}

func newProvider(failRate float64) *provider {
	return &provider{calls: map[string]int{}, delivered: map[string]int{}, failRate: failRate, rng: rand.New(rand.NewPCG(7, 9))}
}

func (p *provider) Name() string { return prefs.Mobile }

func (p *provider) Deliver(_ context.Context, jobs []channel.Job) []channel.Result {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]channel.Result, len(jobs))
	for i, j := range jobs {
		k := j.Event.ID + "/" + j.UserID
		p.calls[k]++
		switch {
		case strings.HasPrefix(j.UserID, "gone"):
			out[i].Err = channel.Permanent(errors.New("Unregistered"))
		case strings.HasPrefix(j.UserID, "boom"):
			panic("provider bug for " + j.UserID)
		case strings.HasPrefix(j.UserID, "slow") && p.calls[k] <= 5:
			out[i].Err = channel.Postpone(30*time.Millisecond, "waiting for the rate limits")
		case strings.HasPrefix(j.UserID, "busy") && p.calls[k] == 1:
			out[i].Err = channel.RetryAfter(200*time.Millisecond, errors.New("429 TooManyRequests"))
		case strings.HasPrefix(j.UserID, "down") && !p.recovered:
			out[i].Err = errors.New("503 ServiceUnavailable")
		case p.failRate > 0 && p.rng.Float64() < p.failRate:
			out[i].Err = errors.New("500 InternalServerError")
		default:
			p.delivered[k]++
		}
	}
	return out
}

type bundle struct {
	hub    hub.Hub
	store  store.Store
	worker *delivery.Worker
	prov   *provider
}

func setup(t *testing.T, failRate float64, maxAttempts int, tweak ...func(*delivery.Config)) *bundle {
	t.Helper()
	return setupWith(t, failRate, maxAttempts, nil, tweak...)
}

// setupWith is setup with the worker's store wrapped by wrap (nil: none).
func setupWith(t *testing.T, failRate float64, maxAttempts int, wrap func(store.Store) store.Store, tweak ...func(*delivery.Config)) *bundle {
	t.Helper()
	dir := t.TempDir()
	ctx := context.Background()
	h, err := natshub.Embedded(ctx, filepath.Join(dir, "hub"), natshub.Options{Partitions: 2})
	if err != nil {
		t.Fatal(err)
	}
	st, err := sqlitestore.Open(ctx, filepath.Join(dir, "herald.db"), sqlitestore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	p := newProvider(failRate)
	reg, err := channel.NewRegistry(p)
	if err != nil {
		t.Fatal(err)
	}
	var ws store.Store = st
	if wrap != nil {
		ws = wrap(st)
	}
	cfg := delivery.Config{
		MaxAttempts: maxAttempts,
		Backoff:     func(int) time.Duration { return 20 * time.Millisecond },
	}
	for _, f := range tweak {
		f(&cfg)
	}
	w := delivery.NewWorker(h, ws, reg, cfg, slog.New(slog.DiscardHandler), nil)
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- w.Run(runCtx, hub.ConsumeOptions{BatchSize: 50, AckWait: 5 * time.Second}) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("worker: %v", err)
		}
		h.Close()
		st.Close()
	})
	return &bundle{hub: h, store: st, worker: w, prov: p}
}

// send plans ev for users (as the handler does) and publishes one mobile
// delivery batch for them.
func (b *bundle) send(t *testing.T, ev event.Event, users []string) {
	t.Helper()
	ev.Audience.Users = users
	if _, err := b.store.RecordPlans(context.Background(), []store.Plan{{Event: ev, Targeted: len(users) * len(prefs.Channels), PlannedAt: time.Now()}}); err != nil {
		t.Fatal(err)
	}
	body := ev
	body.Audience = event.Audience{}
	msgs, err := delivery.Encode(delivery.Batch{Channel: prefs.Mobile, Attempt: 1, Items: []delivery.Item{{Event: body, Users: users}}})
	if err != nil {
		t.Fatal(err)
	}
	if err := b.hub.Publish(context.Background(), hub.TopicDeliveries, msgs...); err != nil {
		t.Fatal(err)
	}
}

// waitFinal polls the event's status until no mobile delivery is pending.
func (b *bundle) waitFinal(t *testing.T, id string, recipients int) store.EventStatus {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		st, err := b.store.EventStatus(context.Background(), id, recipients*len(prefs.Channels))
		if err != nil {
			t.Fatal(err)
		}
		if st.Channels[prefs.Mobile].Pending == 0 {
			return st
		}
		if time.Now().After(deadline) {
			t.Fatalf("mobile deliveries still pending: %+v", st.Channels[prefs.Mobile])
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func newEvent(id string) event.Event {
	return event.Event{ID: event.IDFor("urn:test", id), Source: "urn:test", SourceID: id, Type: "t", ReceivedAt: time.Now(),
		Notification: event.Notification{Message: "hello", Urgency: event.UrgencyNormal}}
}

func TestOutcomesRetriesAndDeadLetters(t *testing.T) {
	t.Parallel()
	b := setup(t, 0, 4)
	ev := newEvent("mixed")
	b.send(t, ev, []string{"ok-1", "gone-1", "busy-1", "down-1"})
	st := b.waitFinal(t, ev.ID, 4)

	got := map[string]store.DeliveryRecord{}
	for _, r := range st.Recipients {
		if r.Channel == prefs.Mobile {
			got[r.UserID] = r
		}
	}
	want := map[string]store.Outcome{"ok-1": store.Delivered, "gone-1": store.Failed, "busy-1": store.Delivered, "down-1": store.DeadLettered}
	for u, o := range want {
		if got[u].Outcome != o {
			t.Errorf("%s: outcome %q (%s), want %q", u, got[u].Outcome, got[u].Reason, o)
		}
	}
	if got["busy-1"].Attempts != 2 {
		t.Errorf("busy-1 delivered on attempt %d, want 2 (after its Retry-After)", got["busy-1"].Attempts)
	}
	if r := got["down-1"].Reason; !strings.Contains(r, "503 ServiceUnavailable") || !strings.Contains(r, "4 attempts") {
		t.Errorf("dead-letter reason %q should name the attempts and the last error", r)
	}
	if b.prov.calls[ev.ID+"/down-1"] != 4 {
		t.Errorf("down-1 was tried %d times, want 4 (MaxAttempts)", b.prov.calls[ev.ID+"/down-1"])
	}
	if b.prov.calls[ev.ID+"/gone-1"] != 1 {
		t.Errorf("a permanent failure was tried %d times, want 1", b.prov.calls[ev.ID+"/gone-1"])
	}
	dls, err := b.hub.DeadLetters(context.Background(), 0, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(dls) != 1 || dls[0].Topic != hub.TopicDeliveries || !strings.Contains(string(dls[0].Message.Data), "down-1") {
		t.Fatalf("dead letters = %+v, want the batch holding down-1", dls)
	}
}

// TestFlakyProviderDeliversEachOnce: a provider failing 20% of calls still
// gets every notification delivered exactly once.
func TestFlakyProviderDeliversEachOnce(t *testing.T) {
	t.Parallel()
	// With 12 attempts a job fails for good with probability 0.2^12:
	// about 4e-6 over the whole test.
	b := setup(t, 0.2, 12)
	const events, users = 20, 50
	for e := range events {
		ev := newEvent(fmt.Sprintf("flaky-%d", e))
		var us []string
		for u := range users {
			us = append(us, fmt.Sprintf("u%d", u))
		}
		b.send(t, ev, us)
	}
	for e := range events {
		st := b.waitFinal(t, newEvent(fmt.Sprintf("flaky-%d", e)).ID, users)
		if n := st.Channels[prefs.Mobile].Outcomes[string(store.Delivered)]; n != users {
			t.Errorf("event %d: %d delivered, want %d (%v)", e, n, users, st.Channels[prefs.Mobile].Outcomes)
		}
	}
	b.prov.mu.Lock()
	defer b.prov.mu.Unlock()
	if len(b.prov.delivered) != events*users {
		t.Fatalf("%d distinct notifications delivered, want %d", len(b.prov.delivered), events*users)
	}
	retried := 0
	for k, n := range b.prov.delivered {
		if n != 1 {
			t.Errorf("%s delivered %d times", k, n)
		}
		if b.prov.calls[k] > 1 {
			retried++
		}
	}
	if retried == 0 {
		t.Fatal("no delivery needed a retry: the provider did not fail")
	}
	t.Logf("%d of %d notifications needed retries", retried, events*users)
}

// TestReplayedDeadLetterIsDelivered: once the provider recovers, replaying
// the dead-lettered batch delivers it; replaying again sends nothing twice.
func TestReplayedDeadLetterIsDelivered(t *testing.T) {
	t.Parallel()
	b := setup(t, 0, 2)
	ev := newEvent("replay")
	b.send(t, ev, []string{"down-2", "ok-2"})
	st := b.waitFinal(t, ev.ID, 2)
	if st.Channels[prefs.Mobile].Outcomes[string(store.DeadLettered)] != 1 {
		t.Fatalf("outcomes %v, want down-2 dead-lettered", st.Channels[prefs.Mobile].Outcomes)
	}
	dls, err := b.hub.DeadLetters(context.Background(), 0, 10)
	if err != nil || len(dls) != 1 {
		t.Fatalf("dead letters %+v %v", dls, err)
	}
	b.prov.mu.Lock()
	b.prov.recovered = true
	b.prov.mu.Unlock()
	for range 2 {
		if _, err := deadletter.Replay(context.Background(), b.hub, dls[0].Seq); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		st, err := b.store.EventStatus(context.Background(), ev.ID, 10)
		if err != nil {
			t.Fatal(err)
		}
		if st.Channels[prefs.Mobile].Outcomes[string(store.Delivered)] == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("replayed batch not delivered: %v", st.Channels[prefs.Mobile].Outcomes)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if lag, _ := b.hub.Lag(context.Background(), hub.TopicDeliveries, delivery.Group); lag.Pending != 0 {
		time.Sleep(200 * time.Millisecond)
	}
	b.prov.mu.Lock()
	defer b.prov.mu.Unlock()
	if n := b.prov.delivered[ev.ID+"/down-2"]; n != 1 {
		t.Fatalf("down-2 delivered %d times after two replays, want 1", n)
	}
	if n := b.prov.delivered[ev.ID+"/ok-2"]; n != 1 {
		t.Fatalf("ok-2 delivered %d times, want 1", n)
	}
	if _, err := deadletter.Replay(context.Background(), b.hub, 99); !errors.Is(err, deadletter.ErrNotFound) {
		t.Fatalf("replaying an unknown dead letter: %v", err)
	}
}

// TestPostponedJobsSpendNoAttempts: a channel that holds jobs back for its
// own rate limits more often than MaxAttempts still delivers them, once,
// and they are never dead-lettered for it.
func TestPostponedJobsSpendNoAttempts(t *testing.T) {
	b := setup(t, 0, 2)
	ev := newEvent("slow-1")
	b.send(t, ev, []string{"slow-a", "slow-b", "fine"})
	st := b.waitFinal(t, ev.ID, 3)
	if got := st.Channels[prefs.Mobile].Outcomes[string(store.Delivered)]; got != 3 {
		t.Fatalf("mobile outcomes %+v, want 3 delivered", st.Channels[prefs.Mobile].Outcomes)
	}
	for _, r := range st.Recipients {
		if r.Channel == prefs.Mobile && r.Attempts != 1 {
			t.Errorf("%s: %d attempts recorded, want 1 (postponements are not attempts)", r.UserID, r.Attempts)
		}
	}
	b.prov.mu.Lock()
	defer b.prov.mu.Unlock()
	for _, u := range []string{"slow-a", "slow-b"} {
		k := ev.ID + "/" + u
		if b.prov.calls[k] != 6 || b.prov.delivered[k] != 1 {
			t.Errorf("%s: %d calls, %d deliveries; want 6 and 1", u, b.prov.calls[k], b.prov.delivered[k])
		}
	}
}

// brokenStore fails FinalOutcomes for one event a number of times, as a
// store that is down would: the worker cannot deliver the batch at all.
type brokenStore struct {
	store.Store
	event string
	mu    sync.Mutex
	fails int
}

func (s *brokenStore) FinalOutcomes(ctx context.Context, eventID, channel string, users []string) (map[string]bool, error) {
	s.mu.Lock()
	fail := eventID == s.event && s.fails > 0
	if fail {
		s.fails--
	}
	s.mu.Unlock()
	if fail {
		return nil, errors.New("database is locked")
	}
	return s.Store.FinalOutcomes(ctx, eventID, channel, users)
}

// TestBatchFailingAsAWholeIsRecordedDeadLettered: a batch the worker
// cannot handle at all (its store fails) is dead-lettered once the hub's
// attempts run out, and its people are recorded dead_lettered, not left
// pending or retrying; the dead letter names the event, the people, the
// channel, the attempts and the last error; replaying it twice (through a
// filter) delivers each person once.
func TestBatchFailingAsAWholeIsRecordedDeadLettered(t *testing.T) {
	t.Parallel()
	ev := newEvent("broken")
	bs := &brokenStore{event: ev.ID, fails: 2}
	b := setupWith(t, 0, 2, func(st store.Store) store.Store { bs.Store = st; return bs })
	b.send(t, ev, []string{"a", "b"})
	st := b.waitFinal(t, ev.ID, 2)
	if n := st.Channels[prefs.Mobile].Outcomes[string(store.DeadLettered)]; n != 2 {
		t.Fatalf("mobile outcomes %v, want 2 dead_lettered", st.Channels[prefs.Mobile].Outcomes)
	}
	for _, r := range st.Recipients {
		if r.Channel == prefs.Mobile && !strings.Contains(r.Reason, "database is locked") {
			t.Errorf("%s: reason %q, want the last error", r.UserID, r.Reason)
		}
	}
	dls, err := deadletter.Select(context.Background(), b.hub, deadletter.Filter{Event: ev.SourceID})
	if err != nil || len(dls) != 1 {
		t.Fatalf("dead letters of %s: %+v %v", ev.SourceID, dls, err)
	}
	in := deadletter.Describe(dls[0])
	if !slices.Equal(in.Events, []string{ev.ID}) || !slices.Equal(in.Recipients, []string{"a", "b"}) || in.Channel != prefs.Mobile ||
		in.Attempts != 2 || !strings.Contains(in.LastError, "database is locked") {
		t.Errorf("dead letter describes %+v", in)
	}
	for range 2 {
		replayed, err := deadletter.ReplayMatching(context.Background(), b.hub, deadletter.Filter{Topic: hub.TopicDeliveries, Reason: "LOCKED"})
		if err != nil || len(replayed) != 1 {
			t.Fatalf("replay: %d replayed, %v", len(replayed), err)
		}
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		st, err := b.store.EventStatus(context.Background(), ev.ID, 10)
		if err != nil {
			t.Fatal(err)
		}
		lag, _ := b.hub.Lag(context.Background(), hub.TopicDeliveries, delivery.Group)
		if st.Channels[prefs.Mobile].Outcomes[string(store.Delivered)] == 2 && lag.Pending == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("replayed batch not delivered: %v (lag %d)", st.Channels[prefs.Mobile].Outcomes, lag.Pending)
		}
		time.Sleep(20 * time.Millisecond)
	}
	b.prov.mu.Lock()
	defer b.prov.mu.Unlock()
	for _, u := range []string{"a", "b"} {
		if n := b.prov.delivered[ev.ID+"/"+u]; n != 1 {
			t.Errorf("%s delivered %d times after two replays, want 1", u, n)
		}
	}
}

// TestPanickingChannelIsDeadLetteredAndOthersGoOn: a batch that makes its
// channel panic is retried, then dead-lettered with the panic as reason;
// the worker survives and later batches are delivered.
func TestPanickingChannelIsDeadLetteredAndOthersGoOn(t *testing.T) {
	b := setup(t, 0, 2)
	bad, good := newEvent("boom-1"), newEvent("fine-1")
	b.send(t, bad, []string{"boom-a"})
	b.send(t, good, []string{"ok-a", "ok-b"})
	st := b.waitFinal(t, good.ID, 2)
	if got := st.Channels[prefs.Mobile].Outcomes[string(store.Delivered)]; got != 2 {
		t.Fatalf("the batch after the panicking one: %+v, want 2 delivered", st.Channels[prefs.Mobile].Outcomes)
	}
	st = b.waitFinal(t, bad.ID, 1)
	var rec store.DeliveryRecord
	for _, r := range st.Recipients {
		if r.Channel == prefs.Mobile {
			rec = r
		}
	}
	if rec.Outcome != store.DeadLettered || !strings.Contains(rec.Reason, "panic: provider bug for boom-a") {
		t.Fatalf("the panicking batch's outcome = %+v, want dead_lettered with the panic", rec)
	}
}

// TestMaxAgeDeadLettersOldFailures: with a max age, a delivery that still
// fails that long after its event was received is dead-lettered though
// attempts are left.
func TestMaxAgeDeadLettersOldFailures(t *testing.T) {
	b := setup(t, 0, 100, func(c *delivery.Config) { c.MaxAge = 300 * time.Millisecond })
	ev := newEvent("old-1")
	b.send(t, ev, []string{"down-1"})
	st := b.waitFinal(t, ev.ID, 1)
	for _, r := range st.Recipients {
		if r.Channel == prefs.Mobile && (r.Outcome != store.DeadLettered || !strings.Contains(r.Reason, "max age 300ms")) {
			t.Fatalf("outcome %+v, want dead_lettered for max age", r)
		}
	}
}
