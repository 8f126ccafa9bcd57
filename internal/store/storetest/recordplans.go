package storetest

import (
	"fmt"
	"testing"
	"time"

	"github.com/herald/herald/internal/event"
	"github.com/herald/herald/internal/store"
)

// RecordPlansReturnsTheStoredSeqs checks, on s, a fresh store, that the
// seqs RecordPlans returns for a batch of n single-item events are the
// ones stored, consecutive, and that events planned before, in the batch
// or by an earlier call, add nothing. A driver runs it for the batch sizes
// that matter to how it writes (its statement sizes, say).
func RecordPlansReturnsTheStoredSeqs(t *testing.T, s store.Store, n int) {
	t.Helper()
	ctx := t.Context()
	// A first call plans every third event, which the second call then
	// replays among new ones.
	item := func(i int) store.InboxItem {
		return store.InboxItem{UserID: fmt.Sprintf("u%d", i%7), EventID: fmt.Sprintf("e%04d", i), Message: "m", CreatedAt: time.Unix(int64(i), 0)}
	}
	plan := func(it store.InboxItem) store.Plan {
		return store.Plan{Event: event.Event{ID: it.EventID, Audience: event.Audience{Users: []string{it.UserID}}},
			Targeted: 1, Inbox: []store.InboxItem{it}}
	}
	var earlier, batch []store.Plan
	for i := range n {
		if i%3 == 0 {
			earlier = append(earlier, plan(item(i)))
		}
		batch = append(batch, plan(item(i)))
	}
	// An event planned twice in one call keeps its first plan.
	again := item(n - 1)
	again.UserID = "someone else"
	batch = append(batch, plan(again))
	if _, err := s.RecordPlans(ctx, earlier); err != nil {
		t.Fatalf("RecordPlans(%d earlier): %v", len(earlier), err)
	}
	added, err := s.RecordPlans(ctx, batch)
	if err != nil {
		t.Fatalf("RecordPlans(%d): %v", len(batch), err)
	}
	if want := n - len(earlier); len(added) != want {
		t.Fatalf("added %d items, want the %d new events'", len(added), want)
	}
	stored := map[string]int64{} // event id -> seq
	for u := range 7 {
		items, err := s.ListInbox(ctx, store.InboxQuery{UserID: fmt.Sprintf("u%d", u), Limit: 1000})
		if err != nil {
			t.Fatalf("ListInbox: %v", err)
		}
		for _, it := range items {
			stored[it.EventID] = it.Seq
		}
	}
	if k, err := s.UnreadCount(ctx, "someone else"); err != nil || k != 0 {
		t.Errorf("UnreadCount(someone else) = %d, %v; want 0: the second plan of an event in a call adds nothing", k, err)
	}
	if len(stored) != n {
		t.Errorf("%d items stored, want %d", len(stored), n)
	}
	for i, it := range added {
		if it.Seq != stored[it.EventID] {
			t.Errorf("added[%d] (event %s) has seq %d, stored with %d", i, it.EventID, it.Seq, stored[it.EventID])
		}
		if i > 0 && it.Seq != added[i-1].Seq+1 {
			t.Errorf("added[%d] has seq %d after %d, want consecutive seqs", i, it.Seq, added[i-1].Seq)
		}
	}
}
