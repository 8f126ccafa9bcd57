// Package delivery runs the channel workers: they read delivery batches from
// the hub, hand each to its channel, record every recipient's outcome in
// bulk, retry the failed part as a smaller batch with backoff (honouring a
// provider's Retry-After), and dead-letter what keeps failing. The wire form
// of a batch is defined here too.
package delivery

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"time"

	"github.com/herald/herald/internal/channel"
	"github.com/herald/herald/internal/hub"
	"github.com/herald/herald/internal/metrics"
	"github.com/herald/herald/internal/store"
)

// Group is the consumer group channel workers read batches as.
const Group = "delivery"

// Config tunes the workers.
type Config struct {
	// MaxAttempts is how often one recipient's delivery is tried before it
	// is dead-lettered.
	MaxAttempts int
	// MaxAge, when set, dead-letters a delivery that still fails this long
	// after its event was received, whatever attempts are left.
	MaxAge time.Duration
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Backoff is the delay before retrying after a failed attempt; nil
	// means the package's Backoff.
	Backoff func(attempt int) time.Duration
}

// Worker delivers batches.
type Worker struct {
	hub      hub.Hub
	store    store.Store
	channels *channel.Registry
	cfg      Config
	log      *slog.Logger
	metrics  *metrics.Metrics
}

// NewWorker returns a worker for the channels in reg.
func NewWorker(h hub.Hub, st store.Store, reg *channel.Registry, cfg Config, log *slog.Logger, m *metrics.Metrics) *Worker {
	if cfg.MaxAttempts <= 0 {
		cfg.MaxAttempts = 8
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Backoff == nil {
		cfg.Backoff = Backoff
	}
	return &Worker{hub: h, store: st, channels: reg, cfg: cfg, log: log.With("component", "delivery"), metrics: m}
}

// Run consumes delivery batches until ctx ends.
//
// The worker counts a batch's attempts itself (in the batch) and records
// the outcome when they run out. The hub also counts deliveries of one
// message (a wait for NotBefore, a timeout under load) and would dead-letter
// on its own, without the worker recording why; so the hub's limit is kept
// well above the worker's, as a backstop for a batch that keeps crashing its
// consumer.
func (w *Worker) Run(ctx context.Context, opts hub.ConsumeOptions) error {
	opts = opts.WithDefaults()
	opts.MaxAttempts = max(opts.MaxAttempts, 3*w.cfg.MaxAttempts)
	opts.OnExhausted = func(ctx context.Context, m hub.Message, reason string) {
		if b, err := Decode(m.Data); err == nil {
			w.recordDeadLettered(ctx, b, reason, 0)
		}
		if w.metrics != nil {
			w.metrics.DeadLetters.WithLabelValues(hub.TopicDeliveries).Inc()
		}
	}
	return w.hub.Consume(ctx, hub.TopicDeliveries, Group, opts, w.handle)
}

func (w *Worker) handle(ctx context.Context, batch []hub.Delivery) {
	for _, d := range batch {
		if err := w.deliverSafely(ctx, d); err != nil {
			if ctx.Err() != nil {
				return // shutting down: unsettled batches come back
			}
			w.log.Warn("delivery batch failed; it will be retried", "attempt", d.Attempt(), "err", err)
			if d.Attempt() >= w.cfg.MaxAttempts {
				reason := fmt.Sprintf("failed %d times; last error: %v", d.Attempt(), err)
				if b, err := Decode(d.Message().Data); err == nil {
					w.recordDeadLettered(ctx, b, reason, d.Attempt())
				}
				w.deadLetter(ctx, d, reason)
				continue
			}
			_ = d.Retry(w.cfg.Backoff(d.Attempt()))
		}
	}
}

// deliverSafely is deliver with a panic (in a channel, say) turned into an
// error: the batch is retried and, when it keeps panicking, dead-lettered,
// and the partition moves on. The panic is logged with the batch's event
// ids, never its content.
func (w *Worker) deliverSafely(ctx context.Context, d hub.Delivery) (err error) {
	defer func() {
		if p := recover(); p != nil {
			var ids []string
			if b, derr := Decode(d.Message().Data); derr == nil {
				for _, it := range b.Items {
					ids = append(ids, it.Event.ID)
				}
			}
			w.log.Error("delivering a batch panicked", "events", ids, "attempt", d.Attempt(), "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
			err = fmt.Errorf("panic: %v", p)
		}
	}()
	return w.deliver(ctx, d)
}

// deliver handles one batch. An error means nothing was settled and the
// whole batch should come again.
func (w *Worker) deliver(ctx context.Context, d hub.Delivery) error {
	b, err := Decode(d.Message().Data)
	if err != nil {
		w.deadLetter(ctx, d, err.Error())
		return nil
	}
	now := w.cfg.Now()
	if wait := b.NotBefore.Sub(now); wait > 0 {
		return d.Retry(wait)
	}
	if b.Attempt > w.cfg.MaxAttempts {
		return w.giveUp(ctx, d, b, now, fmt.Sprintf("gave up after %d attempts; last error: %s", b.Attempt-1, b.LastError))
	}
	if w.cfg.MaxAge > 0 && b.Attempt > 1 {
		if age := now.Sub(b.oldest()); age > w.cfg.MaxAge {
			return w.giveUp(ctx, d, b, now, fmt.Sprintf("gave up: still failing %s after the event was received (max age %s) after %d attempts; last error: %s",
				age.Round(time.Second), w.cfg.MaxAge, b.Attempt-1, b.LastError))
		}
	}
	ch, ok := w.channels.Get(b.Channel)
	if !ok {
		return w.record(ctx, d, notConfigured(b, now))
	}
	var jobs []channel.Job
	var notes []string // the item note of each job
	var outcomes []store.DeliveryRecord
	for _, it := range b.Items {
		// A batch published twice (a replayed plan or broadcast chunk)
		// must not send twice: skip people whose outcome is already final.
		done, err := w.store.FinalOutcomes(ctx, it.Event.ID, b.Channel, it.Users)
		if err != nil {
			return fmt.Errorf("read recorded outcomes: %w", err)
		}
		for _, u := range it.Users {
			if done[u] {
				continue
			}
			if it.Event.Notification.Expired(now) {
				outcomes = append(outcomes, store.DeliveryRecord{EventID: it.Event.ID, UserID: u, Channel: b.Channel,
					Outcome: store.Expired, Reason: "expired before delivery", Attempts: b.Attempt, At: now})
				continue
			}
			jobs = append(jobs, channel.Job{Event: it.Event, UserID: u, Attempt: b.Attempt})
			notes = append(notes, it.Note)
		}
	}
	results := ch.Deliver(ctx, jobs)
	if err := ctx.Err(); err != nil {
		return err
	}
	done := w.cfg.Now()
	retry := Batch{Channel: b.Channel, Attempt: b.Attempt + 1}
	// later holds jobs the channel postponed for its own rate limits: they
	// were not attempted, so they keep their attempt number.
	later := Batch{Channel: b.Channel, Attempt: b.Attempt, LastError: b.LastError}
	var wait, laterWait time.Duration
	var lastErr error
	for i, j := range jobs {
		rec := store.DeliveryRecord{EventID: j.Event.ID, UserID: j.UserID, Channel: b.Channel, Attempts: b.Attempt, At: done}
		err := results[i].Err
		var ra *channel.RetryAfterError
		var pp *channel.PostponedError
		switch {
		case errors.As(err, &pp):
			rec.Outcome, rec.Reason = store.Deferred, pp.Reason
			laterWait = max(laterWait, pp.After)
			later.add(j, notes[i])
		case err == nil:
			rec.Outcome, rec.Reason = store.Delivered, notes[i]
			if w.metrics != nil {
				w.metrics.EndToEnd.WithLabelValues(b.Channel).Observe(done.Sub(j.Event.ReceivedAt).Seconds())
			}
		case errors.Is(err, channel.ErrNoAddress):
			rec.Outcome, rec.Reason = store.Unreachable, err.Error()
		case channel.IsPermanent(err):
			rec.Outcome, rec.Reason = store.Failed, err.Error()
		default:
			rec.Outcome, rec.Reason = store.Retrying, err.Error()
			if errors.As(err, &ra) && ra.After > wait {
				wait = ra.After
			}
			lastErr = err
			retry.add(j, notes[i])
		}
		outcomes = append(outcomes, rec)
	}
	if len(later.Items) > 0 {
		later.NotBefore = done.Add(laterWait)
		msgs, err := Encode(later)
		if err != nil {
			return err
		}
		if err := w.hub.Publish(ctx, hub.TopicDeliveries, msgs...); err != nil {
			return fmt.Errorf("publish postponed batch: %w", err)
		}
	}
	if len(retry.Items) > 0 {
		if wait == 0 {
			wait = w.cfg.Backoff(b.Attempt)
		}
		retry.NotBefore = done.Add(wait)
		retry.LastError = lastErr.Error()
		msgs, err := Encode(retry)
		if err != nil {
			return err
		}
		if err := w.hub.Publish(ctx, hub.TopicDeliveries, msgs...); err != nil {
			return fmt.Errorf("publish retry batch: %w", err)
		}
	}
	return w.record(ctx, d, outcomes)
}

// record stores outcomes, then acks the batch.
func (w *Worker) record(ctx context.Context, d hub.Delivery, outcomes []store.DeliveryRecord) error {
	if err := w.store.RecordOutcomes(ctx, outcomes); err != nil {
		return fmt.Errorf("record outcomes: %w", err)
	}
	if w.metrics != nil {
		w.metrics.CountOutcomes(outcomes)
	}
	return d.Ack()
}

// giveUp records a batch whose attempts are spent as dead-lettered and moves
// it to the dead-letter place.
func (w *Worker) giveUp(ctx context.Context, d hub.Delivery, b Batch, now time.Time, reason string) error {
	outcomes := deadLettered(b, nil, reason, b.Attempt-1, now)
	if err := w.store.RecordOutcomes(ctx, outcomes); err != nil {
		return fmt.Errorf("record outcomes: %w", err)
	}
	if w.metrics != nil {
		w.metrics.CountOutcomes(outcomes)
	}
	w.deadLetter(ctx, d, reason)
	return nil
}

// recordDeadLettered records dead_lettered for the people of a batch that
// was dead-lettered for failing as a whole (the hub's attempts ran out:
// the worker kept failing or crashing on it), so that the status does not
// keep showing them as retrying. People whose outcome is already final keep
// it. It is best effort: the dead letter is the record that matters, and
// replaying it records the outcomes again.
func (w *Worker) recordDeadLettered(ctx context.Context, b Batch, reason string, hubAttempts int) {
	done := map[string]map[string]bool{}
	for _, it := range b.Items {
		final, err := w.store.FinalOutcomes(ctx, it.Event.ID, b.Channel, it.Users)
		if err != nil {
			w.log.Warn("recording a dead-lettered batch's outcomes failed", "event", it.Event.ID, "channel", b.Channel, "err", err)
			return
		}
		done[it.Event.ID] = final
	}
	outcomes := deadLettered(b, done, reason, max(b.Attempt, hubAttempts), w.cfg.Now())
	if err := w.store.RecordOutcomes(ctx, outcomes); err != nil {
		w.log.Warn("recording a dead-lettered batch's outcomes failed", "channel", b.Channel, "err", err)
		return
	}
	if w.metrics != nil {
		w.metrics.CountOutcomes(outcomes)
	}
}

// deadLettered lists dead_lettered outcomes for the people of b, except
// those done[event][user].
func deadLettered(b Batch, done map[string]map[string]bool, reason string, attempts int, now time.Time) []store.DeliveryRecord {
	var outcomes []store.DeliveryRecord
	for _, it := range b.Items {
		for _, u := range it.Users {
			if done[it.Event.ID][u] {
				continue
			}
			outcomes = append(outcomes, store.DeliveryRecord{EventID: it.Event.ID, UserID: u, Channel: b.Channel,
				Outcome: store.DeadLettered, Reason: reason, Attempts: attempts, At: now})
		}
	}
	return outcomes
}

func (w *Worker) deadLetter(ctx context.Context, d hub.Delivery, reason string) {
	w.log.Error("delivery batch dead-lettered", "partition", d.Partition(), "reason", reason)
	if err := d.DeadLetter(ctx, reason); err != nil {
		w.log.Error("dead-lettering failed; the batch will be redelivered", "err", err)
		return
	}
	if w.metrics != nil {
		w.metrics.DeadLetters.WithLabelValues(hub.TopicDeliveries).Inc()
	}
}

func notConfigured(b Batch, now time.Time) []store.DeliveryRecord {
	var out []store.DeliveryRecord
	for _, it := range b.Items {
		for _, u := range it.Users {
			out = append(out, store.DeliveryRecord{EventID: it.Event.ID, UserID: u, Channel: b.Channel,
				Outcome: store.NotConfigured, Reason: "this herald process has no " + b.Channel + " channel configured", Attempts: b.Attempt, At: now})
		}
	}
	return out
}

// add appends one job to a retry batch, grouping users of the same event
// with the same text (templates render it per person) and note.
func (b *Batch) add(j channel.Job, note string) {
	if n := len(b.Items); n > 0 && b.Items[n-1].Matches(j.Event, note) {
		b.Items[n-1].Users = append(b.Items[n-1].Users, j.UserID)
		return
	}
	b.Items = append(b.Items, Item{Event: j.Event, Users: []string{j.UserID}, Note: note})
}

// oldest is when the batch's oldest event was received.
func (b Batch) oldest() time.Time {
	var t time.Time
	for _, it := range b.Items {
		if t.IsZero() || it.Event.ReceivedAt.Before(t) {
			t = it.Event.ReceivedAt
		}
	}
	return t
}
