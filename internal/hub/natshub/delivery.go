package natshub

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/herald/herald/internal/hub"
)

// ErrSettled is returned when a delivery that was already acked, retried or
// dead-lettered is settled again.
var ErrSettled = errors.New("natshub: delivery already settled")

// delivery is a hub.Delivery of one JetStream message.
type delivery struct {
	pc      *partition
	msg     jetstream.Msg
	m       hub.Message
	attempt int
	origin  string // <stream>:<stream sequence>
	settled atomic.Bool
}

var _ hub.Delivery = (*delivery)(nil)

// Message is the message as published.
func (d *delivery) Message() hub.Message { return d.m }

// Partition is the partition the message was read from.
func (d *delivery) Partition() int { return d.pc.index }

// Attempt is the server's delivery count of the message to this group.
func (d *delivery) Attempt() int { return d.attempt }

// Ack acknowledges the message without waiting for the server's
// confirmation: if the ack is lost the message comes back with a higher
// Attempt, so the effect the caller made durable must tolerate a repeat.
func (d *delivery) Ack() error {
	if d.settled.Load() {
		return ErrSettled
	}
	if err := d.msg.Ack(); err != nil {
		return fmt.Errorf("natshub: ack %s: %w", d.origin, err)
	}
	d.settled.Store(true)
	return nil
}

// Retry asks the server to deliver the message again after delay (at once
// when delay <= 0).
func (d *delivery) Retry(delay time.Duration) error {
	if d.settled.Load() {
		return ErrSettled
	}
	var err error
	if delay > 0 {
		err = d.msg.NakWithDelay(delay)
	} else {
		err = d.msg.Nak()
	}
	if err != nil {
		return fmt.Errorf("natshub: retry %s: %w", d.origin, err)
	}
	d.settled.Store(true)
	return nil
}

// DeadLetter stores the message in the dead-letter stream, waits until it is
// stored and then acknowledges the original.
func (d *delivery) DeadLetter(ctx context.Context, reason string) error {
	if d.settled.Load() {
		return ErrSettled
	}
	return d.deadLetter(ctx, reason, d.attempt)
}

func (d *delivery) deadLetter(ctx context.Context, reason string, attempts int) error {
	if err := d.pc.h.storeDeadLetter(ctx, d.pc.topic.name, d.pc.group, d.m, reason, attempts, d.origin); err != nil {
		return err
	}
	// Ack, not Term: the dead-letter stream is the record, and an ack
	// settles the message the same way on every server version. A lost ack
	// brings the message back; dead-lettering it again is de-duplicated on
	// its origin within DupWindow.
	if err := d.msg.Ack(); err != nil {
		return fmt.Errorf("natshub: ack dead-lettered %s: %w", d.origin, err)
	}
	d.settled.Store(true)
	return nil
}
