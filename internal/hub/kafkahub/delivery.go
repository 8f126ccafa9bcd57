package kafkahub

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/herald/herald/internal/hub"
)

// ErrSettled is returned when a delivery that was already acked, retried or
// dead-lettered, by the handler or by the hub after AckWait, is settled
// again.
var ErrSettled = errors.New("kafkahub: delivery already settled")

// ErrStopped is returned by Retry and DeadLetter once the delivery's
// partition was revoked or its Consume call stopped: the message will be
// delivered again to the partition's next owner.
var ErrStopped = errors.New("kafkahub: partition no longer consumed here; the message will be delivered again")

// state is where a delivery is in its settlement.
type state uint8

const (
	statePending  state = iota // not settled
	stateSettling              // a copy or dead letter is being stored
	stateSettled               // done: its offset may be committed
)

// how says what settled a delivery.
type how uint8

const (
	howNone       how = iota
	howAck            // the handler acked
	howRetry          // the handler asked for a retry
	howDeadLetter     // the handler dead-lettered
	howExpired        // AckWait passed: the hub retried or dead-lettered
	howExhausted      // past MaxAttempts: the hub dead-lettered
)

// String names the settlement in logs.
func (h how) String() string {
	switch h {
	case howAck:
		return "ack"
	case howRetry:
		return "retry"
	case howDeadLetter:
		return "dead-letter"
	case howExpired:
		return "ack-wait"
	case howExhausted:
		return "exhausted"
	default:
		return "none"
	}
}

// delivery is a hub.Delivery of one record.
type delivery struct {
	p           *partition
	rec         *kgo.Record
	m           hub.Message
	hdrAttempts int       // attempts before this copy (herald-attempts)
	notBefore   time.Time // a retried copy's due time (herald-not-before)
	origin      string    // <topic>/<partition>@<offset> of the first copy
	attempt     int       // set when handed out

	// Guarded by p.mu.
	count    int // times handed out from the log, by any owner
	state    state
	how      how
	handed   bool
	deadline time.Time
}

var _ hub.Delivery = (*delivery)(nil)

// newDelivery reads a fetched record; prior is how often the group handed it
// out before.
func newDelivery(p *partition, r *kgo.Record, prior int) *delivery {
	d := &delivery{p: p, rec: r, m: hub.Message{Key: string(r.Key), Data: r.Value}, count: prior}
	for _, h := range r.Headers {
		switch h.Key {
		case hdrID:
			d.m.ID = string(h.Value)
		case hdrAttempts:
			if n, err := strconv.Atoi(string(h.Value)); err == nil && n > 0 {
				d.hdrAttempts = n
			}
		case hdrNotBefore:
			if t, err := time.Parse(time.RFC3339Nano, string(h.Value)); err == nil {
				d.notBefore = t
			}
		case hdrOrigin:
			d.origin = string(h.Value)
		}
	}
	if d.origin == "" {
		d.origin = r.Topic + "/" + strconv.Itoa(int(r.Partition)) + "@" + strconv.FormatInt(r.Offset, 10)
	}
	return d
}

// size is what the record holds in memory, roughly.
func (d *delivery) size() int { return len(d.rec.Key) + len(d.rec.Value) }

// Message is the message as published.
func (d *delivery) Message() hub.Message { return d.m }

// Partition is the partition the record was read from.
func (d *delivery) Partition() int { return int(d.p.index) }

// Attempt is 1 plus the deliveries before this one: copies made by Retry
// and AckWait carry the count in a header, and handouts of this record to
// consumers that went away are counted in the group's commit metadata.
func (d *delivery) Attempt() int { return d.attempt }

// claim starts settling d as w. Called with p.mu held.
func (d *delivery) claim(w how) error {
	if d.state != statePending {
		if d.how == howExpired {
			return fmt.Errorf("%w: AckWait (%s) passed and the hub delivered it again", ErrSettled, d.p.c.opts.AckWait)
		}
		return ErrSettled
	}
	d.state, d.how = stateSettling, w
	return nil
}

// Ack settles the message. The offset is committed without waiting, together
// with other settlements: after a crash the message may come back.
func (d *delivery) Ack() error {
	p := d.p
	p.mu.Lock()
	if err := d.claim(howAck); err != nil {
		p.mu.Unlock()
		return err
	}
	advanced := p.settle(d)
	final := p.final
	p.mu.Unlock()
	if advanced && !final {
		p.c.requestCommit(p, false)
	}
	return nil
}

// Retry publishes a copy of the message to its topic, with the same key,
// the attempt count and, when delay > 0, a not-before time; the original is
// settled once the copy is stored. It does not wait for that: if the copy
// cannot be stored the delivery stays unsettled and comes back after
// AckWait.
func (d *delivery) Retry(delay time.Duration) error {
	p := d.p
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return ErrStopped
	}
	if err := d.claim(howRetry); err != nil {
		p.mu.Unlock()
		return err
	}
	p.inflight++
	p.mu.Unlock()
	var notBefore time.Time
	if delay > 0 {
		notBefore = time.Now().Add(delay)
	}
	p.republish(d, d.attempt, notBefore)
	return nil
}

// DeadLetter stores the message in the dead-letter topic, waits for the
// brokers' acknowledgement and then settles it.
func (d *delivery) DeadLetter(ctx context.Context, reason string) error {
	p := d.p
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return ErrStopped
	}
	if err := d.claim(howDeadLetter); err != nil {
		p.mu.Unlock()
		return err
	}
	p.inflight++
	p.mu.Unlock()
	err := p.c.h.storeDeadLetter(ctx, p.c.topic, p.c.group, d.m, reason, d.attempt, d.origin)
	p.finish(d, err)
	return err
}
