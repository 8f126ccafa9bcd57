package app_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/herald/herald/internal/app"
	"github.com/herald/herald/internal/channel/push"
	"github.com/herald/herald/internal/channel/push/pushtest"
	"github.com/herald/herald/internal/client"
	"github.com/herald/herald/internal/event"
	"github.com/herald/herald/internal/store"
)

// testClock is the handler's clock in timing tests: it moves only when the
// test moves it.
type testClock struct {
	mu  sync.Mutex
	now time.Time
}

func newTestClock() *testClock {
	return &testClock{now: time.Now().UTC().Truncate(time.Minute)}
}

func (c *testClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }

func (c *testClock) set(t time.Time) { c.mu.Lock(); c.now = t; c.mu.Unlock() }

// timingOptions drive time by hand: the timer loop never wakes on its own
// after its first look (at start), so only FireTimers fires timers.
func timingOptions(c *testClock) app.TimingOptions {
	return app.TimingOptions{Now: c.Now, TimerEvery: time.Hour}
}

// fire moves the clock to at and fires the timers due.
func fire(t *testing.T, a *app.App, c *testClock, at time.Time) {
	t.Helper()
	c.set(at)
	if _, err := a.FireTimers(context.Background(), at); err != nil {
		t.Fatalf("FireTimers: %v", err)
	}
}

// TestScheduledEventAcrossARestart: an event for 10:00 is accepted and
// shown as scheduled; herald stops; started again on the same data it
// delivers the event when its time comes, once, and never again.
func TestScheduledEventAcrossARestart(t *testing.T) {
	t.Parallel()
	clk := newTestClock()
	base := clk.Now()
	dir := t.TempDir()
	b := setupWith(t, app.Options{DataDir: dir, Timing: timingOptions(clk)})
	deliverAt := base.Add(time.Hour)
	ans := b.post(t, event.MediaCloudEvent, cloudEvent("at-ten", []string{"alice"}, "Standup in 5 minutes",
		map[string]any{"deliverAt": deliverAt.Format(time.RFC3339)}))
	id := ans.ids[0]
	var st struct {
		State     string     `json:"state"`
		DeliverAt *time.Time `json:"deliverAt"`
	}
	pollStatus(t, b.reader, id, 10*time.Second, &st, func() bool { return st.State == "scheduled" })
	if st.DeliverAt == nil || !st.DeliverAt.Equal(deliverAt) {
		t.Errorf("scheduled status: deliverAt %v, want %v", st.DeliverAt, deliverAt)
	}
	fire(t, b.app, clk, deliverAt.Add(-time.Minute))
	if p := b.inbox(t, "alice", ""); len(p.Notifications) != 0 {
		t.Fatalf("delivered a minute early: %+v", p.Notifications)
	}
	b.stop()

	b = setupWith(t, app.Options{DataDir: dir, Timing: timingOptions(clk)})
	pollStatus(t, b.reader, id, 10*time.Second, &st, func() bool { return st.State == "scheduled" })
	fire(t, b.app, clk, deliverAt)
	done := b.waitCompleted(t, id)
	if done.Channels["inbox"].Outcomes["delivered"] != 1 {
		t.Errorf("status after 10:00: %+v", done)
	}
	b.stop()

	b = setupWith(t, app.Options{DataDir: dir, Timing: timingOptions(clk)})
	fire(t, b.app, clk, deliverAt.Add(24*time.Hour))
	if p := b.inbox(t, "alice", ""); len(p.Notifications) != 1 || p.Notifications[0].Message != "Standup in 5 minutes" {
		t.Errorf("inbox after two restarts: %+v; want the event once", p.Notifications)
	}
}

// TestScheduledEventPastItsExpiry: deliverAt after expiresAt delivers
// nothing; the status says expired.
func TestScheduledEventPastItsExpiry(t *testing.T) {
	t.Parallel()
	clk := newTestClock()
	base := clk.Now()
	b := setupWith(t, app.Options{Timing: timingOptions(clk)})
	ans := b.post(t, event.MediaCloudEvent, cloudEvent("stale", []string{"alice"}, "Old news",
		map[string]any{"deliverAt": base.Add(time.Hour).Format(time.RFC3339), "expiresAt": base.Add(30 * time.Minute).Format(time.RFC3339)}))
	var st statusDoc
	pollStatus(t, b.reader, ans.ids[0], 10*time.Second, &st, func() bool { return st.State == "scheduled" })
	fire(t, b.app, clk, base.Add(time.Hour))
	done := b.waitCompleted(t, ans.ids[0])
	for _, ch := range []string{"inbox", "conversation"} {
		if done.Channels[ch].Outcomes["expired"] != 1 {
			t.Errorf("%s: %+v; want expired", ch, done.Channels[ch])
		}
	}
	if p := b.inbox(t, "alice", ""); len(p.Notifications) != 0 {
		t.Errorf("inbox: %+v; want nothing", p.Notifications)
	}
}

// TestTemplatesFromADirectory: --templates renders each person's inbox in
// their preferred locale.
func TestTemplatesFromADirectory(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	for name, text := range map[string]string{
		"training.tmpl":    `{{define "title"}}Training due{{end}}Finish {{.Data.course}} by {{.Data.due}}.`,
		"fr/training.tmpl": `{{define "title"}}Formation à suivre{{end}}Terminez {{.Data.course}} avant {{.Data.due}}.`,
	} {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o750); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	b := setupWith(t, app.Options{Timing: app.TimingOptions{TemplatesDir: dir}})
	if err := b.admin.Do(context.Background(), http.MethodPatch, client.UserPath("amelie", "/preferences"), "application/json", []byte(`{"locale": "fr-CA"}`), nil); err != nil {
		t.Fatal(err)
	}
	ans := b.post(t, event.MediaCloudEvent, cloudEvent("course", []string{"amelie", "bob"}, "Finish SEC-101",
		map[string]any{"category": "training", "data": map[string]any{"course": "SEC-101", "due": "Friday"}}))
	b.waitCompleted(t, ans.ids[0])
	for user, want := range map[string]string{"amelie": "Formation à suivre / Terminez SEC-101 avant Friday.", "bob": "Training due / Finish SEC-101 by Friday."} {
		p := b.inbox(t, user, "")
		if len(p.Notifications) != 1 || p.Notifications[0].Title+" / "+p.Notifications[0].Message != want {
			t.Errorf("%s: %+v; want %q", user, p.Notifications, want)
		}
	}
	if _, err := app.Open(context.Background(), app.Options{DataDir: t.TempDir(), Timing: app.TimingOptions{TemplatesDir: filepath.Join(dir, "missing")}}); err == nil || !strings.Contains(err.Error(), "--templates") {
		t.Errorf("Open with a missing templates directory: %v; want an error naming --templates", err)
	}
}

// inboxOf reads a person's inbox through a push bundle's reader.
func (b *pushBundle) inboxOf(t *testing.T, user string) []store.InboxItem {
	t.Helper()
	var p inboxPage
	if err := b.reader.Do(context.Background(), http.MethodGet, client.UserPath(user, "/notifications"), "", nil, &p); err != nil {
		t.Fatal(err)
	}
	return p.Notifications
}

func (b *pushBundle) post(t *testing.T, id string, users []string, notif map[string]any) string {
	t.Helper()
	body, _ := json.Marshal(map[string]any{
		"specversion": "1.0", "id": id, "source": "urn:timing-test", "type": "com.example.test",
		"data": map[string]any{"audience": map[string]any{"users": users}, "notification": notif},
	})
	resp, err := b.producer.PostEvents(context.Background(), event.MediaCloudEvent, body)
	if err != nil || len(resp.Accepted) != 1 {
		t.Fatalf("post event: %v %+v", err, resp)
	}
	return resp.Accepted[0].ID
}

type recipientDoc struct {
	UserID  string `json:"userId"`
	Channel string `json:"channel"`
	Outcome string `json:"outcome"`
	Reason  string `json:"reason"`
}

func recipient(st statusDoc, user, channel string) recipientDoc {
	for _, r := range st.Recipients {
		if r.UserID == user && r.Channel == channel {
			return recipientDoc(r)
		}
	}
	return recipientDoc{}
}

// TestDigestEndToEnd: three marketing notifications within the window
// reach the person's phone as one push when it ends; the inbox had each
// at once.
func TestDigestEndToEnd(t *testing.T) {
	clk := newTestClock()
	base := clk.Now()
	b := setupPush(t, func(o *app.Options) {
		o.Timing = timingOptions(clk)
		o.Timing.Digests = map[string]time.Duration{"marketing": time.Hour}
	})
	phone := b.addDevice(t, "ada", map[string]any{"platform": "apns", "token": pushtest.HexToken(41), "environment": "sandbox"})
	var ids []string
	for i, title := range []string{"Spring sale", "New catalogue", "Webinar"} {
		clk.set(base.Add(time.Duration(i) * 10 * time.Minute))
		ids = append(ids, b.post(t, "m"+title, []string{"ada"}, map[string]any{"title": title, "message": title + "!", "category": "marketing"}))
		eventually(t, 10*time.Second, "inbox", func() (bool, string) {
			n := len(b.inboxOf(t, "ada"))
			return n == i+1, fmt.Sprint(n, " items")
		})
	}
	if r := b.apns.Requests(); len(r) != 0 {
		t.Fatalf("pushed within the window: %d requests", len(r))
	}
	fire(t, b.app, clk, base.Add(time.Hour))
	eventually(t, 10*time.Second, "the digest on the phone", func() (bool, string) {
		r := b.apns.Requests()
		return len(r) == 1, fmt.Sprint(len(r), " requests so far")
	})
	body := string(b.apns.Requests()[0].Body)
	if !strings.Contains(body, "3 new marketing notifications") || !strings.Contains(body, "Spring sale") {
		t.Errorf("the digest push: %s", body)
	}
	var digestID string
	for _, id := range ids {
		var st statusDoc
		pollStatus(t, b.reader, id, 10*time.Second, &st, func() bool { return st.State == "completed" })
		r := recipient(st, "ada", "mobile")
		if r.Outcome != "digested" || !strings.HasPrefix(r.Reason, "sent in digest ") {
			t.Fatalf("event %s on mobile: %+v; want digested", id, r)
		}
		digestID = strings.TrimPrefix(r.Reason, "sent in digest ")
	}
	var st statusDoc
	pollStatus(t, b.reader, digestID, 10*time.Second, &st, func() bool { return st.State == "completed" })
	if st.Channels["mobile"].Outcomes["delivered"] != 1 {
		t.Errorf("the digest's status: %+v", st)
	}
	if got := b.apns.Accepted()[push.MessageID(digestID, phone.ID)]; got != 1 {
		t.Errorf("APNs accepted the digest %d times, want 1", got)
	}
}

// TestEscalationEndToEnd: a training notification reaches the inbox (and
// the conversation) at once; 30 minutes later, the phone of the person who
// has not read it gets it, and the phone of the one who did does not.
func TestEscalationEndToEnd(t *testing.T) {
	clk := newTestClock()
	base := clk.Now()
	b := setupPush(t, func(o *app.Options) {
		o.Timing = timingOptions(clk)
		o.Timing.Escalations = map[string]time.Duration{"training": 30 * time.Minute}
	})
	adaPhone := b.addDevice(t, "ada", map[string]any{"platform": "apns", "token": pushtest.HexToken(51), "environment": "sandbox"})
	gracePhone := b.addDevice(t, "grace", map[string]any{"platform": "apns", "token": pushtest.HexToken(52), "environment": "sandbox"})
	id := b.post(t, "course", []string{"ada", "grace"}, map[string]any{"title": "Training due", "message": "Finish SEC-101", "category": "training"})
	for _, u := range []string{"ada", "grace"} {
		eventually(t, 10*time.Second, u+"'s inbox", func() (bool, string) { return len(b.inboxOf(t, u)) == 1, "" })
	}
	if err := b.reader.Do(context.Background(), http.MethodPost, client.UserPath("grace", "/notifications/"+id+"/read"), "", nil, nil); err != nil {
		t.Fatal(err)
	}
	var st statusDoc
	pollStatus(t, b.reader, id, 10*time.Second, &st, func() bool {
		return recipient(st, "ada", "mobile").Outcome == "deferred"
	})
	if r := recipient(st, "ada", "mobile"); r.Reason != "sent to devices only if unread in the inbox after 30m" {
		t.Errorf("held: %+v", r)
	}
	fire(t, b.app, clk, base.Add(29*time.Minute))
	if len(b.apns.Requests()) != 0 {
		t.Fatal("pushed before 30 minutes")
	}
	fire(t, b.app, clk, base.Add(30*time.Minute))
	pollStatus(t, b.reader, id, 10*time.Second, &st, func() bool { return st.State == "completed" })
	if r := recipient(st, "ada", "mobile"); r.Outcome != "delivered" || r.Reason != "escalated: unread after 30m" {
		t.Errorf("ada's phone: %+v; want delivered, escalated", r)
	}
	if r := recipient(st, "grace", "mobile"); r.Outcome != "not_escalated" {
		t.Errorf("grace's phone: %+v; want not_escalated", r)
	}
	accepted := b.apns.Accepted()
	if accepted[push.MessageID(id, adaPhone.ID)] != 1 || accepted[push.MessageID(id, gracePhone.ID)] != 0 {
		t.Errorf("APNs accepted %v; want ada's phone once and grace's never", accepted)
	}
}
