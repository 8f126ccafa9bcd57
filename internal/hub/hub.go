// Package hub defines herald's event hub: a durable, partitioned log that
// ingest publishes to and workers consume from as named groups, with
// redelivery and a dead-letter place. Drivers live in child packages and all
// pass the conformance suite in hubtest. The package holds no driver code.
package hub

import (
	"context"
	"errors"
	"hash/fnv"
	"time"
)

// Topics herald uses. A driver maps each to its own stream or topic name.
const (
	// TopicEvents carries canonical events from ingest to the handler.
	TopicEvents = "events"
	// TopicDeliveries carries delivery batches from the handler to channel workers.
	TopicDeliveries = "deliveries"
)

// Message is one record on a topic.
type Message struct {
	// Key picks the partition: messages with equal keys stay in order.
	Key string
	// ID, when set, lets the hub drop a re-publish of the same message
	// within its de-duplication window. Correctness never depends on it.
	ID string
	// Data is the opaque payload.
	Data []byte
}

// Delivery is a message handed to a consumer. Exactly one of Ack, Retry or
// DeadLetter must be called for it; until then the hub keeps the message
// and will deliver it again if the consumer goes away.
type Delivery interface {
	Message() Message
	// Partition is the partition the message was read from.
	Partition() int
	// Attempt is 1 the first time a message is delivered and grows with
	// every redelivery, whatever caused it (Retry, a crash, a timeout).
	Attempt() int
	// Ack settles the message: its effect is durable. Acks are sent without
	// waiting for confirmation, so a message may still come back (after a
	// crash, say); consumers make redelivery harmless with idempotent effects.
	Ack() error
	// Retry asks for the message again after delay.
	Retry(delay time.Duration) error
	// DeadLetter stores the message with reason in the dead-letter place and
	// then settles it. It returns only when the dead letter is durable.
	DeadLetter(ctx context.Context, reason string) error
}

// Handler processes a batch of deliveries from one partition and settles
// every one of them. Batches are small and formed without waiting: a handler
// sees whatever was ready, up to the consumer's batch size.
type Handler func(ctx context.Context, batch []Delivery)

// ConsumeOptions tune one consumer group.
type ConsumeOptions struct {
	// BatchSize is the most deliveries handed to the handler at once.
	BatchSize int
	// AckWait is how long a delivery may stay unsettled before the hub
	// delivers it again.
	AckWait time.Duration
	// MaxAttempts is how often a message is delivered before the hub dead
	// letters it itself, without calling the handler (a message that keeps
	// crashing its consumer). Zero means 10.
	MaxAttempts int
	// OnExhausted, when set, is called after the hub dead-lettered a
	// message itself (its attempts ran out without the handler settling
	// it), with the reason stored, so that the consumer can record what
	// became of it. It is not called for messages the handler
	// dead-letters; it must not block for long.
	OnExhausted func(ctx context.Context, m Message, reason string)
}

// WithDefaults returns o with its zero fields set to the defaults.
func (o ConsumeOptions) WithDefaults() ConsumeOptions {
	if o.BatchSize <= 0 {
		o.BatchSize = 500
	}
	if o.AckWait <= 0 {
		o.AckWait = 30 * time.Second
	}
	if o.MaxAttempts <= 0 {
		o.MaxAttempts = 10
	}
	return o
}

// DeadLetter is a message the hub gave up on, with why.
type DeadLetter struct {
	// Seq orders dead letters and names one for replay.
	Seq      uint64
	Topic    string
	Message  Message
	Reason   string
	Attempts int
	At       time.Time
}

// Lag is how far a consumer group is behind on a topic.
type Lag struct {
	Topic   string
	Group   string
	Pending uint64
}

// Hub is the durable log.
type Hub interface {
	// Publish stores msgs on topic and returns only when all of them are
	// durable. On error some may have been stored; publishing again is safe.
	Publish(ctx context.Context, topic string, msgs ...Message) error
	// Consume runs handler over topic as the consumer group until ctx ends.
	// Every partition is consumed concurrently. It returns nil when ctx ends.
	Consume(ctx context.Context, topic, group string, opts ConsumeOptions, handler Handler) error
	// DeadLetters lists up to limit dead letters after seq.
	DeadLetters(ctx context.Context, after uint64, limit int) ([]DeadLetter, error)
	// DeleteDeadLetters removes the dead letters with the given sequence
	// numbers and returns how many it removed; unknown or already removed
	// ones are skipped. Removed dead letters are no longer listed, and the
	// sequence numbers of the others do not change.
	DeleteDeadLetters(ctx context.Context, seqs ...uint64) (int, error)
	// Lag reports the backlog of a consumer group on topic.
	Lag(ctx context.Context, topic, group string) (Lag, error)
	// Partitions is the partition count of every topic.
	Partitions() int
	// Close releases the hub's resources; consumers must have stopped.
	Close() error
}

// ErrClosed is returned by a hub used after Close.
var ErrClosed = errors.New("hub: closed")

// PartitionFor maps a key to one of n partitions with FNV-1a.
func PartitionFor(key string, n int) int {
	if n <= 1 {
		return 0
	}
	h := fnv.New32a()
	h.Write([]byte(key))
	return int(h.Sum32() % uint32(n))
}
