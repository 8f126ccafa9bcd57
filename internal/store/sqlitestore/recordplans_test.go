package sqlitestore

import (
	"fmt"
	"testing"
	"time"

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
			storetest.RecordPlansReturnsTheStoredSeqs(t, openTest(t, Options{}), n)
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
