package kafkahub

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/herald/herald/internal/hub"
)

// Record header names the driver sets. Kafka header names are free-form;
// these are lower-case with a herald- prefix so they never look like the
// CloudEvents binding's ce_ headers (a payload is opaque to the hub).
const (
	hdrID        = "herald-id"         // Message.ID
	hdrAttempts  = "herald-attempts"   // deliveries before this copy (Retry, AckWait)
	hdrNotBefore = "herald-not-before" // RFC 3339 time a retried copy waits for
	hdrOrigin    = "herald-origin"     // <topic>/<partition>@<offset> of the first record
	hdrTopic     = "herald-topic"      // dead letters: the hub topic
	hdrGroup     = "herald-group"      // dead letters: the hub group
	hdrKey       = "herald-key"        // dead letters: Message.Key (also the record key)
	hdrReason    = "herald-reason"     // dead letters: why
	hdrTime      = "herald-time"       // dead letters: when, RFC 3339
	hdrRemoves   = "herald-removes"    // dead-letter removals: the seqs removed, comma-separated
)

// Publish stores msgs on topic and returns when the brokers have
// acknowledged every one (acks from all in-sync replicas, idempotent
// producer). A message's Key is the record key, which the default
// partitioner hashes (murmur2, like the Java client) to pick the partition;
// its ID travels in the herald-id header. Message.ID is not de-duplicated.
// On error it says how many messages were not confirmed; publishing them
// again is safe for consumers that tolerate a repeat.
func (h *Hub) Publish(ctx context.Context, topicName string, msgs ...hub.Message) error {
	t, err := h.topic(ctx, topicName)
	if err != nil {
		return err
	}
	if len(msgs) == 0 {
		return nil
	}
	var (
		mu       sync.Mutex
		pending  = len(msgs)
		failed   int
		firstErr error
		done     = make(chan struct{})
	)
	finish := func(_ *kgo.Record, err error) {
		mu.Lock()
		defer mu.Unlock()
		if err != nil {
			failed++
			if firstErr == nil {
				firstErr = err
			}
		}
		if pending--; pending == 0 {
			close(done)
		}
	}
	for _, m := range msgs {
		h.cl.Produce(ctx, newRecord(t, m), finish)
	}
	select {
	case <-done:
	case <-ctx.Done():
		mu.Lock()
		n := pending + failed
		mu.Unlock()
		if n > 0 {
			return fmt.Errorf("kafkahub: publish to %s interrupted, %d of %d messages not confirmed (publish them again): %w",
				t, n, len(msgs), ctx.Err())
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if failed > 0 {
		if h.closed.Load() {
			return fmt.Errorf("kafkahub: %d of %d messages not stored on %s: %w", failed, len(msgs), t, hub.ErrClosed)
		}
		return fmt.Errorf("kafkahub: %d of %d messages not stored on %s: %w", failed, len(msgs), t, firstErr)
	}
	return nil
}

// newRecord is the record of a published message.
func newRecord(topic string, m hub.Message) *kgo.Record {
	r := &kgo.Record{Topic: topic, Value: m.Data}
	if m.Key != "" {
		r.Key = []byte(m.Key)
	}
	if m.ID != "" {
		r.Headers = []kgo.RecordHeader{{Key: hdrID, Value: []byte(m.ID)}}
	}
	return r
}

// retryRecord is the copy of a delivered record that Retry and AckWait
// publish: same topic, key, value and ID, with the attempts made so far and,
// for a delayed retry, the time before which it must not be handed out.
func retryRecord(d *delivery, attempts int, notBefore time.Time) *kgo.Record {
	r := newRecord(d.rec.Topic, d.m)
	r.Headers = append(r.Headers,
		kgo.RecordHeader{Key: hdrAttempts, Value: []byte(strconv.Itoa(attempts))},
		kgo.RecordHeader{Key: hdrOrigin, Value: []byte(d.origin)},
	)
	if !notBefore.IsZero() {
		r.Headers = append(r.Headers, kgo.RecordHeader{Key: hdrNotBefore, Value: []byte(notBefore.UTC().Format(time.RFC3339Nano))})
	}
	return r
}
