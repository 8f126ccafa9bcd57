package kafkahub

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

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
// partition with a short-lived client of its own (no consumer group).
func (h *Hub) DeadLetters(ctx context.Context, after uint64, limit int) ([]hub.DeadLetter, error) {
	if h.closed.Load() {
		return nil, hub.ErrClosed
	}
	if limit <= 0 {
		limit = defaultDeadLetterLimit
	}
	starts, err := h.adm.ListStartOffsets(ctx, h.dlq)
	if err == nil {
		err = starts.Error()
	}
	if err != nil {
		return nil, fmt.Errorf("kafkahub: dead letters: start offset of %s: %w", h.dlq, err)
	}
	ends, err := h.adm.ListEndOffsets(ctx, h.dlq)
	if err == nil {
		err = ends.Error()
	}
	if err != nil {
		return nil, fmt.Errorf("kafkahub: dead letters: end offset of %s: %w", h.dlq, err)
	}
	start, _ := starts.Lookup(h.dlq, 0)
	end, _ := ends.Lookup(h.dlq, 0)
	from := max(int64(min(after, uint64(1)<<62)), start.Offset)
	if from >= end.Offset {
		return nil, nil
	}
	want := int(min(int64(limit), end.Offset-from))

	cl, err := kgo.NewClient(append(slices.Clone(h.base),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{h.dlq: {0: kgo.NewOffset().At(from)}}),
	)...)
	if err != nil {
		return nil, fmt.Errorf("kafkahub: dead letters: client: %w", err)
	}
	defer cl.Close()
	out := make([]hub.DeadLetter, 0, want)
	for len(out) < want {
		fetches := cl.PollRecords(ctx, want-len(out))
		if err := ctx.Err(); err != nil {
			return out, fmt.Errorf("kafkahub: dead letters after %d: %w", after, err)
		}
		if errs := fetches.Errors(); len(errs) > 0 {
			return out, fmt.Errorf("kafkahub: read dead letters from %s at %d: %w", h.dlq, from, errs[0].Err)
		}
		last := int64(-1)
		fetches.EachRecord(func(r *kgo.Record) {
			if len(out) < want && r.Offset < end.Offset {
				out = append(out, decodeDeadLetter(r))
			}
			last = max(last, r.Offset)
		})
		if last >= end.Offset-1 {
			break
		}
	}
	return out, nil
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
