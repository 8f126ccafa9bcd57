package sqlitestore

import (
	"fmt"
	"testing"
	"time"

	"github.com/herald/herald/internal/event"
	"github.com/herald/herald/internal/store"
	"github.com/herald/herald/internal/store/storetest"
)

// TestRecordPlansReturnsTheStoredSeqs checks, for batches that end on and
// across the sizes of the batch statements, that the seqs RecordPlans
// returns (computed from the last rowid, not read back) are the ones
// stored, and that events planned before, in the batch or earlier, add
// nothing.
func TestRecordPlansReturnsTheStoredSeqs(t *testing.T) {
	t.Parallel()
	for _, n := range []int{1, batchRows - 1, batchRows, batchRows + 1, 500, 777} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			t.Parallel()
			s := openTest(t, Options{})
			ctx := t.Context()
			// A first call plans every third event, which the second
			// call then replays among new ones.
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
		})
	}
}

// TestMarkReadTellsApartEventsWithTheSameKey checks that MarkRead, which
// finds an item by its event's 31-bit key, marks only the item of the event
// named when two of a person's events share a key.
func TestMarkReadTellsApartEventsWithTheSameKey(t *testing.T) {
	t.Parallel()
	byKey := map[int64]string{}
	var a, b string
	for i := 0; b == ""; i++ {
		id := fmt.Sprintf("event-%d", i)
		k := eventKey(id)
		if other, ok := byKey[k]; ok {
			a, b = other, id
		}
		byKey[k] = id
	}
	s := openTest(t, Options{})
	ctx := t.Context()
	if _, err := storetest.DeliverInbox(ctx, s, []store.InboxItem{
		{UserID: "ada", EventID: a, Message: "a"},
		{UserID: "ada", EventID: b, Message: "b"},
	}); err != nil {
		t.Fatalf("DeliverInbox: %v", err)
	}
	got, err := s.MarkRead(ctx, "ada", b, time.Now())
	if err != nil {
		t.Fatalf("MarkRead(%s): %v", b, err)
	}
	if got.EventID != b || got.Message != "b" {
		t.Errorf("MarkRead(%s) returned the item of %s (%q)", b, got.EventID, got.Message)
	}
	unread, err := s.ListInbox(ctx, store.InboxQuery{UserID: "ada", UnreadOnly: true})
	if err != nil {
		t.Fatalf("ListInbox: %v", err)
	}
	if len(unread) != 1 || unread[0].EventID != a {
		t.Errorf("unread items %v, want only the item of %s", unread, a)
	}
}
