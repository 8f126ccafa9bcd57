package handler

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/herald/herald/internal/delivery"
	"github.com/herald/herald/internal/event"
	"github.com/herald/herald/internal/hub"
	"github.com/herald/herald/internal/prefs"
	"github.com/herald/herald/internal/store"
	"github.com/herald/herald/internal/store/sqlitestore"
	"github.com/herald/herald/internal/templates"
)

// recordingHub keeps what the handler publishes; nothing consumes it.
type recordingHub struct {
	hub.Hub
	mu      sync.Mutex
	batches []delivery.Batch
}

func (r *recordingHub) Publish(_ context.Context, topic string, msgs ...hub.Message) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, m := range msgs {
		if topic != hub.TopicDeliveries {
			return fmt.Errorf("unexpected publish to %s", topic)
		}
		b, err := delivery.Decode(m.Data)
		if err != nil {
			return err
		}
		r.batches = append(r.batches, b)
	}
	return nil
}

// take returns the batches published since the last take.
func (r *recordingHub) take() []delivery.Batch {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := r.batches
	r.batches = nil
	return out
}

// clock is a controllable clock.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time  { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) set(t time.Time) { c.mu.Lock(); c.now = t; c.mu.Unlock() }

// timing is a handler on a SQLite store with a controllable clock and a
// hub that records delivery batches; every channel is configured.
type timing struct {
	h     *Handler
	st    *sqlitestore.Store
	hub   *recordingHub
	clock *clock
	path  string
	cfg   Config
}

// at9 is the tests' starting time: 09:00 UTC.
var at9 = time.Date(2026, 6, 10, 9, 0, 0, 0, time.UTC)

func newTiming(t *testing.T, cfg Config) *timing {
	t.Helper()
	tm := &timing{hub: &recordingHub{}, clock: &clock{now: at9}, path: filepath.Join(t.TempDir(), "herald.db")}
	cfg.Now = tm.clock.Now
	cfg.Configured = func(string) bool { return true }
	tm.cfg = cfg
	tm.open(t)
	return tm
}

// open (re)opens the store and builds a new handler on it, as a restart
// does.
func (tm *timing) open(t *testing.T) {
	t.Helper()
	if tm.st != nil {
		tm.st.Close()
	}
	st, err := sqlitestore.Open(context.Background(), tm.path, sqlitestore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if tm.st == nil {
		t.Cleanup(func() { tm.st.Close() })
	}
	tm.st = st
	tm.h = New(tm.hub, st, nil, tm.cfg, slog.New(slog.DiscardHandler), nil)
}

// send plans events as the handler does when it consumes them.
func (tm *timing) send(t *testing.T, evs ...event.Event) {
	t.Helper()
	if err := tm.h.plan(t.Context(), evs); err != nil {
		t.Fatalf("plan: %v", err)
	}
}

// tick moves the clock to at and fires what is due.
func (tm *timing) tick(t *testing.T, at time.Time) int {
	t.Helper()
	tm.clock.set(at)
	n, err := tm.h.Tick(t.Context(), at)
	if err != nil {
		t.Fatalf("Tick(%s): %v", at.Format(time.TimeOnly), err)
	}
	return n
}

func (tm *timing) status(t *testing.T, id string) (store.EventStatus, bool) {
	t.Helper()
	st, err := tm.st.EventStatus(t.Context(), id, 100)
	if errors.Is(err, store.ErrNotFound) {
		return st, false
	}
	if err != nil {
		t.Fatal(err)
	}
	return st, true
}

// outcome returns the recorded outcome and reason of (event, user, channel).
func (tm *timing) outcome(t *testing.T, id, user, channel string) (store.Outcome, string) {
	t.Helper()
	st, ok := tm.status(t, id)
	if !ok {
		t.Fatalf("event %s was never planned", id)
	}
	for _, r := range st.Recipients {
		if r.UserID == user && r.Channel == channel {
			return r.Outcome, r.Reason
		}
	}
	return "", ""
}

func (tm *timing) inbox(t *testing.T, user string) []store.InboxItem {
	t.Helper()
	items, err := tm.st.ListInbox(t.Context(), store.InboxQuery{UserID: user, Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	return items
}

func (tm *timing) setPrefs(t *testing.T, p prefs.Preferences) {
	t.Helper()
	if err := tm.st.SavePreferences(t.Context(), p); err != nil {
		t.Fatal(err)
	}
}

func notification(id string, users []string, n event.Notification) event.Event {
	if n.Message == "" {
		n.Message = "message of " + id
	}
	if n.Urgency == "" {
		n.Urgency = event.UrgencyNormal
	}
	return event.Event{ID: event.IDFor("urn:test", id), Source: "urn:test", SourceID: id, Type: "test", ReceivedAt: at9,
		Audience: event.Audience{Users: users}, Notification: n}
}

// sent lists (channel, user, event id, title) of batches, sorted.
func sent(batches []delivery.Batch) []string {
	var out []string
	for _, b := range batches {
		for _, it := range b.Items {
			for _, u := range it.Users {
				out = append(out, b.Channel+" "+u+" "+it.Event.SourceID+" "+it.Event.Notification.Title)
			}
		}
	}
	slices.Sort(out)
	return out
}

func ptr(t time.Time) *time.Time { return &t }

// TestScheduledEventsWaitForDeliverAt: an event for 10:00 is not planned at
// 09:59 and is at 10:00, once; its status says scheduled meanwhile.
func TestScheduledEventsWaitForDeliverAt(t *testing.T) {
	t.Parallel()
	tm := newTiming(t, Config{})
	ev := notification("at-ten", []string{"ada"}, event.Notification{Title: "Standup", DeliverAt: ptr(at9.Add(time.Hour))})
	tm.send(t, ev)
	tm.send(t, ev) // sent twice: scheduled once
	if _, ok := tm.status(t, ev.ID); ok {
		t.Fatal("a scheduled event was planned before its time")
	}
	got, ok, err := Scheduled(t.Context(), tm.st, ev.ID)
	if err != nil || !ok || !got.Notification.DeliverAt.Equal(at9.Add(time.Hour)) {
		t.Fatalf("Scheduled = %v, %v; want the event, due at 10:00", ok, err)
	}
	if n := tm.tick(t, at9.Add(59*time.Minute)); n != 0 {
		t.Errorf("at 09:59 %d timers fired", n)
	}
	if _, ok := tm.status(t, ev.ID); ok || len(tm.inbox(t, "ada")) != 0 || len(tm.hub.take()) != 0 {
		t.Fatal("the event was delivered at 09:59")
	}
	if n := tm.tick(t, at9.Add(time.Hour)); n != 1 {
		t.Errorf("at 10:00 %d timers fired, want 1", n)
	}
	if _, ok := tm.status(t, ev.ID); !ok {
		t.Fatal("at 10:00 the event is not planned")
	}
	if items := tm.inbox(t, "ada"); len(items) != 1 || !items[0].CreatedAt.Equal(at9.Add(time.Hour)) {
		t.Errorf("inbox at 10:00: %+v; want the event, created at 10:00", items)
	}
	if got := sent(tm.hub.take()); !slices.Equal(got, []string{"conversation ada at-ten Standup", "mobile ada at-ten Standup", "webpush ada at-ten Standup"}) {
		t.Errorf("batches at 10:00: %q", got)
	}
	if _, ok, _ := Scheduled(t.Context(), tm.st, ev.ID); ok {
		t.Error("the event is still scheduled after it fired")
	}
	// Consumed again (a hub redelivery) after its time: planned once.
	tm.send(t, ev)
	if n := tm.tick(t, at9.Add(2*time.Hour)); n != 0 || len(tm.inbox(t, "ada")) != 1 {
		t.Errorf("after a redelivery: %d timers fired, inbox %d items; want 0 and 1", n, len(tm.inbox(t, "ada")))
	}
}

// TestScheduledEventsSurviveARestart: the timer is in the store, so a new
// process on the same data fires it, once.
func TestScheduledEventsSurviveARestart(t *testing.T) {
	t.Parallel()
	tm := newTiming(t, Config{})
	ev := notification("after-restart", []string{"ada", "grace"}, event.Notification{DeliverAt: ptr(at9.Add(time.Hour))})
	tm.send(t, ev)
	tm.open(t)
	if n := tm.tick(t, at9.Add(30*time.Minute)); n != 0 {
		t.Errorf("at 09:30 after the restart %d timers fired", n)
	}
	tm.tick(t, at9.Add(61*time.Minute))
	tm.open(t) // and once more: nothing fires twice
	tm.tick(t, at9.Add(2*time.Hour))
	for _, u := range []string{"ada", "grace"} {
		if items := tm.inbox(t, u); len(items) != 1 {
			t.Errorf("%s's inbox has %d items, want 1", u, len(items))
		}
	}
}

// TestAFiredTimerWhoseDeleteWasLostIsHarmless: a claimed timer comes back
// after its lease when its claimer died before deleting it; the work is
// done once.
func TestAFiredTimerWhoseDeleteWasLostIsHarmless(t *testing.T) {
	t.Parallel()
	tm := newTiming(t, Config{})
	ev := notification("twice", []string{"ada"}, event.Notification{DeliverAt: ptr(at9.Add(time.Hour))})
	tm.send(t, ev)
	// A process claims the timer and does the work, then dies.
	ts, err := tm.st.ClaimTimers(t.Context(), at9.Add(time.Hour), timerLease, 10)
	if err != nil || len(ts) != 1 {
		t.Fatalf("ClaimTimers = %d, %v", len(ts), err)
	}
	if _, err := tm.h.fire(t.Context(), ts, at9.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if n := tm.tick(t, at9.Add(time.Hour+30*time.Second)); n != 0 {
		t.Errorf("within the lease %d timers fired", n)
	}
	if n := tm.tick(t, at9.Add(time.Hour+timerLease)); n != 1 {
		t.Errorf("after the lease %d timers fired, want 1", n)
	}
	if items := tm.inbox(t, "ada"); len(items) != 1 {
		t.Errorf("inbox has %d items, want 1", len(items))
	}
}

// TestAScheduledEventPastItsExpiryExpires: deliverAt after expiresAt means
// nothing is delivered.
func TestAScheduledEventPastItsExpiryExpires(t *testing.T) {
	t.Parallel()
	tm := newTiming(t, Config{})
	ev := notification("stale", []string{"ada"}, event.Notification{DeliverAt: ptr(at9.Add(time.Hour)), ExpiresAt: ptr(at9.Add(30 * time.Minute))})
	tm.send(t, ev)
	tm.tick(t, at9.Add(time.Hour))
	if len(tm.inbox(t, "ada")) != 0 || len(tm.hub.take()) != 0 {
		t.Error("an expired scheduled event was delivered")
	}
	for _, ch := range prefs.Channels {
		if o, _ := tm.outcome(t, ev.ID, "ada", ch); o != store.Expired {
			t.Errorf("%s: outcome %q, want expired", ch, o)
		}
	}
}

// TestDigestCollapsesACategoryPerPerson: three marketing notifications in
// the window reach the interrupting channels as one digest when it ends;
// the inbox has each at once; one alone goes out as itself; urgent ones and
// other categories are not held.
func TestDigestCollapsesACategoryPerPerson(t *testing.T) {
	t.Parallel()
	tm := newTiming(t, Config{Digests: map[string]time.Duration{"marketing": time.Hour}})
	ada := prefs.Default("ada")
	ada.SendNotificationToConversation, ada.SendNotificationToWebPush = false, false
	tm.setPrefs(t, ada)
	var evs []event.Event
	for i, title := range []string{"Spring sale", "New catalogue", "Webinar"} {
		tm.clock.set(at9.Add(time.Duration(i) * 10 * time.Minute))
		users := []string{"ada"}
		if i == 0 {
			users = append(users, "grace")
		}
		ev := notification(fmt.Sprint("m", i), users, event.Notification{Title: title, Category: "marketing"})
		evs = append(evs, ev)
		tm.send(t, ev)
	}
	urgent := notification("urgent", []string{"ada"}, event.Notification{Title: "Recall", Category: "marketing", Urgency: event.UrgencyHigh})
	other := notification("training", []string{"ada"}, event.Notification{Title: "Training", Category: "training"})
	tm.send(t, urgent, other)
	if got := sent(tm.hub.take()); !slices.Equal(got, []string{"mobile ada training Training", "mobile ada urgent Recall"}) {
		t.Errorf("sent within the window: %q; want only the urgent and the other category", got)
	}
	if n := len(tm.inbox(t, "ada")); n != 5 {
		t.Errorf("ada's inbox has %d items within the window, want all 5", n)
	}
	if o, r := tm.outcome(t, evs[1].ID, "ada", prefs.Mobile); o != store.Deferred || !strings.Contains(r, "marketing digest") {
		t.Errorf("held: %s %q", o, r)
	}
	if n := tm.tick(t, at9.Add(59*time.Minute)); n != 0 {
		t.Errorf("%d timers fired before the window ended", n)
	}
	tm.tick(t, at9.Add(time.Hour))
	batches := tm.hub.take()
	got := sent(batches)
	if len(got) != 4 {
		t.Fatalf("sent when the window ended: %q; want ada's digest on mobile and grace's notification on 3 channels", got)
	}
	var digest event.Event
	for _, b := range batches {
		for _, it := range b.Items {
			if it.Users[0] == "ada" {
				digest = it.Event
			}
		}
	}
	if digest.Source != DigestSource || digest.Notification.Title != "3 new marketing notifications" ||
		digest.Notification.Message != "• Spring sale\n• New catalogue\n• Webinar" {
		t.Errorf("ada's digest: %+v", digest.Notification)
	}
	grace := slices.DeleteFunc(slices.Clone(got), func(s string) bool { return !strings.Contains(s, " grace ") })
	if want := []string{"conversation grace m0 Spring sale", "mobile grace m0 Spring sale", "webpush grace m0 Spring sale"}; !slices.Equal(grace, want) {
		t.Errorf("grace: %q; want her one notification as itself", grace)
	}
	for _, ev := range evs {
		if o, r := tm.outcome(t, ev.ID, "ada", prefs.Mobile); o != store.Digested || r != "sent in digest "+digest.ID {
			t.Errorf("%s for ada: %s %q; want digested into %s", ev.SourceID, o, r, digest.ID)
		}
	}
	if st, ok := tm.status(t, digest.ID); !ok || st.Targeted != 4 || st.Channels[prefs.Mobile].Pending != 1 ||
		st.Channels[prefs.Inbox].Outcomes[string(store.Digested)] != 1 {
		t.Errorf("the digest's status: %+v, %v; want it pending on ada's mobile, the inbox digested", st, ok)
	}
	// Nothing more fires, and a repeated flush sends nothing.
	if n := tm.tick(t, at9.Add(3*time.Hour)); n != 0 {
		t.Errorf("%d timers fired after the digest", n)
	}
	if keys, err := tm.h.flushDigest(t.Context(), "marketing", "ada", at9.Add(3*time.Hour)); err != nil || len(tm.hub.take()) != 0 {
		t.Errorf("a second flush: %v, %v; want nothing sent", keys, err)
	}
	// A new window starts with the next one.
	tm.clock.set(at9.Add(4 * time.Hour))
	tm.send(t, notification("m9", []string{"ada"}, event.Notification{Title: "Late offer", Category: "marketing"}))
	tm.tick(t, at9.Add(5*time.Hour))
	if got := sent(tm.hub.take()); !slices.Equal(got, []string{"mobile ada m9 Late offer"}) {
		t.Errorf("the next window: %q", got)
	}
}

// TestEscalationSendsUnreadNotificationsToDevices: devices wait; unread
// after 30 minutes they get it, read before they do not.
func TestEscalationSendsUnreadNotificationsToDevices(t *testing.T) {
	t.Parallel()
	tm := newTiming(t, Config{Escalations: map[string]time.Duration{"training": 30 * time.Minute}})
	ev := notification("course", []string{"ada", "grace", "linus"}, event.Notification{Title: "Course", Category: "training"})
	noInbox := prefs.Default("linus")
	noInbox.SendNotificationToInbox = false
	tm.setPrefs(t, noInbox)
	tm.send(t, ev)
	if got := sent(tm.hub.take()); !slices.Equal(got, []string{
		"conversation ada course Course", "conversation grace course Course", "conversation linus course Course",
		"mobile linus course Course", "webpush linus course Course",
	}) {
		t.Errorf("sent at once: %q; want conversations, and devices only for linus who has no inbox to read it in", got)
	}
	if o, r := tm.outcome(t, ev.ID, "ada", prefs.Mobile); o != store.Deferred || r != "sent to devices only if unread in the inbox after 30m" {
		t.Errorf("held: %s %q", o, r)
	}
	readAt := at9.Add(10 * time.Minute)
	if _, err := tm.st.MarkRead(t.Context(), "grace", ev.ID, readAt); err != nil {
		t.Fatal(err)
	}
	if n := tm.tick(t, at9.Add(29*time.Minute)); n != 0 {
		t.Errorf("%d timers fired before 30 minutes", n)
	}
	tm.tick(t, at9.Add(30*time.Minute))
	batches := tm.hub.take()
	if got := sent(batches); !slices.Equal(got, []string{"mobile ada course Course", "webpush ada course Course"}) {
		t.Errorf("escalated: %q; want ada's devices only", got)
	}
	for _, b := range batches {
		if b.Items[0].Note != "escalated: unread after 30m" {
			t.Errorf("the %s batch notes %q", b.Channel, b.Items[0].Note)
		}
	}
	if o, r := tm.outcome(t, ev.ID, "grace", prefs.Mobile); o != store.NotEscalated || !strings.Contains(r, "read in the inbox at 2026-06-10T09:10:00Z") {
		t.Errorf("grace: %s %q; want not_escalated", o, r)
	}
	if o, r := tm.outcome(t, ev.ID, "ada", prefs.WebPush); o != store.Deferred || r != "escalated: unread after 30m" {
		t.Errorf("ada while the worker delivers: %s %q", o, r)
	}
	if n := tm.tick(t, at9.Add(2*time.Hour)); n != 0 || len(tm.hub.take()) != 0 {
		t.Errorf("after escalating: %d timers fired", n)
	}
}

// TestEscalationRespectsPreferencesAtThatTime: a device channel switched
// off meanwhile is skipped; quiet hours at that time defer it; an event's
// own escalateAfter wins over the category's.
func TestEscalationRespectsPreferencesAtThatTime(t *testing.T) {
	t.Parallel()
	tm := newTiming(t, Config{Escalations: map[string]time.Duration{"training": 30 * time.Minute}})
	ev := notification("own-delay", []string{"ada"}, event.Notification{Title: "Course", Category: "training", EscalateAfter: event.Duration(2 * time.Hour)})
	tm.send(t, ev)
	tm.hub.take()
	ada := prefs.Default("ada")
	ada.SendNotificationToWebPush = false
	ada.QuietHours = &prefs.QuietHours{Start: "10:30", End: "12:00"}
	tm.setPrefs(t, ada)
	if n := tm.tick(t, at9.Add(30*time.Minute)); n != 0 {
		t.Errorf("the category's 30m fired although the event says 2h")
	}
	tm.tick(t, at9.Add(2*time.Hour)) // 11:00, in quiet hours
	batches := tm.hub.take()
	if len(batches) != 1 || batches[0].Channel != prefs.Mobile || !batches[0].NotBefore.Equal(at9.Add(3*time.Hour)) {
		t.Fatalf("escalated batches: %+v; want mobile, not before 12:00", batches)
	}
	if o, r := tm.outcome(t, ev.ID, "ada", prefs.WebPush); o != store.SkippedPreference {
		t.Errorf("webpush switched off: %s %q", o, r)
	}
	if o, r := tm.outcome(t, ev.ID, "ada", prefs.Mobile); o != store.Deferred || !strings.HasPrefix(r, "escalated: unread after 2h; quiet hours until") {
		t.Errorf("mobile: %s %q", o, r)
	}
}

// TestUrgentNotificationsBreakQuietHoursWhenAllowed: the person's
// quietHours.allowUrgent lists the categories whose urgent notifications
// are delivered at once.
func TestUrgentNotificationsBreakQuietHoursWhenAllowed(t *testing.T) {
	t.Parallel()
	tm := newTiming(t, Config{})
	ada := prefs.Default("ada")
	ada.SendNotificationToConversation, ada.SendNotificationToWebPush = false, false
	ada.QuietHours = &prefs.QuietHours{Start: "08:00", End: "12:00", AllowUrgent: []string{"security"}}
	tm.setPrefs(t, ada)
	breach := notification("breach", []string{"ada"}, event.Notification{Title: "Breach", Category: "security", Urgency: event.UrgencyHigh})
	advisory := notification("advisory", []string{"ada"}, event.Notification{Title: "Advisory", Category: "security"})
	sale := notification("sale", []string{"ada"}, event.Notification{Title: "Sale", Category: "marketing", Urgency: event.UrgencyHigh})
	tm.send(t, breach, advisory, sale)
	noon := at9.Add(3 * time.Hour)
	for _, b := range tm.hub.take() {
		for _, it := range b.Items {
			want := noon
			if it.Event.SourceID == "breach" {
				want = time.Time{}
			}
			if !b.NotBefore.Equal(want) {
				t.Errorf("%s: not before %v, want %v", it.Event.SourceID, b.NotBefore, want)
			}
		}
	}
	if o, _ := tm.outcome(t, advisory.ID, "ada", prefs.Mobile); o != store.Deferred {
		t.Errorf("a normal security notification: %s, want deferred", o)
	}
}

// TestTemplatesRenderPerPerson: each person's inbox and channels get the
// text of their locale's template.
func TestTemplatesRenderPerPerson(t *testing.T) {
	t.Parallel()
	set, err := templates.Parse(map[string]string{
		"training":    `{{define "title"}}Training due{{end}}Finish {{.Data.course}}, {{.User}}.`,
		"fr/training": `{{define "title"}}Formation{{end}}Terminez {{.Data.course}}.`,
	})
	if err != nil {
		t.Fatal(err)
	}
	tm := newTiming(t, Config{Templates: set})
	for _, p := range []prefs.Preferences{prefs.Default("ada"), prefs.Default("amélie"), prefs.Default("zoé")} {
		p.SendNotificationToConversation, p.SendNotificationToWebPush = false, false
		if p.UserID != "ada" {
			p.Locale = "fr-CA"
		}
		tm.setPrefs(t, p)
	}
	ev := notification("sec101", []string{"amélie", "ada", "zoé"}, event.Notification{Title: "x", Category: "training", Data: json.RawMessage(`{"course":"SEC-101"}`)})
	tm.send(t, ev)
	for user, want := range map[string]string{"ada": "Training due: Finish SEC-101, ada.", "amélie": "Formation: Terminez SEC-101.", "zoé": "Formation: Terminez SEC-101."} {
		items := tm.inbox(t, user)
		if len(items) != 1 || items[0].Title+": "+items[0].Message != want {
			t.Errorf("%s's inbox: %+v; want %q", user, items, want)
		}
	}
	batches := tm.hub.take()
	if len(batches) != 1 || len(batches[0].Items) != 2 {
		t.Fatalf("batches: %+v; want one mobile batch with an item per text", batches)
	}
	if got := sent(batches); !slices.Equal(got, []string{"mobile ada sec101 Training due", "mobile amélie sec101 Formation", "mobile zoé sec101 Formation"}) {
		t.Errorf("mobile: %q", got)
	}
}

// TestScheduledBroadcastStartsAtItsTime: a broadcast with deliverAt starts
// when it is due, not before.
func TestScheduledBroadcastStartsAtItsTime(t *testing.T) {
	t.Parallel()
	tm := newTiming(t, Config{})
	ev := notification("all-hands", nil, event.Notification{Title: "All hands", DeliverAt: ptr(at9.Add(time.Hour))})
	ev.Audience = event.Audience{All: true}
	tm.send(t, ev)
	if _, err := tm.st.Broadcast(t.Context(), ev.ID); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("before its time: Broadcast = %v; want not started", err)
	}
	tm.tick(t, at9.Add(time.Hour))
	if b, err := tm.st.Broadcast(t.Context(), ev.ID); err != nil || b.State != store.BroadcastRunning || !b.StartedAt.Equal(at9.Add(time.Hour)) {
		t.Errorf("at its time: %+v, %v; want running since 10:00", b, err)
	}
}
