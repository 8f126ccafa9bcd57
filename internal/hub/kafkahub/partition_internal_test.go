package kafkahub

import (
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/herald/herald/internal/hub"
)

// testPartition is a partition of a consumer that never talks to a broker.
func testPartition(opts hub.ConsumeOptions) *partition {
	c := &consumer{opts: opts.WithDefaults()}
	return newPartition(c, 0)
}

func record(offset int64, headers ...kgo.RecordHeader) *kgo.Record {
	return &kgo.Record{Topic: "herald.events", Offset: offset, Key: []byte("k"), Value: []byte(strconv.FormatInt(offset, 10)), Headers: headers}
}

func header(k, v string) kgo.RecordHeader { return kgo.RecordHeader{Key: k, Value: []byte(v)} }

func offsets(ds []*delivery) []int64 {
	var out []int64
	for _, d := range ds {
		out = append(out, d.rec.Offset)
	}
	return out
}

// A pick that is not handed out (the partition stops while the deliveries
// are being recorded) is undone, so the final commit does not count the
// records as delivered; a due retry goes back to waiting.
func TestUnpickRestoresThePartition(t *testing.T) {
	t.Parallel()
	p := testPartition(hub.ConsumeOptions{BatchSize: 3, MaxAttempts: 2})
	now := time.Now()
	p.push([]*kgo.Record{record(0), record(1)})
	p.mu.Lock()
	first := p.pick(now) // 0 and 1, handed out
	p.mu.Unlock()
	if got := offsets(first.batch); !slices.Equal(got, []int64{0, 1}) {
		t.Fatalf("first batch %v", got)
	}
	p.push([]*kgo.Record{
		record(2, header(hdrAttempts, "1"), header(hdrNotBefore, now.Add(-time.Second).Format(time.RFC3339Nano))), // due retry
		record(3, header(hdrAttempts, "1"), header(hdrNotBefore, now.Add(time.Hour).Format(time.RFC3339Nano))),    // later retry
		record(4, header(hdrAttempts, "5")), // past MaxAttempts
		record(5),
		record(6),
	})
	_, before, _, _ := p.commitState(false)

	p.mu.Lock()
	pk := p.pick(now)
	p.mu.Unlock()
	if got := offsets(pk.batch); !slices.Equal(got, []int64{2, 5, 6}) {
		t.Errorf("batch %v, want the due retry 2 and then 5, 6", got)
	}
	if got := offsets(pk.exhausted); !slices.Equal(got, []int64{4}) {
		t.Errorf("exhausted %v, want 4", got)
	}
	if len(p.delayed) != 1 || p.delayed[0].rec.Offset != 3 {
		t.Errorf("delayed %v, want 3", offsets(p.delayed))
	}
	_, during, _, _ := p.commitState(false)
	if during == before {
		t.Errorf("commit metadata %q did not count the pick", during)
	}

	p.unpick(pk)
	_, after, _, _ := p.commitState(false)
	if after != before {
		t.Errorf("commit metadata after unpick %q, want %q as before the pick", after, before)
	}
	if p.next != 2 || p.picked != 1 || p.inflight != 0 {
		t.Errorf("next %d picked %d inflight %d, want 2, 1, 0", p.next, p.picked, p.inflight)
	}
	for _, d := range p.entries[2:] {
		if d.count != 0 || d.state != statePending {
			t.Errorf("record %d: count %d state %d after unpick", d.rec.Offset, d.count, d.state)
		}
	}
	if len(p.delayed) != 0 {
		t.Errorf("delayed %v after unpick, want none (records 2 and 3 were never picked)", offsets(p.delayed))
	}

	// Picking again gives the same batch.
	p.mu.Lock()
	again := p.pick(now)
	p.mu.Unlock()
	if got := offsets(again.batch); !slices.Equal(got, []int64{2, 5, 6}) {
		t.Errorf("batch after unpick %v, want 2, 5, 6", got)
	}

	// A retry that became due and was picked from the delay queue goes
	// back to it, with its count as it was.
	p.mu.Lock()
	late := p.pick(now.Add(2 * time.Hour))
	p.mu.Unlock()
	if got := offsets(late.batch); !slices.Equal(got, []int64{3}) || len(late.fresh) != 0 {
		t.Fatalf("late batch %v (fresh %v), want the retry 3 alone", got, offsets(late.fresh))
	}
	p.unpick(late)
	if len(p.delayed) != 1 || p.delayed[0].rec.Offset != 3 || p.delayed[0].count != 1 {
		t.Errorf("delayed %v after unpick, want 3 with count 1", offsets(p.delayed))
	}
}

// Settled records behind an unsettled one are dropped from memory once many,
// while the committed offset stays at the unsettled one.
func TestSettledRecordsBehindAnUnsettledOneAreDropped(t *testing.T) {
	t.Parallel()
	p := testPartition(hub.ConsumeOptions{BatchSize: 10000})
	var recs []*kgo.Record
	for i := range compactAfter + 100 {
		recs = append(recs, record(int64(i)))
	}
	p.push(recs)
	p.mu.Lock()
	pk := p.pick(time.Now())
	for _, d := range pk.batch[1:] { // all but the first
		p.settle(d)
	}
	held := len(p.entries)
	p.mu.Unlock()
	if held > compactAfter {
		t.Errorf("%d records held after settling all but one, want at most %d", held, compactAfter)
	}
	offset, _, _, _ := p.commitState(false)
	if offset != 0 {
		t.Errorf("commit offset %d, want 0: record 0 is unsettled", offset)
	}
	p.mu.Lock()
	p.settle(pk.batch[0])
	p.mu.Unlock()
	if offset, _, _, _ := p.commitState(false); offset != int64(len(recs)) {
		t.Errorf("commit offset %d once all are settled, want %d", offset, len(recs))
	}
}
