// Package deadletter lets operators look at what the hub gave up on and
// send it back: a replayed message goes to its original topic as new, and
// the effects downstream are idempotent (an event's row guards its plan; a
// delivery batch skips people whose outcome is final), so replaying twice
// delivers nothing twice. The dead letter itself stays for the record.
package deadletter

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/herald/herald/internal/delivery"
	"github.com/herald/herald/internal/hub"
)

// ErrNotFound is returned for a sequence number with no dead letter.
var ErrNotFound = errors.New("no such dead letter")

// Get returns the dead letter with sequence number seq.
func Get(ctx context.Context, h hub.Hub, seq uint64) (hub.DeadLetter, error) {
	if seq == 0 {
		return hub.DeadLetter{}, fmt.Errorf("dead letter 0: %w", ErrNotFound)
	}
	list, err := h.DeadLetters(ctx, seq-1, 1)
	if err != nil {
		return hub.DeadLetter{}, err
	}
	if len(list) == 0 || list[0].Seq != seq {
		return hub.DeadLetter{}, fmt.Errorf("dead letter %d: %w", seq, ErrNotFound)
	}
	return list[0], nil
}

// Replay publishes dead letter seq again to its original topic and returns it.
func Replay(ctx context.Context, h hub.Hub, seq uint64) (hub.DeadLetter, error) {
	dl, err := Get(ctx, h, seq)
	if err != nil {
		return dl, err
	}
	return dl, replay(ctx, h, dl)
}

// replay publishes dl again to its original topic.
func replay(ctx context.Context, h hub.Hub, dl hub.DeadLetter) error {
	seq := dl.Seq
	switch dl.Topic {
	case hub.TopicEvents, hub.TopicDeliveries:
	default:
		return fmt.Errorf("dead letter %d came from topic %q, which herald does not consume", seq, dl.Topic)
	}
	m := dl.Message
	m.ID = "" // a replay is a new message for the hub's de-duplication
	if dl.Topic == hub.TopicDeliveries {
		// The batch gave up after its attempts; the replay starts afresh.
		b, err := delivery.Decode(m.Data)
		if err != nil {
			return fmt.Errorf("replay dead letter %d: %w", seq, err)
		}
		b.Attempt, b.NotBefore, b.LastError = 1, time.Time{}, ""
		msgs, err := delivery.Encode(b)
		if err != nil {
			return err
		}
		for i := range msgs {
			// Encode names a message by its content, which a replay of a
			// batch that failed as a whole shares with the original: the
			// hub would drop it as a duplicate within its window.
			msgs[i].ID = ""
		}
		if err := h.Publish(ctx, dl.Topic, msgs...); err != nil {
			return fmt.Errorf("replay dead letter %d: %w", seq, err)
		}
		return nil
	}
	if err := h.Publish(ctx, dl.Topic, m); err != nil {
		return fmt.Errorf("replay dead letter %d: %w", seq, err)
	}
	return nil
}
