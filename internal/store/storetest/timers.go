package storetest

import (
	"encoding/json"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/herald/herald/internal/event"
	"github.com/herald/herald/internal/store"
)

// ------------------------------------------------------------------ timers

func timer(key string, due time.Time, payload string) store.Timer {
	t := store.Timer{Key: key, Kind: "test", Due: due}
	if payload != "" {
		t.Payload = json.RawMessage(payload)
	}
	return t
}

func mustSetTimers(t *testing.T, s store.Store, ts ...store.Timer) {
	t.Helper()
	if err := s.SetTimers(t.Context(), ts); err != nil {
		t.Fatalf("SetTimers(%d): %v", len(ts), err)
	}
}

func mustClaim(t *testing.T, s store.Store, now time.Time, limit int) []store.Timer {
	t.Helper()
	got, err := s.ClaimTimers(t.Context(), now, time.Minute, limit)
	if err != nil {
		t.Fatalf("ClaimTimers(%s): %v", now.Format(time.RFC3339), err)
	}
	return got
}

func timerKeys(ts []store.Timer) []string {
	out := make([]string, len(ts))
	for i, t := range ts {
		out[i] = t.Key
	}
	return out
}

func checkKeys(t *testing.T, what string, got []store.Timer, want ...string) {
	t.Helper()
	if g := timerKeys(got); !slices.Equal(g, want) && (len(g) != 0 || len(want) != 0) {
		t.Errorf("%s: keys %q, want %q", what, g, want)
	}
}

var timerSpecs = []spec{
	{"ClaimReturnsDueTimersEarliestFirstWithTheirFields", func(t *testing.T, s store.Store) {
		mustSetTimers(t, s,
			timer("later", t0.Add(2*time.Second), ""),
			timer("b", t0, `{"event": "e1", "n": [1, 2]}`),
			timer("future", t0.Add(time.Hour), ""),
			timer("a", t0, ""),
			timer("earlier", t0.Add(-time.Hour), `"x"`),
		)
		got := mustClaim(t, s, t0.Add(2*time.Second), 10)
		checkKeys(t, "due at t0+2s", got, "earlier", "a", "b", "later")
		for _, tm := range got {
			if tm.Kind != "test" {
				t.Errorf("timer %s: kind %q, want test", tm.Key, tm.Kind)
			}
		}
		if !got[0].Due.Equal(t0.Add(-time.Hour)) || !got[1].Due.Equal(t0) {
			t.Errorf("claimed timers carry their due time: got %s and %s", got[0].Due, got[1].Due)
		}
		jsonEqual(t, "payload of b", got[2].Payload, `{"event": "e1", "n": [1, 2]}`)
		jsonEqual(t, "payload of earlier", got[0].Payload, `"x"`)
		if got[1].Payload != nil {
			t.Errorf("a timer without payload came back with %s", got[1].Payload)
		}
	}},
	{"ClaimHonoursTheLimit", func(t *testing.T, s store.Store) {
		for i := range 5 {
			mustSetTimers(t, s, timer(fmt.Sprintf("t%d", i), t0.Add(time.Duration(i)*time.Second), ""))
		}
		checkKeys(t, "first claim of 2", mustClaim(t, s, t0.Add(time.Minute), 2), "t0", "t1")
		checkKeys(t, "second claim of 2", mustClaim(t, s, t0.Add(time.Minute), 2), "t2", "t3")
	}},
	{"AClaimedTimerComesBackAfterItsLeaseUnlessDeleted", func(t *testing.T, s store.Store) {
		mustSetTimers(t, s, timer("kept", t0, "1"), timer("done", t0, "2"))
		checkKeys(t, "claim", mustClaim(t, s, t0, 10), "done", "kept")
		checkKeys(t, "claim again within the lease", mustClaim(t, s, t0.Add(59*time.Second), 10))
		if err := s.DeleteTimers(t.Context(), []string{"done", "absent"}); err != nil {
			t.Fatalf("DeleteTimers: %v", err)
		}
		got := mustClaim(t, s, t0.Add(time.Minute), 10)
		checkKeys(t, "claim after the lease", got, "kept")
		if len(got) == 1 {
			jsonEqual(t, "payload after a claim", got[0].Payload, "1")
		}
	}},
	{"SetReplacesAndAddKeeps", func(t *testing.T, s store.Store) {
		mustSetTimers(t, s, timer("k", t0.Add(time.Hour), `{"v": 1}`))
		mustSetTimers(t, s, timer("k", t0, `{"v": 2}`))
		if err := s.AddTimers(t.Context(), []store.Timer{timer("k", t0.Add(-time.Hour), `{"v": 3}`), timer("new", t0.Add(time.Hour), "")}); err != nil {
			t.Fatalf("AddTimers: %v", err)
		}
		got := mustClaim(t, s, t0, 10)
		checkKeys(t, "claim", got, "k")
		if len(got) == 1 {
			jsonEqual(t, "payload after Set then Add", got[0].Payload, `{"v": 2}`)
			if !got[0].Due.Equal(t0) {
				t.Errorf("due after Set then Add: %s, want %s", got[0].Due, t0)
			}
		}
		list, err := s.TimersWithPrefix(t.Context(), "new")
		if err != nil || len(list) != 1 {
			t.Fatalf("TimersWithPrefix(new) = %v, %v; AddTimers stores absent keys", list, err)
		}
	}},
	{"TheLastOfRepeatedKeysWins", func(t *testing.T, s store.Store) {
		mustSetTimers(t, s, timer("k", t0, "1"), timer("k", t0, "2"))
		got := mustClaim(t, s, t0, 10)
		if len(got) != 1 {
			t.Fatalf("got %d timers for one key", len(got))
		}
		jsonEqual(t, "payload", got[0].Payload, "2")
	}},
	{"PrefixSelectsAFamilyInKeyOrder", func(t *testing.T, s store.Store) {
		// User ids may hold any character but '/', '?' and '#'.
		mustSetTimers(t, s,
			timer("digest-item/marketing/ada/e2", t0, ""),
			timer("digest-item/marketing/ada/e1", t0, ""),
			timer("digest-item/marketing/ada:x/e3", t0, ""),
			timer("digest-item/marketing/adam/e4", t0, ""),
			timer("digest-item/marketing/ada", t0, ""),
			timer("digest-item/marketing/ädä/e5", t0, ""),
			timer("digest/marketing/ada", t0, ""),
		)
		list, err := s.TimersWithPrefix(t.Context(), "digest-item/marketing/ada/")
		if err != nil {
			t.Fatalf("TimersWithPrefix: %v", err)
		}
		checkKeys(t, "prefix digest-item/marketing/ada/", list, "digest-item/marketing/ada/e1", "digest-item/marketing/ada/e2")
		list, err = s.TimersWithPrefix(t.Context(), "digest-item/marketing/ä")
		if err != nil {
			t.Fatalf("TimersWithPrefix: %v", err)
		}
		checkKeys(t, "a prefix ending in a multi-byte character", list, "digest-item/marketing/ädä/e5")
		list, err = s.TimersWithPrefix(t.Context(), "nothing/")
		if err != nil || len(list) != 0 {
			t.Errorf("TimersWithPrefix(nothing/) = %v, %v; want none", list, err)
		}
	}},
	{"ManyTimersInOneCall", func(t *testing.T, s store.Store) {
		const n = 1234
		ts := make([]store.Timer, n)
		keys := make([]string, n)
		for i := range ts {
			keys[i] = fmt.Sprintf("bulk/%04d", i)
			ts[i] = timer(keys[i], t0, "")
		}
		mustSetTimers(t, s, ts...)
		list, err := s.TimersWithPrefix(t.Context(), "bulk/")
		if err != nil || len(list) != n {
			t.Fatalf("TimersWithPrefix(bulk/) = %d timers, %v; want %d", len(list), err, n)
		}
		if err := s.DeleteTimers(t.Context(), keys); err != nil {
			t.Fatalf("DeleteTimers(%d): %v", n, err)
		}
		if list, _ := s.TimersWithPrefix(t.Context(), "bulk/"); len(list) != 0 {
			t.Errorf("%d timers left after deleting them all", len(list))
		}
	}},
	{"ConcurrentClaimsNeverReturnATimerTwice", func(t *testing.T, s store.Store) {
		const n = 200
		ts := make([]store.Timer, n)
		for i := range ts {
			ts[i] = timer(fmt.Sprintf("c/%03d", i), t0, "")
		}
		mustSetTimers(t, s, ts...)
		var mu sync.Mutex
		seen := map[string]int{}
		var wg sync.WaitGroup
		for range 4 {
			wg.Go(func() {
				for {
					got, err := s.ClaimTimers(t.Context(), t0, time.Hour, 7)
					if err != nil {
						t.Errorf("ClaimTimers: %v", err)
						return
					}
					if len(got) == 0 {
						return
					}
					mu.Lock()
					for _, tm := range got {
						seen[tm.Key]++
					}
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		if len(seen) != n {
			t.Errorf("claimed %d distinct timers, want %d", len(seen), n)
		}
		for k, c := range seen {
			if c != 1 {
				t.Errorf("timer %s claimed %d times", k, c)
			}
		}
	}},
	{"RefusesTimersWithoutKeyKindOrDue", func(t *testing.T, s store.Store) {
		for _, bad := range []store.Timer{{Kind: "k", Due: t0}, {Key: "k", Due: t0}, {Key: "k", Kind: "k"}} {
			if err := s.SetTimers(t.Context(), []store.Timer{bad}); err == nil {
				t.Errorf("SetTimers(%+v) succeeded", bad)
			}
		}
	}},
	{"InboxReadAtTellsReadUnreadAndAbsent", func(t *testing.T, s store.Store) {
		ev := event.Event{ID: "ev-read", Source: "urn:test", SourceID: "r", ReceivedAt: t0,
			Audience: event.Audience{Users: []string{"ada", "grace"}}, Notification: event.Notification{Message: "hi"}}
		if _, err := s.RecordPlans(t.Context(), []store.Plan{{Event: ev, Targeted: 2, PlannedAt: t0, Inbox: []store.InboxItem{
			{ID: ev.ID, UserID: "ada", EventID: ev.ID, Message: "hi", CreatedAt: t0},
			{ID: ev.ID, UserID: "grace", EventID: ev.ID, Message: "hi", CreatedAt: t0},
		}}}); err != nil {
			t.Fatalf("RecordPlans: %v", err)
		}
		readAt := t0.Add(5 * time.Minute)
		if _, err := s.MarkRead(t.Context(), "grace", ev.ID, readAt); err != nil {
			t.Fatalf("MarkRead: %v", err)
		}
		got, err := s.InboxReadAt(t.Context(), ev.ID, []string{"ada", "grace", "linus"})
		if err != nil {
			t.Fatalf("InboxReadAt: %v", err)
		}
		if len(got) != 2 {
			t.Errorf("InboxReadAt = %v; want ada and grace only (linus has no such notification)", got)
		}
		if at, ok := got["ada"]; !ok || !at.IsZero() {
			t.Errorf("ada: %v, %v; want unread", at, ok)
		}
		if at := got["grace"]; !at.Equal(readAt) {
			t.Errorf("grace read at %v, want %v", at, readAt)
		}
		if got, err := s.InboxReadAt(t.Context(), "other-event", []string{"ada"}); err != nil || len(got) != 0 {
			t.Errorf("InboxReadAt(other event) = %v, %v; want nothing", got, err)
		}
	}},
}

// jsonEqual reports a payload that does not mean the same JSON as want.
func jsonEqual(t *testing.T, what string, got json.RawMessage, want string) {
	t.Helper()
	if canonicalJSON(t, got) != canonicalJSON(t, []byte(want)) {
		t.Errorf("%s: %s, want %s", what, got, want)
	}
}
