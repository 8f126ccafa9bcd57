// Package storetest is the behaviour suite every store.Store driver must
// pass. A driver's test calls Run with a function that opens a fresh, empty
// store; the suite then specifies, one subtest per rule, what the store
// interface promises: preferences and their defaults, planning and status,
// outcomes, the inbox and API keys.
//
// The suite uses times with microsecond precision and compares JSON by
// meaning, not bytes, so a driver may store times as microseconds
// (PostgreSQL's timestamptz) and JSON as jsonb.
package storetest

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/herald/herald/internal/event"
	"github.com/herald/herald/internal/prefs"
	"github.com/herald/herald/internal/store"
)

// Run runs the suite. open must return a new, empty store for each call and
// arrange (with t.Cleanup) for it to be closed; subtests run in parallel,
// each on its own store.
func Run(t *testing.T, open func(t *testing.T) store.Store) {
	t.Helper()
	groups := []struct {
		name  string
		tests []spec
	}{
		{"LoadPreferences", loadPreferencesSpecs},
		{"SavePreferences", savePreferencesSpecs},
		{"RecordPlans", recordPlansSpecs},
		{"RecordOutcomes", recordOutcomesSpecs},
		{"EventStatus", eventStatusSpecs},
		{"DeliverInbox", deliverInboxSpecs},
		{"ListInbox", listInboxSpecs},
		{"MarkRead", markReadSpecs},
		{"APIKeys", apiKeySpecs},
		{"Devices", deviceSpecs},
		{"Conversations", conversationSpecs},
		{"Transcripts", transcriptSpecs},
		{"Timers", timerSpecs},
		{"Ping", []spec{{"AnswersWhenOpen", func(t *testing.T, s store.Store) {
			if err := s.Ping(t.Context()); err != nil {
				t.Fatalf("Ping: %v", err)
			}
		}}}},
	}
	for _, g := range groups {
		t.Run(g.name, func(t *testing.T) {
			t.Parallel()
			for _, tc := range g.tests {
				t.Run(tc.name, func(t *testing.T) {
					t.Parallel()
					tc.run(t, open(t))
				})
			}
		})
	}
}

// spec is one rule of the interface, checked against a fresh store.
type spec struct {
	name string
	run  func(t *testing.T, s store.Store)
}

// notFinal is the outcome of a failed attempt that will be retried: the one
// outcome whose Final is false. A delivery recorded with it stays pending.
var notFinal = func() store.Outcome {
	for _, o := range []store.Outcome{"retrying", "failed"} {
		if !o.Final() {
			return o
		}
	}
	panic("storetest: no store.Outcome reports Final() == false")
}()

// t0 is the suite's reference time, with microsecond precision.
var t0 = time.Date(2025, 3, 14, 9, 26, 53, 589793000, time.UTC)

// ---------------------------------------------------------------- preferences

var loadPreferencesSpecs = []spec{
	{"CreatesDefaultsForUnknownUsers", func(t *testing.T, s store.Store) {
		got := mustLoad(t, s, "ada", "grace")
		if len(got) != 2 {
			t.Fatalf("LoadPreferences(ada, grace) returned %d records, want 2: %v", len(got), got)
		}
		for _, id := range []string{"ada", "grace"} {
			checkPrefs(t, got[id], prefs.Default(id), false)
		}
		// The defaults are stored: loading again returns them.
		again := mustLoad(t, s, "ada")
		checkPrefs(t, again["ada"], prefs.Default("ada"), false)
	}},
	{"ReturnsStoredAndDefaultInOneCall", func(t *testing.T, s store.Store) {
		saved := customPrefs("known")
		mustSave(t, s, saved)
		got := mustLoad(t, s, "new-1", "known", "new-2", "known")
		if len(got) != 3 {
			t.Fatalf("got %d records for 3 distinct ids, want 3: %v", len(got), got)
		}
		checkPrefs(t, got["known"], saved, true)
		checkPrefs(t, got["new-1"], prefs.Default("new-1"), false)
		checkPrefs(t, got["new-2"], prefs.Default("new-2"), false)
	}},
	{"HandlesBatchesLargerThanOneQuery", func(t *testing.T, s store.Store) {
		const n = 1234
		ids := make([]string, n)
		for i := range ids {
			ids[i] = fmt.Sprintf("user-%04d", i)
		}
		custom := map[string]prefs.Preferences{}
		for _, i := range []int{0, 499, 500, 1001, n - 1} {
			p := customPrefs(ids[i])
			mustSave(t, s, p)
			custom[p.UserID] = p
		}
		for round := range 2 {
			got := mustLoad(t, s, ids...)
			if len(got) != n {
				t.Fatalf("round %d: got %d records, want %d", round, len(got), n)
			}
			for _, id := range ids {
				if want, ok := custom[id]; ok {
					checkPrefs(t, got[id], want, true)
				} else {
					checkPrefs(t, got[id], prefs.Default(id), false)
				}
			}
		}
	}},
	{"NoIDsGiveAnEmptyMap", func(t *testing.T, s store.Store) {
		got, err := s.LoadPreferences(t.Context(), nil)
		if err != nil {
			t.Fatalf("LoadPreferences(nil): %v", err)
		}
		if len(got) != 0 {
			t.Fatalf("LoadPreferences(nil) = %v, want empty", got)
		}
	}},
	{"IsSafeWhenNewUsersAreLoadedConcurrently", func(t *testing.T, s store.Store) {
		const callers = 8
		var wg sync.WaitGroup
		for i := range callers {
			wg.Go(func() {
				ids := []string{"shared-1", fmt.Sprintf("own-%d", i), "shared-2"}
				got, err := s.LoadPreferences(t.Context(), ids)
				if err != nil {
					t.Errorf("caller %d: LoadPreferences: %v", i, err)
					return
				}
				for _, id := range ids {
					if diff := prefsDiff(got[id], prefs.Default(id), false); diff != "" {
						t.Errorf("caller %d: %s: %s", i, id, diff)
					}
				}
			})
		}
		wg.Wait()
	}},
	{"NeverOverwritesASavedRecord", func(t *testing.T, s store.Store) {
		// Saving and first-loading the same user race in production (a
		// person edits preferences while an event for them is planned);
		// whatever the interleaving, the saved record survives.
		saved := customPrefs("racer")
		var wg sync.WaitGroup
		wg.Go(func() {
			if err := s.SavePreferences(t.Context(), saved); err != nil {
				t.Errorf("SavePreferences: %v", err)
			}
		})
		wg.Go(func() {
			if _, err := s.LoadPreferences(t.Context(), []string{"racer"}); err != nil {
				t.Errorf("LoadPreferences: %v", err)
			}
		})
		wg.Wait()
		checkPrefs(t, mustLoad(t, s, "racer")["racer"], saved, true)
	}},
}

var savePreferencesSpecs = []spec{
	{"RoundTripsEveryField", func(t *testing.T, s store.Store) {
		p := customPrefs("ada")
		mustSave(t, s, p)
		checkPrefs(t, mustLoad(t, s, "ada")["ada"], p, true)
	}},
	{"ReplacesTheWholeRecord", func(t *testing.T, s store.Store) {
		mustSave(t, s, customPrefs("ada"))
		next := prefs.Default("ada")
		next.SendNotificationToInbox = false
		next.UpdatedAt = t0.Add(time.Hour)
		mustSave(t, s, next)
		got := mustLoad(t, s, "ada")["ada"]
		checkPrefs(t, got, next, true)
		if got.QuietHours != nil {
			t.Errorf("QuietHours = %+v after saving a record without them, want nil", *got.QuietHours)
		}
		if got.Categories == nil {
			t.Errorf("Categories is nil, want an empty map")
		}
	}},
}

// customPrefs is a record that differs from the default in every field.
func customPrefs(userID string) prefs.Preferences {
	return prefs.Preferences{
		UserID:                         userID,
		SendNotificationToConversation: false,
		SendNotificationToMobileDevice: true,
		SendNotificationToWebPush:      false,
		SendNotificationToInbox:        true,
		Categories:                     map[string]bool{"marketing": false, "training": true},
		QuietHours:                     &prefs.QuietHours{Start: "22:00", End: "07:00", AllowUrgent: []string{"security", "incident"}},
		TimeZone:                       "Europe/Paris",
		Locale:                         "fr-FR",
		UpdatedAt:                      t0,
	}
}

func mustSave(t *testing.T, s store.Store, p prefs.Preferences) {
	t.Helper()
	if err := s.SavePreferences(t.Context(), p); err != nil {
		t.Fatalf("SavePreferences(%s): %v", p.UserID, err)
	}
}

func mustLoad(t *testing.T, s store.Store, ids ...string) map[string]prefs.Preferences {
	t.Helper()
	got, err := s.LoadPreferences(t.Context(), ids)
	if err != nil {
		t.Fatalf("LoadPreferences(%d ids): %v", len(ids), err)
	}
	return got
}

func checkPrefs(t *testing.T, got, want prefs.Preferences, compareUpdatedAt bool) {
	t.Helper()
	if diff := prefsDiff(got, want, compareUpdatedAt); diff != "" {
		t.Errorf("preferences of %q: %s", want.UserID, diff)
	}
}

// prefsDiff describes how got differs from want; an empty and a nil
// categories map are the same.
func prefsDiff(got, want prefs.Preferences, compareUpdatedAt bool) string {
	norm := func(p prefs.Preferences) prefs.Preferences {
		if len(p.Categories) == 0 {
			p.Categories = nil
		}
		p.UpdatedAt = p.UpdatedAt.UTC()
		if !compareUpdatedAt {
			p.UpdatedAt = time.Time{}
		}
		return p
	}
	g, w := norm(got), norm(want)
	if reflect.DeepEqual(g, w) {
		return ""
	}
	return fmt.Sprintf("got %s, want %s", describePrefs(g), describePrefs(w))
}

func describePrefs(p prefs.Preferences) string {
	b, _ := json.Marshal(p)
	return string(b)
}

// ---------------------------------------------------------- plans and status

// newEvent returns an event for users with every optional field set.
func newEvent(id string, users ...string) event.Event {
	expires := t0.Add(48 * time.Hour)
	return event.Event{
		ID:         id,
		Source:     "/hr/training",
		SourceID:   "src-" + id,
		Type:       "com.example.training.due",
		Subject:    "safety-101",
		Time:       t0.Add(-time.Minute),
		ReceivedAt: t0,
		Audience:   event.Audience{Users: users},
		Notification: event.Notification{
			Title:     "Training due",
			Message:   "Your safety training is due on Friday.",
			Category:  "training",
			Urgency:   event.UrgencyHigh,
			Actions:   []event.Action{{ID: "start", Title: "Start conversation", Value: json.RawMessage(`{"dialog": "training"}`)}},
			ExpiresAt: &expires,
			Locale:    "en-GB",
			Data:      json.RawMessage(`{"course": "safety-101", "hours": 2}`),
		},
	}
}

// plan records ev as planned for every channel of every recipient.
func plan(t *testing.T, s store.Store, ev event.Event, planned ...store.DeliveryRecord) {
	t.Helper()
	p := store.Plan{Event: ev, Targeted: len(ev.Audience.Users) * len(prefs.Channels), PlannedAt: t0, Outcomes: planned}
	if _, err := s.RecordPlans(t.Context(), []store.Plan{p}); err != nil {
		t.Fatalf("RecordPlans(%s): %v", ev.ID, err)
	}
}

func outcome(eventID, userID, channel string, o store.Outcome) store.DeliveryRecord {
	return store.DeliveryRecord{EventID: eventID, UserID: userID, Channel: channel, Outcome: o, Attempts: 1, At: t0.Add(time.Second)}
}

func mustStatus(t *testing.T, s store.Store, eventID string, limit int) store.EventStatus {
	t.Helper()
	st, err := s.EventStatus(t.Context(), eventID, limit)
	if err != nil {
		t.Fatalf("EventStatus(%s, %d): %v", eventID, limit, err)
	}
	return st
}

func mustRecord(t *testing.T, s store.Store, outcomes ...store.DeliveryRecord) {
	t.Helper()
	if err := s.RecordOutcomes(t.Context(), outcomes); err != nil {
		t.Fatalf("RecordOutcomes(%d): %v", len(outcomes), err)
	}
}

// wantChannel is the expected summary of one channel.
type wantChannel struct {
	targeted, pending int
	outcomes          map[string]int
}

func checkChannels(t *testing.T, st store.EventStatus, want map[string]wantChannel) {
	t.Helper()
	if len(st.Channels) != len(want) {
		t.Errorf("status has channels %v, want %d channels", slices.Sorted(maps.Keys(st.Channels)), len(want))
	}
	for ch, w := range want {
		got := st.Channels[ch]
		if got == nil {
			t.Errorf("channel %s missing from status", ch)
			continue
		}
		outcomes := got.Outcomes
		if len(outcomes) == 0 {
			outcomes = nil
		}
		if got.Targeted != w.targeted || got.Pending != w.pending || !reflect.DeepEqual(outcomes, w.outcomes) {
			t.Errorf("channel %s: targeted %d, pending %d, outcomes %v; want targeted %d, pending %d, outcomes %v",
				ch, got.Targeted, got.Pending, got.Outcomes, w.targeted, w.pending, w.outcomes)
		}
	}
}

var recordPlansSpecs = []spec{
	{"IsIdempotent", func(t *testing.T, s store.Store) {
		ev := newEvent("ev-1", "ada", "grace", "linus")
		planned := []store.DeliveryRecord{
			outcome(ev.ID, "ada", prefs.Mobile, store.SkippedPreference),
			outcome(ev.ID, "grace", prefs.WebPush, store.NotConfigured),
		}
		plan(t, s, ev, planned...)
		first := mustStatus(t, s, ev.ID, 100)
		plan(t, s, ev, planned...)
		second := mustStatus(t, s, ev.ID, 100)

		want := map[string]wantChannel{
			prefs.Inbox:        {3, 3, nil},
			prefs.Conversation: {3, 3, nil},
			prefs.Mobile:       {3, 2, map[string]int{"skipped_preference": 1}},
			prefs.WebPush:      {3, 2, map[string]int{"not_configured": 1}},
		}
		for i, st := range []store.EventStatus{first, second} {
			if st.Targeted != 12 {
				t.Errorf("call %d: Targeted = %d, want 12", i+1, st.Targeted)
			}
			checkChannels(t, st, want)
			if len(st.Recipients) != 2 {
				t.Errorf("call %d: %d recipients, want 2", i+1, len(st.Recipients))
			}
		}
	}},
	{"KeepsOutcomesRecordedSinceOnReplay", func(t *testing.T, s store.Store) {
		// A crashed handler replays its plan after workers recorded outcomes.
		ev := newEvent("ev-1", "ada")
		planned := outcome(ev.ID, "ada", prefs.Mobile, store.NotConfigured)
		plan(t, s, ev, planned)
		mustRecord(t, s, outcome(ev.ID, "ada", prefs.Inbox, store.Delivered))
		plan(t, s, ev, planned)
		checkChannels(t, mustStatus(t, s, ev.ID, 0), map[string]wantChannel{
			prefs.Inbox:        {1, 0, map[string]int{"delivered": 1}},
			prefs.Conversation: {1, 1, nil},
			prefs.Mobile:       {1, 0, map[string]int{"not_configured": 1}},
			prefs.WebPush:      {1, 1, nil},
		})
	}},
	{"EmptyBatchesAreNoOps", func(t *testing.T, s store.Store) {
		ctx := t.Context()
		if added, err := s.RecordPlans(ctx, nil); err != nil || len(added) != 0 {
			t.Errorf("RecordPlans(nil) = %v, %v; want nothing, nil", added, err)
		}
		if err := s.RecordOutcomes(ctx, nil); err != nil {
			t.Errorf("RecordOutcomes(nil): %v", err)
		}
	}},
}

var recordOutcomesSpecs = []spec{
	{"ReplacesTheEarlierOutcome", func(t *testing.T, s store.Store) {
		ev := newEvent("ev-1", "ada")
		plan(t, s, ev)
		retry := outcome(ev.ID, "ada", prefs.Mobile, notFinal)
		retry.Reason = "APNs answered 503"
		mustRecord(t, s, retry)
		checkChannels(t, mustStatus(t, s, ev.ID, 0), map[string]wantChannel{
			prefs.Inbox:        {1, 1, nil},
			prefs.Conversation: {1, 1, nil},
			prefs.Mobile:       {1, 1, map[string]int{string(notFinal): 1}},
			prefs.WebPush:      {1, 1, nil},
		})

		delivered := outcome(ev.ID, "ada", prefs.Mobile, store.Delivered)
		delivered.Attempts = 2
		delivered.At = t0.Add(time.Minute)
		mustRecord(t, s, delivered)
		st := mustStatus(t, s, ev.ID, 10)
		checkChannels(t, st, map[string]wantChannel{
			prefs.Inbox:        {1, 1, nil},
			prefs.Conversation: {1, 1, nil},
			prefs.Mobile:       {1, 0, map[string]int{"delivered": 1}},
			prefs.WebPush:      {1, 1, nil},
		})
		if len(st.Recipients) != 1 {
			t.Fatalf("recipients = %+v, want the one mobile record", st.Recipients)
		}
		checkRecord(t, st.Recipients[0], delivered)
	}},
	{"StoresEveryOutcomeOfABatch", func(t *testing.T, s store.Store) {
		ev := newEvent("ev-1", "ada", "grace")
		plan(t, s, ev)
		var batch []store.DeliveryRecord
		for _, u := range ev.Audience.Users {
			for _, ch := range prefs.Channels {
				batch = append(batch, outcome(ev.ID, u, ch, store.Delivered))
			}
		}
		mustRecord(t, s, batch...)
		st := mustStatus(t, s, ev.ID, 100)
		for _, ch := range prefs.Channels {
			if c := st.Channels[ch]; c.Pending != 0 || c.Outcomes["delivered"] != 2 {
				t.Errorf("channel %s: pending %d, outcomes %v; want 0 pending, 2 delivered", ch, c.Pending, c.Outcomes)
			}
		}
		if len(st.Recipients) != len(batch) {
			t.Errorf("%d recipients, want %d", len(st.Recipients), len(batch))
		}
	}},
}

func checkRecord(t *testing.T, got, want store.DeliveryRecord) {
	t.Helper()
	got.At, want.At = got.At.UTC(), want.At.UTC()
	if !reflect.DeepEqual(got, want) {
		t.Errorf("delivery record = %+v, want %+v", got, want)
	}
}

var eventStatusSpecs = []spec{
	{"CountsOutcomesPerChannel", func(t *testing.T, s store.Store) {
		ev := newEvent("ev-1", "u1", "u2", "u3")
		plan(t, s, ev,
			outcome(ev.ID, "u3", prefs.Conversation, store.SkippedPreference),
			outcome(ev.ID, "u3", prefs.Mobile, store.SkippedPreference),
		)
		mustRecord(t, s,
			outcome(ev.ID, "u1", prefs.Inbox, store.Delivered),
			outcome(ev.ID, "u2", prefs.Inbox, store.Delivered),
			outcome(ev.ID, "u3", prefs.Inbox, notFinal),
			outcome(ev.ID, "u1", prefs.Conversation, store.Delivered),
			outcome(ev.ID, "u2", prefs.Mobile, store.DeadLettered),
			outcome(ev.ID, "u1", prefs.WebPush, store.NotConfigured),
			outcome(ev.ID, "u2", prefs.WebPush, store.Expired),
		)
		st := mustStatus(t, s, ev.ID, 0)
		if st.Targeted != 12 {
			t.Errorf("Targeted = %d, want 12 (the EventRecord's)", st.Targeted)
		}
		// Pending is what is targeted less the final outcomes: a delivery
		// that will be retried stays pending.
		checkChannels(t, st, map[string]wantChannel{
			prefs.Inbox:        {3, 1, map[string]int{"delivered": 2, string(notFinal): 1}},
			prefs.Conversation: {3, 1, map[string]int{"delivered": 1, "skipped_preference": 1}},
			prefs.Mobile:       {3, 1, map[string]int{"dead_lettered": 1, "skipped_preference": 1}},
			prefs.WebPush:      {3, 1, map[string]int{"not_configured": 1, "expired": 1}},
		})
	}},
	{"ReturnsThePlannedEvent", func(t *testing.T, s store.Store) {
		ev := newEvent("ev-1", "ada", "grace")
		plan(t, s, ev)
		st := mustStatus(t, s, ev.ID, 0)
		if !st.PlannedAt.Equal(t0) {
			t.Errorf("PlannedAt = %v, want %v", st.PlannedAt, t0)
		}
		if g, w := canonicalEvent(t, st.Event), canonicalEvent(t, ev); g != w {
			t.Errorf("Event =\n %s\nwant\n %s", g, w)
		}
	}},
	{"LimitsTheRecipientList", func(t *testing.T, s store.Store) {
		ev := newEvent("ev-1", "u1", "u2", "u3")
		plan(t, s, ev)
		var all []store.DeliveryRecord
		for _, u := range ev.Audience.Users {
			for _, ch := range []string{prefs.Inbox, prefs.Mobile} {
				r := outcome(ev.ID, u, ch, store.Delivered)
				r.Reason = "reason of " + u + "/" + ch
				r.Attempts = len(all) + 1
				all = append(all, r)
			}
		}
		mustRecord(t, s, all...)
		for _, tc := range []struct{ limit, want int }{{0, 0}, {4, 4}, {100, 6}} {
			st := mustStatus(t, s, ev.ID, tc.limit)
			if len(st.Recipients) != tc.want {
				t.Errorf("limit %d: %d recipients, want %d", tc.limit, len(st.Recipients), tc.want)
			}
			for _, got := range st.Recipients {
				i := slices.IndexFunc(all, func(r store.DeliveryRecord) bool {
					return r.UserID == got.UserID && r.Channel == got.Channel
				})
				if i < 0 {
					t.Errorf("limit %d: unexpected recipient %+v", tc.limit, got)
					continue
				}
				checkRecord(t, got, all[i])
			}
		}
	}},
	{"UnknownEventIsNotFound", func(t *testing.T, s store.Store) {
		_, err := s.EventStatus(t.Context(), "never-planned", 10)
		if !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("EventStatus(never-planned) error = %v, want ErrNotFound", err)
		}
	}},
}

// canonicalEvent renders ev as JSON with times in UTC and embedded JSON
// re-encoded, so that equal events give equal strings whatever the driver.
func canonicalEvent(t *testing.T, ev event.Event) string {
	t.Helper()
	b, err := json.Marshal(ev)
	if err != nil {
		t.Fatalf("encode event: %v", err)
	}
	return canonicalJSON(t, b)
}

// canonicalJSON re-encodes a JSON document with sorted keys and no spaces.
func canonicalJSON(t *testing.T, b []byte) string {
	t.Helper()
	if len(b) == 0 {
		return ""
	}
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("decode %s: %v", b, err)
	}
	v = utcTimes(v)
	out, err := json.Marshal(v)
	if err != nil {
		t.Fatalf("encode: %v", err)
	}
	return string(out)
}

// utcTimes rewrites RFC 3339 strings in a decoded JSON value to UTC.
func utcTimes(v any) any {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			x[k] = utcTimes(e)
		}
	case []any:
		for i, e := range x {
			x[i] = utcTimes(e)
		}
	case string:
		if tm, err := time.Parse(time.RFC3339Nano, x); err == nil {
			return tm.UTC().Format(time.RFC3339Nano)
		}
	}
	return v
}

// --------------------------------------------------------------------- inbox

func inboxItem(userID, eventID string) store.InboxItem {
	return store.InboxItem{
		ID:        eventID,
		UserID:    userID,
		EventID:   eventID,
		Message:   "message of " + eventID,
		Urgency:   event.UrgencyNormal,
		CreatedAt: t0,
	}
}

// fullInboxItem sets every field an item can carry.
func fullInboxItem(userID, eventID string) store.InboxItem {
	it := inboxItem(userID, eventID)
	expires := t0.Add(24 * time.Hour)
	it.Title = "Benefits enrollment opened"
	it.Category = "benefits"
	it.Urgency = event.UrgencyHigh
	it.Actions = []event.Action{
		{ID: "more", Title: "Tell me more", Value: json.RawMessage(`{"intent": "benefits"}`)},
		{ID: "open", Title: "Open portal", URL: "https://benefits.example.com"},
	}
	it.Data = json.RawMessage(`{"deadline": "2025-04-01", "plans": [1, 2]}`)
	it.Locale = "en-US"
	it.ExpiresAt = &expires
	return it
}

func mustDeliver(t *testing.T, s store.Store, items ...store.InboxItem) []store.InboxItem {
	t.Helper()
	added, err := DeliverInbox(t.Context(), s, items)
	if err != nil {
		t.Fatalf("DeliverInbox(%d items): %v", len(items), err)
	}
	return added
}

func mustList(t *testing.T, s store.Store, q store.InboxQuery) []store.InboxItem {
	t.Helper()
	items, err := s.ListInbox(t.Context(), q)
	if err != nil {
		t.Fatalf("ListInbox(%+v): %v", q, err)
	}
	return items
}

// eventIDs lists the event ids of items, in order.
func eventIDs(items []store.InboxItem) []string {
	ids := make([]string, len(items))
	for i, it := range items {
		ids[i] = it.EventID
	}
	return ids
}

// checkItem compares items field by field, times by instant and JSON by
// meaning; Seq is compared only when want has one.
func checkItem(t *testing.T, got, want store.InboxItem) {
	t.Helper()
	norm := func(it store.InboxItem) store.InboxItem {
		it.CreatedAt = it.CreatedAt.UTC()
		if it.ExpiresAt != nil {
			e := it.ExpiresAt.UTC()
			it.ExpiresAt = &e
		}
		if it.ReadAt != nil {
			r := it.ReadAt.UTC()
			it.ReadAt = &r
		}
		it.Data = json.RawMessage(canonicalJSON(t, it.Data))
		it.Actions = slices.Clone(it.Actions)
		for i := range it.Actions {
			it.Actions[i].Value = json.RawMessage(canonicalJSON(t, it.Actions[i].Value))
		}
		if len(it.Actions) == 0 {
			it.Actions = nil
		}
		if len(it.Data) == 0 {
			it.Data = nil
		}
		return it
	}
	g, w := norm(got), norm(want)
	if w.Seq == 0 {
		g.Seq = 0
	}
	if !reflect.DeepEqual(g, w) {
		gb, _ := json.Marshal(g)
		wb, _ := json.Marshal(w)
		t.Errorf("inbox item (seq %d) =\n %s\nwant (seq %d)\n %s", g.Seq, gb, w.Seq, wb)
	}
}

var deliverInboxSpecs = []spec{
	{"ReturnsOnlyNewlyAddedItems", func(t *testing.T, s store.Store) {
		added := mustDeliver(t, s, inboxItem("ada", "e1"), inboxItem("grace", "e1"))
		if len(added) != 2 {
			t.Fatalf("first delivery added %d items, want 2", len(added))
		}
		for _, it := range added {
			if it.Seq <= 0 || it.ID != it.EventID {
				t.Errorf("added item %+v: want Seq > 0 and ID = EventID", it)
			}
		}
		if added[0].Seq == added[1].Seq {
			t.Errorf("two items share Seq %d", added[0].Seq)
		}

		changed := inboxItem("ada", "e1")
		changed.Message = "a second copy must not replace the first"
		again := mustDeliver(t, s, changed, inboxItem("ada", "e2"))
		if got := eventIDs(again); !slices.Equal(got, []string{"e2"}) {
			t.Fatalf("second delivery added %v, want only [e2]", got)
		}
		if again[0].Seq <= max(added[0].Seq, added[1].Seq) {
			t.Errorf("later item has Seq %d, not above the earlier %d and %d", again[0].Seq, added[0].Seq, added[1].Seq)
		}
		list := mustList(t, s, store.InboxQuery{UserID: "ada"})
		if got := eventIDs(list); !slices.Equal(got, []string{"e2", "e1"}) {
			t.Fatalf("ada's inbox = %v, want [e2 e1]", got)
		}
		checkItem(t, list[1], inboxItem("ada", "e1"))
	}},
	{"AddsAnItemRepeatedInOneBatchOnce", func(t *testing.T, s store.Store) {
		added := mustDeliver(t, s, inboxItem("ada", "e1"), inboxItem("ada", "e1"))
		if len(added) != 1 {
			t.Errorf("added %d items, want 1", len(added))
		}
		if n := len(mustList(t, s, store.InboxQuery{UserID: "ada"})); n != 1 {
			t.Errorf("inbox holds %d items, want 1", n)
		}
	}},
	{"RoundTripsEveryField", func(t *testing.T, s store.Store) {
		want := fullInboxItem("ada", "e1")
		added := mustDeliver(t, s, want)
		if len(added) != 1 {
			t.Fatalf("added %d items, want 1", len(added))
		}
		want.Seq = added[0].Seq
		checkItem(t, added[0], want)
		list := mustList(t, s, store.InboxQuery{UserID: "ada"})
		if len(list) != 1 {
			t.Fatalf("inbox holds %d items, want 1", len(list))
		}
		checkItem(t, list[0], want)
	}},
}

var listInboxSpecs = []spec{
	{"PagesNewestFirstWithTheSeqCursor", func(t *testing.T, s store.Store) {
		var items []store.InboxItem
		for _, e := range []string{"e1", "e2", "e3", "e4", "e5"} {
			items = append(items, inboxItem("ada", e))
		}
		items = append(items, inboxItem("grace", "e6"))
		mustDeliver(t, s, items...)

		var pages [][]string
		var before int64
		for range 10 {
			page := mustList(t, s, store.InboxQuery{UserID: "ada", Before: before, Limit: 2})
			if len(page) == 0 {
				break
			}
			for i := 1; i < len(page); i++ {
				if page[i].Seq >= page[i-1].Seq {
					t.Errorf("page %v: Seq %d after %d, want strictly decreasing", eventIDs(page), page[i].Seq, page[i-1].Seq)
				}
			}
			pages = append(pages, eventIDs(page))
			before = page[len(page)-1].Seq
		}
		want := [][]string{{"e5", "e4"}, {"e3", "e2"}, {"e1"}}
		if !reflect.DeepEqual(pages, want) {
			t.Errorf("pages = %v, want %v", pages, want)
		}
	}},
	{"UnreadOnlySkipsReadItems", func(t *testing.T, s store.Store) {
		mustDeliver(t, s, inboxItem("ada", "e1"), inboxItem("ada", "e2"), inboxItem("ada", "e3"), inboxItem("ada", "e4"))
		for _, id := range []string{"e2", "e4"} {
			if _, err := s.MarkRead(t.Context(), "ada", id, t0); err != nil {
				t.Fatalf("MarkRead(%s): %v", id, err)
			}
		}
		unread := mustList(t, s, store.InboxQuery{UserID: "ada", UnreadOnly: true})
		if got := eventIDs(unread); !slices.Equal(got, []string{"e3", "e1"}) {
			t.Fatalf("unread = %v, want [e3 e1]", got)
		}
		page := mustList(t, s, store.InboxQuery{UserID: "ada", UnreadOnly: true, Limit: 1, Before: unread[0].Seq})
		if got := eventIDs(page); !slices.Equal(got, []string{"e1"}) {
			t.Errorf("unread page after e3 = %v, want [e1]", got)
		}
		all := mustList(t, s, store.InboxQuery{UserID: "ada"})
		if got := eventIDs(all); !slices.Equal(got, []string{"e4", "e3", "e2", "e1"}) {
			t.Errorf("all = %v, want [e4 e3 e2 e1]", got)
		}
	}},
	{"UnreadCountCountsOnlyTheUsersUnreadItems", func(t *testing.T, s store.Store) {
		count := func(user string) int {
			t.Helper()
			n, err := s.UnreadCount(t.Context(), user)
			if err != nil {
				t.Fatalf("UnreadCount(%s): %v", user, err)
			}
			return n
		}
		if n := count("ada"); n != 0 {
			t.Errorf("empty inbox: UnreadCount = %d, want 0", n)
		}
		mustDeliver(t, s, inboxItem("ada", "e1"), inboxItem("ada", "e2"), inboxItem("ada", "e3"), inboxItem("grace", "e1"))
		if _, err := s.MarkRead(t.Context(), "ada", "e2", t0); err != nil {
			t.Fatalf("MarkRead: %v", err)
		}
		if n := count("ada"); n != 2 {
			t.Errorf("ada: UnreadCount = %d, want 2", n)
		}
		if n := count("grace"); n != 1 {
			t.Errorf("grace: UnreadCount = %d, want 1", n)
		}
	}},
	{"UnknownUserHasAnEmptyInbox", func(t *testing.T, s store.Store) {
		if got := mustList(t, s, store.InboxQuery{UserID: "nobody"}); len(got) != 0 {
			t.Errorf("ListInbox(nobody) = %v, want empty", got)
		}
	}},
}

var markReadSpecs = []spec{
	{"KeepsTheFirstReadTime", func(t *testing.T, s store.Store) {
		mustDeliver(t, s, fullInboxItem("ada", "e1"))
		first := t0.Add(time.Minute)
		got, err := s.MarkRead(t.Context(), "ada", "e1", first)
		if err != nil {
			t.Fatalf("MarkRead: %v", err)
		}
		want := fullInboxItem("ada", "e1")
		want.ReadAt = &first
		checkItem(t, got, want)

		again, err := s.MarkRead(t.Context(), "ada", "e1", first.Add(time.Hour))
		if err != nil {
			t.Fatalf("second MarkRead: %v", err)
		}
		checkItem(t, again, want)
		checkItem(t, mustList(t, s, store.InboxQuery{UserID: "ada"})[0], want)
	}},
	{"UnknownOrOtherUsersItemIsNotFound", func(t *testing.T, s store.Store) {
		mustDeliver(t, s, inboxItem("ada", "e1"))
		for _, tc := range []struct{ user, id string }{
			{"ada", "no-such-event"},
			{"grace", "e1"}, // ada's item, asked for by grace
		} {
			if _, err := s.MarkRead(t.Context(), tc.user, tc.id, t0); !errors.Is(err, store.ErrNotFound) {
				t.Errorf("MarkRead(%s, %s) error = %v, want ErrNotFound", tc.user, tc.id, err)
			}
		}
		if n, err := s.UnreadCount(t.Context(), "ada"); err != nil || n != 1 {
			t.Errorf("ada's UnreadCount = %d, %v; want 1: her item must stay unread", n, err)
		}
	}},
}

// ------------------------------------------------------------------ API keys

func apiKey(id string, role store.Role, created time.Time) store.APIKey {
	return store.APIKey{ID: id, Name: "key " + id, Role: role, Hash: []byte("hash of " + id), CreatedAt: created}
}

func checkKey(t *testing.T, got, want store.APIKey) {
	t.Helper()
	got.CreatedAt, want.CreatedAt = got.CreatedAt.UTC(), want.CreatedAt.UTC()
	if !reflect.DeepEqual(got, want) {
		t.Errorf("api key = %+v, want %+v", got, want)
	}
}

var apiKeySpecs = []spec{
	{"CreateGetListDelete", func(t *testing.T, s store.Store) {
		ctx := t.Context()
		k1 := apiKey("k1", store.RoleProducer, t0)
		k2 := apiKey("k2", store.RoleAdmin, t0.Add(time.Second))
		for _, k := range []store.APIKey{k1, k2} {
			if err := s.CreateAPIKey(ctx, k); err != nil {
				t.Fatalf("CreateAPIKey(%s): %v", k.ID, err)
			}
		}
		got, err := s.APIKey(ctx, "k1")
		if err != nil {
			t.Fatalf("APIKey(k1): %v", err)
		}
		checkKey(t, got, k1)

		list, err := s.APIKeys(ctx)
		if err != nil {
			t.Fatalf("APIKeys: %v", err)
		}
		slices.SortFunc(list, func(a, b store.APIKey) int { return cmp.Compare(a.ID, b.ID) })
		if len(list) != 2 {
			t.Fatalf("APIKeys listed %d keys, want 2", len(list))
		}
		checkKey(t, list[0], k1)
		checkKey(t, list[1], k2)

		if err := s.DeleteAPIKey(ctx, "k1"); err != nil {
			t.Fatalf("DeleteAPIKey(k1): %v", err)
		}
		if _, err := s.APIKey(ctx, "k1"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("APIKey(k1) after delete: error = %v, want ErrNotFound", err)
		}
		if err := s.DeleteAPIKey(ctx, "k1"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("second DeleteAPIKey(k1): error = %v, want ErrNotFound", err)
		}
		list, err = s.APIKeys(ctx)
		if err != nil {
			t.Fatalf("APIKeys: %v", err)
		}
		if len(list) != 1 || list[0].ID != "k2" {
			t.Errorf("APIKeys after delete = %+v, want only k2", list)
		}
	}},
	{"UnknownKeyIsNotFound", func(t *testing.T, s store.Store) {
		if _, err := s.APIKey(t.Context(), "nope"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("APIKey(nope) error = %v, want ErrNotFound", err)
		}
		if err := s.DeleteAPIKey(t.Context(), "nope"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("DeleteAPIKey(nope) error = %v, want ErrNotFound", err)
		}
	}},
	{"CreatingATakenIDFailsAndKeepsTheFirst", func(t *testing.T, s store.Store) {
		ctx := t.Context()
		first := apiKey("k1", store.RoleReader, t0)
		if err := s.CreateAPIKey(ctx, first); err != nil {
			t.Fatalf("CreateAPIKey: %v", err)
		}
		if err := s.CreateAPIKey(ctx, apiKey("k1", store.RoleAdmin, t0)); err == nil {
			t.Errorf("CreateAPIKey with a taken id succeeded, want an error")
		}
		got, err := s.APIKey(ctx, "k1")
		if err != nil {
			t.Fatalf("APIKey(k1): %v", err)
		}
		checkKey(t, got, first)
	}},
}

// DeliverInbox adds inbox items the way the handler does: through
// RecordPlans, one plan per event, each item recorded as delivered.
func DeliverInbox(ctx context.Context, s store.Store, items []store.InboxItem) ([]store.InboxItem, error) {
	var plans []store.Plan
	index := map[string]int{}
	for _, it := range items {
		id := it.EventID
		if id == "" {
			id = it.ID
		}
		i, ok := index[id]
		if !ok {
			i = len(plans)
			index[id] = i
			plans = append(plans, store.Plan{Event: event.Event{ID: id, Source: "urn:storetest", SourceID: id, Type: "storetest"}, PlannedAt: it.CreatedAt})
		}
		p := &plans[i]
		p.Event.Audience.Users = append(p.Event.Audience.Users, it.UserID)
		p.Targeted += len(prefs.Channels)
		p.Outcomes = append(p.Outcomes, store.DeliveryRecord{EventID: id, UserID: it.UserID, Channel: prefs.Inbox, Outcome: store.Delivered})
		p.Inbox = append(p.Inbox, it)
	}
	return s.RecordPlans(ctx, plans)
}
