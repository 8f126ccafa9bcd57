package natshub

import (
	"context"
	"errors"
	"fmt"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/herald/herald/internal/hub"
)

// Header names the driver sets on stored messages.
const (
	hdrKey      = "Herald-Key"
	hdrTopic    = "Herald-Topic"
	hdrID       = "Herald-Id"
	hdrReason   = "Herald-Reason"
	hdrAttempts = "Herald-Attempts"
	hdrTime     = "Herald-Time"
	hdrOrigin   = "Herald-Origin" // <stream>:<sequence> of a dead letter's original
	hdrGroup    = "Herald-Group"  // the group that dead-lettered a message
)

// Publish stores msgs on topic and returns when the server has acknowledged
// every one. Messages are sent without waiting for each other; a Message.ID
// becomes the Nats-Msg-Id so the server drops a re-publish within DupWindow.
// On error it says how many messages were not confirmed; publishing them
// all again is safe when they carry IDs.
func (h *Hub) Publish(ctx context.Context, topicName string, msgs ...hub.Message) error {
	t, err := h.topic(ctx, topicName)
	if err != nil {
		return err
	}
	futures := make([]jetstream.PubAckFuture, 0, len(msgs))
	var (
		stored   int
		failed   int
		firstErr error
		waited   int // futures[:waited] are resolved
	)
	fail := func(err error) {
		failed++
		if firstErr == nil {
			firstErr = err
		}
	}
	// await resolves futures[waited]; false means ctx ended first.
	await := func() bool {
		select {
		case <-futures[waited].Ok():
			stored++
		case err := <-futures[waited].Err():
			fail(err)
		case <-ctx.Done():
			return false
		}
		waited++
		return true
	}
	for i := range msgs {
		m := &nats.Msg{
			Subject: t.subjects[hub.PartitionFor(msgs[i].Key, len(t.subjects))],
			Data:    msgs[i].Data,
			Header:  make(nats.Header, 2),
		}
		if msgs[i].Key != "" {
			m.Header[hdrKey] = []string{msgs[i].Key}
		}
		if msgs[i].ID != "" {
			m.Header[jetstream.MsgIDHeader] = []string{msgs[i].ID}
		}
		for {
			f, err := h.js.PublishMsgAsync(m)
			if err == nil {
				futures = append(futures, f)
				break
			}
			if !errors.Is(err, jetstream.ErrTooManyStalledMsgs) {
				fail(fmt.Errorf("message %d: %w", i, err))
				break
			}
			// The connection has too many publishes in flight: wait for one
			// of ours, or let other publishers' acks come in, and retry.
			if ctx.Err() != nil {
				return h.interrupted(ctx, topicName, stored, len(msgs))
			}
			if waited < len(futures) && !await() {
				return h.interrupted(ctx, topicName, stored, len(msgs))
			}
		}
	}
	for waited < len(futures) {
		if !await() {
			return h.interrupted(ctx, topicName, stored, len(msgs))
		}
	}
	if failed > 0 {
		return fmt.Errorf("natshub: %d of %d messages not stored on %s: %w", failed, len(msgs), topicName, firstErr)
	}
	return nil
}

// interrupted is the error of a Publish whose ctx ended before every
// acknowledgement came.
func (h *Hub) interrupted(ctx context.Context, topic string, stored, total int) error {
	return fmt.Errorf("natshub: publish to %s interrupted, %d of %d messages not confirmed (publish them again): %w",
		topic, total-stored, total, ctx.Err())
}
