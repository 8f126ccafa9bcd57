package kafkahub

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/herald/herald/internal/hub"
)

// defaultDeadLetterLimit is the page size of DeadLetters when limit <= 0.
const defaultDeadLetterLimit = 100

// storeDeadLetter writes m to partition 0 of the dead-letter topic and waits
// until the brokers acknowledge it. The record keeps the message's key and
// value; the headers say where it came from and why it was given up.
func (h *Hub) storeDeadLetter(ctx context.Context, topic, group string, m hub.Message, reason string, attempts int, origin string) error {
	if h.closed.Load() {
		return hub.ErrClosed
	}
	r := newRecord(h.dlq, m)
	r.Partition = 0
	r.Headers = append(r.Headers,
		kgo.RecordHeader{Key: hdrTopic, Value: []byte(topic)},
		kgo.RecordHeader{Key: hdrGroup, Value: []byte(group)},
		kgo.RecordHeader{Key: hdrKey, Value: []byte(m.Key)},
		kgo.RecordHeader{Key: hdrReason, Value: []byte(reason)},
		kgo.RecordHeader{Key: hdrAttempts, Value: []byte(strconv.Itoa(attempts))},
		kgo.RecordHeader{Key: hdrTime, Value: []byte(time.Now().UTC().Format(time.RFC3339Nano))},
		kgo.RecordHeader{Key: hdrOrigin, Value: []byte(origin)},
	)
	if err := h.cl.ProduceSync(ctx, r).FirstErr(); err != nil {
		if h.closed.Load() {
			err = errors.Join(hub.ErrClosed, err)
		}
		return fmt.Errorf("kafkahub: store dead letter of %s on %s: %w", origin, h.dlq, err)
	}
	return nil
}

// DeadLetters lists up to limit dead letters with a sequence above after,
// oldest first. A dead letter's Seq is its offset in partition 0 of the
// dead-letter topic plus one. A limit <= 0 means 100. Each call reads the
// partition with a short-lived client of its own (no consumer group), to its
// end: a removal (see DeleteDeadLetters) is a marker record later in the
// partition, so a page is only known once every later marker is read. A page
// may hold fewer than limit dead letters; only an empty one means the end.
func (h *Hub) DeadLetters(ctx context.Context, after uint64, limit int) ([]hub.DeadLetter, error) {
	if h.closed.Load() {
		return nil, hub.ErrClosed
	}
	if limit <= 0 {
		limit = defaultDeadLetterLimit
	}
	start, end, err := h.dlqOffsets(ctx)
	if err != nil {
		return nil, err
	}
	from := max(int64(min(after, uint64(1)<<62)), start)
	for from < end {
		var page []hub.DeadLetter
		next := end // the first record not kept on this page
		removed := map[uint64]bool{}
		err := h.readDLQ(ctx, from, end, func(r *kgo.Record) {
			if seqs, ok := removals(r); ok {
				for _, s := range seqs {
					removed[s] = true
				}
				return
			}
			if len(page) >= limit {
				next = min(next, r.Offset)
				return
			}
			page = append(page, decodeDeadLetter(r))
		})
		if err != nil {
			return nil, fmt.Errorf("kafkahub: dead letters after %d: %w", after, err)
		}
		page = slices.DeleteFunc(page, func(d hub.DeadLetter) bool { return removed[d.Seq] })
		if len(page) > 0 {
			return page, nil
		}
		from = next // every kept one was removed later: read on
	}
	return nil, nil
}

// DeleteDeadLetters removes dead letters. Kafka cannot delete single
// records, so a removal is a marker record on the dead-letter partition
// naming the sequences it removes; DeadLetters skips both. Then the
// partition's start is moved past every removed dead letter and marker that
// precede the oldest remaining one (DeleteRecords), so purging everything
// or the oldest leaves nothing behind.
func (h *Hub) DeleteDeadLetters(ctx context.Context, seqs ...uint64) (int, error) {
	if h.closed.Load() {
		return 0, hub.ErrClosed
	}
	if len(seqs) == 0 {
		return 0, nil
	}
	start, end, err := h.dlqOffsets(ctx)
	if err != nil {
		return 0, err
	}
	want := make(map[uint64]bool, len(seqs))
	for _, s := range seqs {
		want[s] = true
	}
	removed := map[uint64]bool{}
	var stored []uint64 // dead letters' seqs, in order
	if err := h.readDLQ(ctx, start, end, func(r *kgo.Record) {
		if rs, ok := removals(r); ok {
			for _, s := range rs {
				removed[s] = true
			}
			return
		}
		stored = append(stored, uint64(r.Offset)+1)
	}); err != nil {
		return 0, fmt.Errorf("kafkahub: delete dead letters: %w", err)
	}
	var remove []uint64
	for _, s := range stored {
		if want[s] && !removed[s] {
			remove = append(remove, s)
		}
	}
	truncate := end // nothing left: drop the whole partition
	if len(remove) > 0 {
		parts := make([]string, len(remove))
		for i, s := range remove {
			parts[i] = strconv.FormatUint(s, 10)
			removed[s] = true
		}
		marker := &kgo.Record{Topic: h.dlq, Partition: 0, Headers: []kgo.RecordHeader{{Key: hdrRemoves, Value: []byte(strings.Join(parts, ","))}}}
		res := h.cl.ProduceSync(ctx, marker)
		if err := res.FirstErr(); err != nil {
			return 0, fmt.Errorf("kafkahub: delete dead letters: store the removal on %s: %w", h.dlq, err)
		}
		truncate = marker.Offset + 1
	}
	for _, s := range stored {
		if !removed[s] {
			truncate = int64(s) - 1 // the oldest remaining dead letter
			break
		}
	}
	if truncate > start {
		var os kadm.Offsets
		os.AddOffset(h.dlq, 0, truncate, -1)
		resp, err := h.adm.DeleteRecords(ctx, os)
		if err == nil {
			err = resp.Error()
		}
		if err != nil {
			// The markers already hide what was removed; only space is lost.
			h.log.Warn("moving the dead-letter partition's start failed; removed dead letters stay hidden", "topic", h.dlq, "offset", truncate, "err", err)
		}
	}
	return len(remove), nil
}

// removals returns the sequences a removal marker names.
func removals(r *kgo.Record) ([]uint64, bool) {
	for _, hd := range r.Headers {
		if hd.Key != hdrRemoves {
			continue
		}
		var out []uint64
		for _, f := range strings.Split(string(hd.Value), ",") {
			if n, err := strconv.ParseUint(f, 10, 64); err == nil {
				out = append(out, n)
			}
		}
		return out, true
	}
	return nil, false
}

// dlqOffsets returns the start and end offsets of the dead-letter partition.
func (h *Hub) dlqOffsets(ctx context.Context) (start, end int64, err error) {
	starts, err := h.adm.ListStartOffsets(ctx, h.dlq)
	if err == nil {
		err = starts.Error()
	}
	if err != nil {
		return 0, 0, fmt.Errorf("kafkahub: dead letters: start offset of %s: %w", h.dlq, err)
	}
	ends, err := h.adm.ListEndOffsets(ctx, h.dlq)
	if err == nil {
		err = ends.Error()
	}
	if err != nil {
		return 0, 0, fmt.Errorf("kafkahub: dead letters: end offset of %s: %w", h.dlq, err)
	}
	s, _ := starts.Lookup(h.dlq, 0)
	e, _ := ends.Lookup(h.dlq, 0)
	return s.Offset, e.Offset, nil
}

// readDLQ calls each for every record of the dead-letter partition from
// offset from up to (not including) end, in order, with a client of its own.
func (h *Hub) readDLQ(ctx context.Context, from, end int64, each func(*kgo.Record)) error {
	if from >= end {
		return nil
	}
	cl, err := kgo.NewClient(append(slices.Clone(h.base),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{h.dlq: {0: kgo.NewOffset().At(from)}}),
	)...)
	if err != nil {
		return fmt.Errorf("client: %w", err)
	}
	defer cl.Close()
	for {
		fetches := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			return err
		}
		if errs := fetches.Errors(); len(errs) > 0 {
			return fmt.Errorf("read %s from %d: %w", h.dlq, from, errs[0].Err)
		}
		last := int64(-1)
		fetches.EachRecord(func(r *kgo.Record) {
			if r.Offset < end {
				each(r)
			}
			last = max(last, r.Offset)
		})
		if last >= end-1 {
			return nil
		}
	}
}

// decodeDeadLetter turns a dead-letter record back into its entry.
func decodeDeadLetter(r *kgo.Record) hub.DeadLetter {
	dl := hub.DeadLetter{
		Seq:     uint64(r.Offset) + 1,
		Message: hub.Message{Key: string(r.Key), Data: r.Value},
		At:      r.Timestamp,
	}
	for _, hd := range r.Headers {
		v := string(hd.Value)
		switch hd.Key {
		case hdrTopic:
			dl.Topic = v
		case hdrReason:
			dl.Reason = v
		case hdrID:
			dl.Message.ID = v
		case hdrKey:
			dl.Message.Key = v
		case hdrAttempts:
			dl.Attempts, _ = strconv.Atoi(v)
		case hdrTime:
			if at, err := time.Parse(time.RFC3339Nano, v); err == nil {
				dl.At = at
			}
		}
	}
	return dl
}
