package deadletter_test

import (
	"context"
	"encoding/json"
	"errors"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/herald/herald/internal/deadletter"
	"github.com/herald/herald/internal/delivery"
	"github.com/herald/herald/internal/event"
	"github.com/herald/herald/internal/hub"
	"github.com/herald/herald/internal/hub/natshub"
)

func TestParseFilter(t *testing.T) {
	t.Parallel()
	before := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	tests := []struct {
		in   string
		want deadletter.Filter
		bad  bool
	}{
		{in: "", want: deadletter.Filter{}},
		{in: "topic=deliveries", want: deadletter.Filter{Topic: hub.TopicDeliveries}},
		{in: "topic=events, reason~=Timeout ,event=abc", want: deadletter.Filter{Topic: hub.TopicEvents, Reason: "Timeout", Event: "abc"}},
		{in: "channel=mobile,user=alice,before=2026-01-02T03:04:05Z", want: deadletter.Filter{Channel: "mobile", User: "alice", Before: before}},
		{in: "reason=429", want: deadletter.Filter{Reason: "429"}},
		{in: "topic=dlq", bad: true},
		{in: "colour=red", bad: true},
		{in: "event~=x", bad: true},
		{in: "justaword", bad: true},
		{in: "before=yesterday", bad: true},
	}
	for _, tt := range tests {
		got, err := deadletter.ParseFilter(tt.in)
		if tt.bad {
			if !errors.Is(err, deadletter.ErrBadFilter) {
				t.Errorf("ParseFilter(%q) = %+v, %v; want ErrBadFilter", tt.in, got, err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("ParseFilter(%q) = %+v, %v; want %+v", tt.in, got, err, tt.want)
		}
	}
}

func eventOf(id string, users ...string) event.Event {
	return event.Event{ID: event.IDFor("urn:t", id), Source: "urn:t", SourceID: id, Type: "t",
		Audience: event.Audience{Users: users}, Notification: event.Notification{Message: "m"}}
}

func batchLetter(t *testing.T, seq uint64, at time.Time, reason string, b delivery.Batch) hub.DeadLetter {
	t.Helper()
	msgs, err := delivery.Encode(b)
	if err != nil {
		t.Fatal(err)
	}
	return hub.DeadLetter{Seq: seq, Topic: hub.TopicDeliveries, Message: msgs[0], Reason: reason, Attempts: 1, At: at}
}

func eventLetter(t *testing.T, seq uint64, at time.Time, reason string, ev event.Event) hub.DeadLetter {
	t.Helper()
	data, err := json.Marshal(ev)
	if err != nil {
		t.Fatal(err)
	}
	return hub.DeadLetter{Seq: seq, Topic: hub.TopicEvents, Message: hub.Message{Key: ev.ID, Data: data}, Reason: reason, Attempts: 8, At: at}
}

func TestDescribeAndMatch(t *testing.T) {
	t.Parallel()
	now := time.Now()
	ev1, ev2 := eventOf("one"), eventOf("two", "carol")
	batch := batchLetter(t, 1, now.Add(-time.Hour), "gave up after 8 attempts; last error: 503", delivery.Batch{
		Channel: "mobile", Attempt: 9, LastError: "503 ServiceUnavailable",
		Items: []delivery.Item{{Event: ev1, Users: []string{"alice", "bob"}}, {Event: ev2, Users: []string{"carol"}}}})
	planned := eventLetter(t, 2, now, "planning failed 8 times: store is down", ev2)
	poison := hub.DeadLetter{Seq: 3, Topic: hub.TopicEvents, Message: hub.Message{Data: []byte("\x00garbage")}, Reason: "decode: invalid character", Attempts: 1, At: now}

	in := deadletter.Describe(batch)
	if !slices.Equal(in.Events, []string{ev1.ID, ev2.ID}) || !slices.Equal(in.Recipients, []string{"alice", "bob", "carol"}) ||
		in.Channel != "mobile" || in.Attempts != 8 || in.LastError != "503 ServiceUnavailable" {
		t.Errorf("Describe(batch) = %+v", in)
	}
	in = deadletter.Describe(planned)
	if !slices.Equal(in.Events, []string{ev2.ID}) || !slices.Equal(in.Recipients, []string{"carol"}) || in.Channel != "" || in.Attempts != 8 ||
		in.LastError != planned.Reason {
		t.Errorf("Describe(event) = %+v", in)
	}
	if in := deadletter.Describe(poison); len(in.Events) != 0 || in.LastError != poison.Reason {
		t.Errorf("Describe(poison) = %+v", in)
	}

	all := []hub.DeadLetter{batch, planned, poison}
	tests := []struct {
		f    deadletter.Filter
		want []uint64
	}{
		{deadletter.Filter{}, []uint64{1, 2, 3}},
		{deadletter.Filter{Topic: hub.TopicEvents}, []uint64{2, 3}},
		{deadletter.Filter{Reason: "serviceunavailable"}, []uint64{1}},
		{deadletter.Filter{Reason: "store is DOWN"}, []uint64{2}},
		{deadletter.Filter{Event: ev2.ID}, []uint64{1, 2}},
		{deadletter.Filter{Event: "one"}, []uint64{1}},
		{deadletter.Filter{Channel: "mobile"}, []uint64{1}},
		{deadletter.Filter{User: "carol"}, []uint64{1, 2}},
		{deadletter.Filter{User: "bob", Topic: hub.TopicEvents}, nil},
		{deadletter.Filter{Before: now.Add(-time.Minute)}, []uint64{1}},
	}
	for _, tt := range tests {
		var got []uint64
		for _, dl := range all {
			if tt.f.Match(dl) {
				got = append(got, dl.Seq)
			}
		}
		if !slices.Equal(got, tt.want) {
			t.Errorf("%+v matched %v, want %v", tt.f, got, tt.want)
		}
	}
}

// setup opens an embedded hub and dead-letters one event per id, each with
// the reason "reason <id>".
func setup(t *testing.T, ids ...string) (hub.Hub, map[string]uint64) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	h, err := natshub.Embedded(ctx, filepath.Join(t.TempDir(), "hub"), natshub.Options{Partitions: 1})
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range ids {
		data, _ := json.Marshal(eventOf(id, "u-"+id))
		if err := h.Publish(ctx, hub.TopicEvents, hub.Message{Key: id, ID: id, Data: data}); err != nil {
			t.Fatal(err)
		}
	}
	cctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		done <- h.Consume(cctx, hub.TopicEvents, "g", hub.ConsumeOptions{}, func(ctx context.Context, batch []hub.Delivery) {
			for _, d := range batch {
				var ev event.Event
				_ = json.Unmarshal(d.Message().Data, &ev)
				_ = d.DeadLetter(ctx, "reason "+ev.SourceID)
			}
		})
	}()
	t.Cleanup(func() { stop(); <-done; h.Close() })
	seqs := map[string]uint64{}
	for len(seqs) < len(ids) {
		if ctx.Err() != nil {
			t.Fatalf("only %d of %d dead letters stored", len(seqs), len(ids))
		}
		list, err := deadletter.Select(ctx, h, deadletter.Filter{})
		if err != nil {
			t.Fatal(err)
		}
		for _, dl := range list {
			var ev event.Event
			_ = json.Unmarshal(dl.Message.Data, &ev)
			seqs[ev.SourceID] = dl.Seq
		}
		time.Sleep(10 * time.Millisecond)
	}
	return h, seqs
}

func sourceIDs(t *testing.T, h hub.Hub) []string {
	t.Helper()
	list, err := deadletter.Select(context.Background(), h, deadletter.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, dl := range list {
		var ev event.Event
		_ = json.Unmarshal(dl.Message.Data, &ev)
		out = append(out, ev.SourceID)
	}
	return out
}

func TestDeleteAndPurge(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	h, seqs := setup(t, "a", "b", "c", "d")

	if err := deadletter.Delete(ctx, h, seqs["b"]); err != nil {
		t.Fatal(err)
	}
	if err := deadletter.Delete(ctx, h, seqs["b"]); !errors.Is(err, deadletter.ErrNotFound) {
		t.Fatalf("deleting b again: %v, want ErrNotFound", err)
	}
	if got := sourceIDs(t, h); !slices.Equal(got, []string{"a", "c", "d"}) {
		t.Fatalf("after deleting b: %v", got)
	}

	list, n, err := deadletter.Purge(ctx, h, deadletter.Filter{Reason: "reason c"}, true)
	if err != nil || len(list) != 1 || n != 0 || list[0].Seq != seqs["c"] {
		t.Fatalf("dry run: %d listed, %d purged, %v", len(list), n, err)
	}
	if got := sourceIDs(t, h); len(got) != 3 {
		t.Fatalf("a dry run removed something: %v", got)
	}
	if _, n, err := deadletter.Purge(ctx, h, deadletter.Filter{Reason: "reason c"}, false); err != nil || n != 1 {
		t.Fatalf("purge c: %d, %v", n, err)
	}
	if got := sourceIDs(t, h); !slices.Equal(got, []string{"a", "d"}) {
		t.Fatalf("after purging c: %v", got)
	}
	if _, n, err := deadletter.Purge(ctx, h, deadletter.Filter{Before: time.Now().Add(time.Minute)}, false); err != nil || n != 2 {
		t.Fatalf("purge older than a minute from now: %d, %v", n, err)
	}
	if got := sourceIDs(t, h); len(got) != 0 {
		t.Fatalf("after purging everything: %v", got)
	}
}

func TestReplayMatching(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	h, seqs := setup(t, "x", "y")
	replayed, err := deadletter.ReplayMatching(ctx, h, deadletter.Filter{Event: "y"})
	if err != nil || len(replayed) != 1 || replayed[0].Seq != seqs["y"] {
		t.Fatalf("ReplayMatching(event=y) = %+v, %v", replayed, err)
	}
	// The consumer dead-letters the replayed event again: a third dead
	// letter, the originals still listed.
	deadline := time.Now().Add(20 * time.Second)
	for got := sourceIDs(t, h); !slices.Equal(got, []string{"x", "y", "y"}); got = sourceIDs(t, h) {
		if time.Now().After(deadline) {
			t.Fatalf("after replaying y: %v", got)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
