package natshub

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/herald/herald/internal/hub"
)

// jsErrWQConsumerNotUnique is the server's error code for a second consumer
// on the same subject of a work-queue stream.
const jsErrWQConsumerNotUnique jetstream.ErrorCode = 10100

// drainTimeout bounds how long a stopping Consume waits for the client to
// hand back the messages it had buffered.
const drainTimeout = 10 * time.Second

// Consume runs handler over topic as group until ctx ends, one batcher
// goroutine per partition. Each partition is a durable pull consumer named
// <group>-<partition>; several Consume calls with the same group, in this or
// other processes, share the messages.
//
// A batch is the first message waiting plus whatever else the client has
// already buffered, up to opts.BatchSize. A message delivered more than
// opts.MaxAttempts times is dead-lettered without calling handler. handler
// receives ctx: when ctx ends, Consume stops fetching, waits for the handler
// calls in progress to return, hands the messages it had buffered back to the
// server for immediate redelivery (servers before 2.11 redeliver them after
// AckWait instead) and returns nil. Deliveries the handler left unsettled
// come back after AckWait. Consume returns an error when it cannot start or
// when a partition's consumer is deleted or the connection closes under it.
func (h *Hub) Consume(ctx context.Context, topicName, group string, opts hub.ConsumeOptions, handler hub.Handler) error {
	opts = opts.WithDefaults()
	if handler == nil {
		return errors.New("natshub: Consume needs a handler")
	}
	if !validName.MatchString(group) {
		return fmt.Errorf("natshub: invalid group %q: use letters, digits, '_' and '-'", group)
	}
	t, err := h.topic(ctx, topicName)
	if err != nil {
		if ctx.Err() != nil && !errors.Is(err, hub.ErrClosed) {
			return nil
		}
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var fatal fatalError
	fatal.cancel = cancel

	parts := make([]*partition, 0, len(t.subjects))
	defer func() {
		for _, p := range parts {
			p.stopFetching()
		}
	}()
	for p := range t.subjects {
		pc, err := h.startPartition(ctx, t, group, p, opts, fatal.set)
		if err != nil {
			if ctx.Err() != nil {
				return nil // ended while starting: nothing was handed out
			}
			return err
		}
		parts = append(parts, pc)
	}
	h.log.Debug("consuming", "topic", t.name, "group", group, "partitions", len(parts),
		"batch", opts.BatchSize, "ack_wait", opts.AckWait, "max_attempts", opts.MaxAttempts)

	var wg sync.WaitGroup
	for _, p := range parts {
		wg.Go(func() { p.run(ctx, handler) })
	}
	<-ctx.Done()
	wg.Wait() // handler calls in progress finish
	for _, p := range parts {
		p.stopFetching()
	}
	parts = nil
	return fatal.get()
}

// fatalError keeps the first error that ends a Consume early.
type fatalError struct {
	mu     sync.Mutex
	err    error
	cancel context.CancelFunc
}

func (f *fatalError) set(err error) {
	f.mu.Lock()
	if f.err == nil {
		f.err = err
	}
	f.mu.Unlock()
	f.cancel()
}

func (f *fatalError) get() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.err
}

// partition is one partition of a running Consume.
type partition struct {
	h       *Hub
	topic   *topic
	group   string
	index   int
	opts    hub.ConsumeOptions
	msgs    chan jetstream.Msg // filled by the client's callback, read by run
	stop    chan struct{}      // closed when fetching stops
	cc      jetstream.ConsumeContext
	stopped sync.Once

	leftMu sync.Mutex
	left   []jetstream.Msg // received while stopping
}

// startPartition creates or updates the partition's durable consumer and
// starts fetching into the partition's buffer.
func (h *Hub) startPartition(ctx context.Context, t *topic, group string, p int, opts hub.ConsumeOptions,
	fatal func(error)) (*partition, error) {
	name := group + "-" + strconv.Itoa(p)
	cons, err := h.js.CreateOrUpdateConsumer(ctx, t.stream, jetstream.ConsumerConfig{
		Durable:       name,
		Description:   "herald hub group " + group + " partition " + strconv.Itoa(p),
		FilterSubject: t.subjects[p],
		DeliverPolicy: jetstream.DeliverAllPolicy,
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       opts.AckWait,
		MaxDeliver:    -1, // unlimited: the driver enforces MaxAttempts itself
		MaxAckPending: h.opts.MaxAckPending,
	})
	if err != nil {
		return nil, h.consumerError(ctx, t, group, name, err)
	}
	prefetch := min(2*opts.BatchSize, h.opts.MaxAckPending)
	pc := &partition{
		h:     h,
		topic: t,
		group: group,
		index: p,
		opts:  opts,
		msgs:  make(chan jetstream.Msg, prefetch),
		stop:  make(chan struct{}),
	}
	log := h.log.With("topic", t.name, "group", group, "partition", p)
	pc.cc, err = cons.Consume(func(m jetstream.Msg) {
		select {
		case pc.msgs <- m:
		case <-pc.stop: // never block a stopping subscription: keep it aside
			pc.leftMu.Lock()
			pc.left = append(pc.left, m)
			pc.leftMu.Unlock()
		}
	},
		jetstream.PullMaxMessages(prefetch),
		jetstream.ConsumeErrHandler(func(_ jetstream.ConsumeContext, err error) {
			if errors.Is(err, jetstream.ErrConsumerDeleted) || errors.Is(err, jetstream.ErrConnectionClosed) ||
				errors.Is(err, jetstream.ErrBadRequest) {
				log.Error("consumer stopped", "err", err)
				fatal(fmt.Errorf("natshub: consumer %s on %s: %w", name, t.stream, err))
				return
			}
			log.Warn("consumer error", "err", err)
		}))
	if err != nil {
		return nil, fmt.Errorf("natshub: start consumer %s on %s: %w", name, t.stream, err)
	}
	return pc, nil
}

// consumerError explains a failure to create a group's consumer.
func (h *Hub) consumerError(ctx context.Context, t *topic, group, name string, err error) error {
	var apiErr *jetstream.APIError
	if !errors.As(err, &apiErr) || apiErr.ErrorCode != jsErrWQConsumerNotUnique {
		return fmt.Errorf("natshub: create consumer %s on %s: %w", name, t.stream, err)
	}
	var others []string
	if st, serr := h.js.Stream(ctx, t.stream); serr == nil {
		names := st.ConsumerNames(ctx)
		for n := range names.Name() {
			if g, _, ok := cutLast(n, "-"); ok && g != group && !slices.Contains(others, g) {
				others = append(others, g)
			}
		}
	}
	return fmt.Errorf("%w: %s is a work-queue stream consumed by group %s, so group %q cannot be added; "+
		"use the same group, delete the old one's consumers, or use RetentionLimits for several groups (%w)",
		ErrGroupConflict, t.stream, strings.Join(others, ", "), group, err)
}

// run hands batches to handler until ctx ends.
func (pc *partition) run(ctx context.Context, handler hub.Handler) {
	for {
		var first jetstream.Msg
		select {
		case <-ctx.Done():
			return
		case first = <-pc.msgs:
		}
		batch := make([]hub.Delivery, 0, min(pc.opts.BatchSize, len(pc.msgs)+1))
		batch = pc.add(ctx, batch, first)
	fill:
		for len(batch) < pc.opts.BatchSize {
			select {
			case m := <-pc.msgs:
				batch = pc.add(ctx, batch, m)
			default:
				break fill
			}
		}
		if ctx.Err() != nil {
			pc.leftMu.Lock()
			for _, d := range batch {
				pc.left = append(pc.left, d.(*delivery).msg)
			}
			pc.leftMu.Unlock()
			return
		}
		if len(batch) > 0 {
			handler(ctx, batch)
		}
	}
}

// add appends m to batch as a delivery, unless it has exhausted its attempts:
// then the hub dead-letters it itself.
func (pc *partition) add(ctx context.Context, batch []hub.Delivery, m jetstream.Msg) []hub.Delivery {
	d := &delivery{pc: pc, msg: m, attempt: 1}
	meta, err := m.Metadata()
	if err != nil {
		pc.h.log.Error("message without metadata, asking for redelivery", "subject", m.Subject(), "err", err)
		_ = m.Nak()
		return batch
	}
	d.attempt = int(meta.NumDelivered)
	d.origin = meta.Stream + ":" + strconv.FormatUint(meta.Sequence.Stream, 10)
	hdr := m.Headers()
	d.m = hub.Message{Key: hdr.Get(hdrKey), ID: hdr.Get(jetstream.MsgIDHeader), Data: m.Data()}
	if d.attempt <= pc.opts.MaxAttempts {
		return append(batch, d)
	}
	reason := fmt.Sprintf("attempts exhausted: delivered %d times without being settled "+
		"(consumer crashed, timed out or kept retrying); last attempt %d", d.attempt-1, d.attempt)
	if err := d.deadLetter(ctx, reason, d.attempt-1); err != nil {
		pc.h.log.Error("dead-lettering an exhausted message failed; it will be redelivered",
			"topic", pc.topic.name, "partition", pc.index, "origin", d.origin, "err", err)
		return batch
	}
	pc.h.log.Warn("message dead-lettered after exhausting its attempts",
		"topic", pc.topic.name, "group", pc.group, "partition", pc.index, "origin", d.origin, "attempt", d.attempt)
	if pc.opts.OnExhausted != nil {
		pc.opts.OnExhausted(ctx, d.m, reason)
	}
	return batch
}

// stopFetching stops the client's fetching and, once the server no longer
// sends to this subscription, gives back every message it still holds so the
// next consumer gets them without waiting for AckWait. On servers that
// mishandle a redelivery to a departed pull request (see cleanHandover) they
// are left to expire instead.
func (pc *partition) stopFetching() {
	pc.stopped.Do(func() {
		close(pc.stop)
		pc.cc.Drain()
		select {
		case <-pc.cc.Closed():
		case <-time.After(drainTimeout):
			pc.h.log.Warn("consumer did not drain in time; its buffered messages come back after AckWait",
				"topic", pc.topic.name, "group", pc.group, "partition", pc.index)
			return
		}
		pc.leftMu.Lock()
		left := pc.left
		pc.left = nil
		pc.leftMu.Unlock()
	drain:
		for {
			select {
			case m := <-pc.msgs:
				left = append(left, m)
			default:
				break drain
			}
		}
		if !pc.h.cleanHandover {
			return
		}
		for _, m := range left {
			_ = m.Nak()
		}
	})
}

// Lag sums, over the group's partition consumers, the messages not yet
// delivered and those delivered but not settled. A partition the group has
// never consumed counts 0.
func (h *Hub) Lag(ctx context.Context, topicName, group string) (hub.Lag, error) {
	lag := hub.Lag{Topic: topicName, Group: group}
	t, err := h.topic(ctx, topicName)
	if err != nil {
		return lag, err
	}
	for p := range t.subjects {
		c, err := h.js.Consumer(ctx, t.stream, group+"-"+strconv.Itoa(p))
		if errors.Is(err, jetstream.ErrConsumerNotFound) {
			continue
		}
		if err != nil {
			return lag, fmt.Errorf("natshub: lag of %s on %s partition %d: %w", group, t.name, p, err)
		}
		info := c.CachedInfo()
		lag.Pending += info.NumPending + uint64(info.NumAckPending)
	}
	return lag, nil
}

func cutLast(s, sep string) (before, after string, found bool) {
	if i := strings.LastIndex(s, sep); i >= 0 {
		return s[:i], s[i+len(sep):], true
	}
	return s, "", false
}
