package natshub

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/herald/herald/internal/hub"
)

// defaultDeadLetterLimit is the page size of DeadLetters when limit <= 0.
const defaultDeadLetterLimit = 100

// storeDeadLetter publishes m to the dead-letter stream and waits for the
// server to store it. origin ("<stream>:<seq>") and group form the
// de-duplication id, so dead-lettering a redelivery of the same message
// again stores it once, while two groups reading one message each store
// their own.
func (h *Hub) storeDeadLetter(ctx context.Context, topic, group string, m hub.Message, reason string, attempts int, origin string) error {
	if h.closed.Load() {
		return hub.ErrClosed
	}
	msg := &nats.Msg{
		Subject: h.lower + "." + dlqTopic + "." + topic,
		Data:    m.Data,
		Header: nats.Header{
			hdrTopic:              {topic},
			hdrReason:             {reason},
			hdrAttempts:           {strconv.Itoa(attempts)},
			hdrTime:               {time.Now().UTC().Format(time.RFC3339Nano)},
			hdrOrigin:             {origin},
			hdrGroup:              {group},
			jetstream.MsgIDHeader: {origin + "@" + group},
		},
	}
	if m.Key != "" {
		msg.Header.Set(hdrKey, m.Key)
	}
	if m.ID != "" {
		msg.Header.Set(hdrID, m.ID)
	}
	if _, err := h.js.PublishMsg(ctx, msg); err != nil {
		return fmt.Errorf("natshub: store dead letter of %s: %w", origin, err)
	}
	return nil
}

// DeadLetters lists up to limit dead letters with a sequence above after,
// oldest first. A limit <= 0 means 100.
func (h *Hub) DeadLetters(ctx context.Context, after uint64, limit int) ([]hub.DeadLetter, error) {
	if h.closed.Load() {
		return nil, hub.ErrClosed
	}
	if limit <= 0 {
		limit = defaultDeadLetterLimit
	}
	filter := h.lower + "." + dlqTopic + ".>"
	var out []hub.DeadLetter
	for seq := after + 1; len(out) < limit; {
		raw, err := h.dlq.GetMsg(ctx, seq, jetstream.WithGetMsgSubject(filter))
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			break
		}
		if err != nil {
			return out, fmt.Errorf("natshub: read dead letter after %d: %w", seq-1, err)
		}
		out = append(out, decodeDeadLetter(raw))
		seq = raw.Sequence + 1
	}
	return out, nil
}

// DeleteDeadLetters removes dead letters from the dead-letter stream by
// sequence number and returns how many it removed. A sequence with no
// message (never stored, or removed before) is skipped.
func (h *Hub) DeleteDeadLetters(ctx context.Context, seqs ...uint64) (int, error) {
	if h.closed.Load() {
		return 0, hub.ErrClosed
	}
	n := 0
	for _, seq := range seqs {
		if seq == 0 {
			continue
		}
		err := h.dlq.DeleteMsg(ctx, seq)
		if errors.Is(err, jetstream.ErrMsgDeleteUnsuccessful) && noSuchMessage(err) {
			continue
		}
		if err != nil {
			return n, fmt.Errorf("natshub: delete dead letter %d: %w", seq, err)
		}
		n++
	}
	return n, nil
}

// noSuchMessage reports whether a failed deletion named a sequence the
// stream does not hold: removed before ("no message found", "sequence N
// not found") or past its end ("stream store EOF").
func noSuchMessage(err error) bool {
	msg := err.Error()
	return strings.Contains(msg, "no message found") || strings.Contains(msg, "not found") || strings.Contains(msg, "store EOF")
}

// decodeDeadLetter turns a stored dead letter back into its record.
func decodeDeadLetter(raw *jetstream.RawStreamMsg) hub.DeadLetter {
	dl := hub.DeadLetter{
		Seq:    raw.Sequence,
		Topic:  raw.Header.Get(hdrTopic),
		Reason: raw.Header.Get(hdrReason),
		Message: hub.Message{
			Key:  raw.Header.Get(hdrKey),
			ID:   raw.Header.Get(hdrID),
			Data: raw.Data,
		},
		At: raw.Time,
	}
	dl.Attempts, _ = strconv.Atoi(raw.Header.Get(hdrAttempts))
	if at, err := time.Parse(time.RFC3339Nano, raw.Header.Get(hdrTime)); err == nil {
		dl.At = at
	}
	return dl
}
