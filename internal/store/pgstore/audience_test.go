package pgstore

import (
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/herald/herald/internal/event"
	"github.com/herald/herald/internal/prefs"
	"github.com/herald/herald/internal/store"
	"github.com/herald/herald/internal/store/sqlitestore"
	"github.com/herald/herald/internal/store/storetest"
)

// TestAudiencesMatchSQLite runs one script of topic, import and broadcast
// calls (which storetest does not specify yet) on this driver and on
// sqlitestore, the reference, and compares every answer.
func TestAudiencesMatchSQLite(t *testing.T) {
	t.Parallel()
	lite, err := sqlitestore.Open(t.Context(), filepath.Join(t.TempDir(), "herald.db"), sqlitestore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { lite.Close() })
	pg := openTest(t)
	want := audienceScript(t, lite)
	got := audienceScript(t, pg)
	for i := range max(len(got), len(want)) {
		var g, w string
		if i < len(got) {
			g = got[i]
		}
		if i < len(want) {
			w = want[i]
		}
		if g != w {
			t.Errorf("step %d:\n pgstore:     %s\n sqlitestore: %s", i, g, w)
		}
	}
}

// audienceScript drives s and returns a line describing each answer, with
// what legitimately differs between drivers (creation times, seqs) left
// out.
func audienceScript(t *testing.T, s store.Store) []string {
	t.Helper()
	ctx := t.Context()
	var out []string
	say := func(format string, args ...any) { out = append(out, fmt.Sprintf(format, args...)) }
	errClass := func(err error) string {
		switch {
		case err == nil:
			return "ok"
		case errors.Is(err, store.ErrNotFound):
			return "not found"
		case errors.Is(err, store.ErrConflict):
			return "conflict"
		}
		return "error"
	}
	ids := func(ps []prefs.Preferences) string {
		var s []string
		for _, p := range ps {
			s = append(s, p.UserID)
		}
		return strings.Join(s, ",")
	}
	describePrefs := func(p prefs.Preferences) string {
		p.UpdatedAt = time.Time{}
		b, _ := json.Marshal(p)
		return string(b)
	}

	for _, name := range []string{"eng", "ops", "eng"} {
		tp, err := s.CreateTopic(ctx, name, "the "+name+" team")
		say("CreateTopic(%s) = %s %q %s", name, tp.Name, tp.Description, errClass(err))
	}
	custom := prefs.Default("carol")
	custom.SendNotificationToMobileDevice = false
	custom.Categories = map[string]bool{"marketing": false}
	custom.QuietHours = &prefs.QuietHours{Start: "22:00", End: "07:00"}
	custom.TimeZone = "Europe/Paris"
	custom.UpdatedAt = time.Date(2025, 1, 2, 3, 4, 5, 6000, time.UTC)
	late := custom
	late.Locale = "fr-FR"
	err := s.ImportUsers(ctx, []store.UserRecord{
		{Preferences: prefs.Default("dave"), Topics: []string{"eng", "contractors"}},
		{Preferences: custom, Topics: []string{"ops"}},
		{Preferences: prefs.Default("bob"), Topics: []string{"eng"}},
		{Preferences: late, Topics: []string{"eng"}},
		{Preferences: prefs.Default("erin")},
		{Preferences: prefs.Default("frank"), Topics: []string{"contractors"}},
	})
	say("ImportUsers = %s", errClass(err))
	got, err := s.LoadPreferences(ctx, []string{"carol", "dave"})
	say("LoadPreferences(carol, dave) = %s / %s %s", describePrefs(got["carol"]), describePrefs(got["dave"]), errClass(err))
	say("carol's updatedAt kept: %v", got["carol"].UpdatedAt.Equal(custom.UpdatedAt))

	n, err := s.AddMembers(ctx, "eng", []string{"alice", "zed", "alice", "bob"})
	say("AddMembers(eng) = %d %s", n, errClass(err))
	n, err = s.AddMembers(ctx, "nope", []string{"alice"})
	say("AddMembers(nope) = %d %s", n, errClass(err))
	n, err = s.AddMembers(ctx, "ops", nil)
	say("AddMembers(ops, none) = %d %s", n, errClass(err))
	n, err = s.RemoveMembers(ctx, "eng", []string{"zed", "zed", "nobody"})
	say("RemoveMembers(eng) = %d %s", n, errClass(err))
	n, err = s.RemoveMembers(ctx, "nope", []string{"zed"})
	say("RemoveMembers(nope) = %d %s", n, errClass(err))

	topics, err := s.Topics(ctx)
	for _, tp := range topics {
		say("topic %s %q members %d, created: %v", tp.Name, tp.Description, tp.Members, !tp.CreatedAt.IsZero())
	}
	say("Topics %s", errClass(err))
	tp, err := s.Topic(ctx, "eng")
	say("Topic(eng) = %s %d %s", tp.Name, tp.Members, errClass(err))
	_, err = s.Topic(ctx, "nope")
	say("Topic(nope) %s", errClass(err))
	for _, c := range []struct {
		after string
		limit int
	}{{"", 2}, {"alice", 2}, {"carol", 10}, {"zzz", 10}, {"", 0}, {"", -1}} {
		m, err := s.Members(ctx, "eng", c.after, c.limit)
		say("Members(eng, %q, %d) = %v %s", c.after, c.limit, m, errClass(err))
	}

	// Audiences, paged with several limits until done.
	for _, a := range []event.Audience{
		{All: true},
		{All: true, Exclude: event.Exclusion{Topics: []string{"contractors"}, Users: []string{"erin"}}},
		{Topics: []string{"eng"}},
		{Topics: []string{"eng", "ops", "eng"}, Users: []string{"zoe", "bob", "alice"}},
		{Topics: []string{"eng", "contractors"}, Exclude: event.Exclusion{Topics: []string{"contractors"}}},
		{Topics: []string{"missing"}},
		{Users: []string{"nobody-yet"}},
	} {
		for _, limit := range []int{1, 2, 3, 100} {
			after := ""
			for page := 0; page < 20; page++ {
				people, last, done, err := s.AudiencePage(ctx, a, after, limit)
				say("AudiencePage(%+v, %q, %d) = [%s] last %q done %v %s", a, after, limit, ids(people), last, done, errClass(err))
				if done || err != nil || last == "" {
					break
				}
				after = last
			}
		}
	}

	// A broadcast.
	ev := event.Event{ID: "bc-1", Source: "urn:test", Type: "t", Audience: event.Audience{Topics: []string{"eng"}, Users: []string{"newbie"}},
		Notification: event.Notification{Title: "All hands", Message: "Friday at 4", Category: "news", Urgency: event.UrgencyHigh,
			Actions: []event.Action{{ID: "rsvp", Title: "RSVP"}}, Data: json.RawMessage(`{"room":"A"}`), Locale: "en"}}
	at := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	ok, err := s.StartBroadcast(ctx, ev, at)
	say("StartBroadcast = %v %s", ok, errClass(err))
	ok, err = s.StartBroadcast(ctx, ev, at.Add(time.Hour))
	say("StartBroadcast again = %v %s", ok, errClass(err))
	np, err := s.LoadPreferences(ctx, []string{"newbie"})
	say("newbie has defaults: %s %s", describePrefs(np["newbie"]), errClass(err))
	describeBroadcast := func(b store.Broadcast, err error) string {
		c, _ := json.Marshal(b.Counts)
		return fmt.Sprintf("%s state %s cursor %q recipients %d counts %s started %v finished %v %s",
			b.Event.ID, b.State, b.Cursor, b.Recipients, c, b.StartedAt.Equal(at), !b.FinishedAt.IsZero(), errClass(err))
	}
	say("Broadcast = %s", describeBroadcast(s.Broadcast(ctx, ev.ID)))
	_, err = s.Broadcast(ctx, "nope")
	say("Broadcast(nope) %s", errClass(err))
	running, err := s.RunningBroadcasts(ctx)
	say("RunningBroadcasts = %d %s", len(running), errClass(err))
	st, err := s.EventStatus(ctx, ev.ID, 10)
	say("EventStatus = targeted %d %s", st.Targeted, errClass(err))

	chunk := store.BroadcastChunk{EventID: ev.ID, From: "", To: "bob", Recipients: 2,
		Counts: store.Counts{"inbox": {"delivered": 2}, "mobile": {store.Queued: 1, "skipped_preference": 1}},
		Inbox:  []string{"alice", "bob"}, At: at}
	first, ok, err := s.RecordBroadcastChunk(ctx, chunk)
	say("RecordBroadcastChunk = first>0 %v %v %s", first > 0, ok, errClass(err))
	first, ok, err = s.RecordBroadcastChunk(ctx, chunk)
	say("RecordBroadcastChunk replayed = %d %v %s", first, ok, errClass(err))
	empty := store.BroadcastChunk{EventID: ev.ID, From: "bob", To: "bob", Counts: store.Counts{}, At: at}
	first, ok, err = s.RecordBroadcastChunk(ctx, empty)
	say("RecordBroadcastChunk empty = %d %v %s", first, ok, errClass(err))
	say("Broadcast = %s", describeBroadcast(s.Broadcast(ctx, ev.ID)))

	// Receipts read as full items, in any inbox query, and MarkRead.
	if _, err := storetest.DeliverInbox(ctx, s, []store.InboxItem{{UserID: "alice", EventID: "direct-1", Message: "direct", CreatedAt: at.Add(time.Minute)}}); err != nil {
		t.Fatal(err)
	}
	describeItems := func(items []store.InboxItem, err error) string {
		var parts []string
		for _, it := range items {
			it.Seq = 0
			b, _ := json.Marshal(it)
			parts = append(parts, string(b))
		}
		return strings.Join(parts, " | ") + " " + errClass(err)
	}
	say("ListInbox(alice) = %s", describeItems(s.ListInbox(ctx, store.InboxQuery{UserID: "alice"})))
	it, err := s.MarkRead(ctx, "bob", ev.ID, at.Add(time.Hour))
	say("MarkRead(bob) = %s", describeItems([]store.InboxItem{it}, err))
	say("ListInbox(bob, unread) = %s", describeItems(s.ListInbox(ctx, store.InboxQuery{UserID: "bob", UnreadOnly: true})))
	c, err := s.UnreadCount(ctx, "alice")
	say("UnreadCount(alice) = %d %s", c, errClass(err))

	ok, err = s.FinishBroadcast(ctx, ev.ID, store.BroadcastCancelled, at.Add(2*time.Hour))
	say("FinishBroadcast = %v %s", ok, errClass(err))
	ok, err = s.FinishBroadcast(ctx, ev.ID, store.BroadcastDone, at.Add(3*time.Hour))
	say("FinishBroadcast again = %v %s", ok, errClass(err))
	first, ok, err = s.RecordBroadcastChunk(ctx, store.BroadcastChunk{EventID: ev.ID, From: "bob", To: "zed", Inbox: []string{"zed"}, Counts: store.Counts{}, At: at})
	say("RecordBroadcastChunk after cancel = %d %v %s", first, ok, errClass(err))
	say("Broadcast = %s", describeBroadcast(s.Broadcast(ctx, ev.ID)))
	running, err = s.RunningBroadcasts(ctx)
	say("RunningBroadcasts = %d %s", len(running), errClass(err))

	// FinalOutcomes leaves dead letters and retries out.
	plan := store.Plan{Event: event.Event{ID: "ev-2", Audience: event.Audience{Users: []string{"a", "b", "c", "d"}}}, Targeted: 16}
	if _, err := s.RecordPlans(ctx, []store.Plan{plan}); err != nil {
		t.Fatal(err)
	}
	if err := s.RecordOutcomes(ctx, []store.DeliveryRecord{
		{EventID: "ev-2", UserID: "a", Channel: "mobile", Outcome: store.Delivered, At: at},
		{EventID: "ev-2", UserID: "b", Channel: "mobile", Outcome: store.DeadLettered, At: at},
		{EventID: "ev-2", UserID: "c", Channel: "mobile", Outcome: store.Retrying, At: at},
		{EventID: "ev-2", UserID: "c", Channel: "mobile", Outcome: store.Failed, At: at},
		{EventID: "ev-2", UserID: "d", Channel: "webpush", Outcome: store.Delivered, At: at},
	}); err != nil {
		t.Fatal(err)
	}
	fo, err := s.FinalOutcomes(ctx, "ev-2", "mobile", []string{"a", "b", "c", "d", "e"})
	keys := make([]string, 0, len(fo))
	for k, v := range fo {
		keys = append(keys, fmt.Sprintf("%s=%v", k, v))
	}
	slices.Sort(keys)
	say("FinalOutcomes = %v %s", keys, errClass(err))

	err = s.DeleteTopic(ctx, "eng")
	say("DeleteTopic(eng) %s", errClass(err))
	err = s.DeleteTopic(ctx, "eng")
	say("DeleteTopic(eng) again %s", errClass(err))
	m, err := s.Members(ctx, "eng", "", 10)
	say("Members(eng) after delete = %v %s", m, errClass(err))
	return out
}
