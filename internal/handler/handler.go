// Package handler plans every event's deliveries: it reads events from the
// hub, loads the recipients' preferences in one batch (creating the default
// record for anyone seen for the first time), decides each channel per
// person, and records the plan, the skips and the inbox notifications in one
// store transaction. The inbox lives in herald's own store, so it is
// delivered right there; every other channel gets a delivery batch on the
// hub for the channel workers. Events are acked only after both are durable.
//
// Timing (timers.go) holds work back in durable store timers: events whose
// deliverAt is ahead, notifications held for a digest or for escalation to
// devices; the timer loop (RunTimers, or Tick with a test's clock) does it
// when due. Notification text comes from templates per person when
// configured.
package handler

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"strings"
	"time"

	"github.com/herald/herald/internal/channel"
	"github.com/herald/herald/internal/delivery"
	"github.com/herald/herald/internal/event"
	"github.com/herald/herald/internal/hub"
	"github.com/herald/herald/internal/live"
	"github.com/herald/herald/internal/metrics"
	"github.com/herald/herald/internal/prefs"
	"github.com/herald/herald/internal/store"
	"github.com/herald/herald/internal/templates"
)

// Group is the consumer group the handler reads events as.
const Group = "handler"

// Config tunes the handler.
type Config struct {
	// MaxAttempts is how often a batch of events is tried before each
	// event in it is dead-lettered with the last error.
	MaxAttempts int
	// Configured reports whether herald can deliver over a channel; a
	// channel that is allowed but not configured is recorded as such.
	Configured func(channel string) bool
	// Addresser returns the channel's address book when its addresses live
	// in the store (conversations, devices): people without one are
	// recorded unreachable at planning instead of being queued. nil, or
	// false, means the channel's worker finds out.
	Addresser func(channel string) (channel.Addresser, bool)
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// BroadcastChunk is how many candidate people a broadcast visits per
	// store transaction; 0 means DefaultBroadcastChunk.
	BroadcastChunk int
	// Digests maps a category to its digest window: within the window,
	// a person's notifications of the category reach the interrupting
	// channels as one digest when it ends (the inbox gets each at once).
	Digests map[string]time.Duration
	// Escalations maps a category to how long its notifications wait,
	// unread in the inbox, before they are sent to the person's devices;
	// a notification's own escalateAfter wins.
	Escalations map[string]time.Duration
	// Templates renders notification text per person; nil means each
	// notification's own text.
	Templates *templates.Set
	// TimerEvery is how often RunTimers looks for due timers; 0 means
	// DefaultTimerEvery.
	TimerEvery time.Duration
}

// Handler plans deliveries.
type Handler struct {
	hub     hub.Hub
	store   store.Store
	broker  *live.Broker
	bc      broadcasts
	cfg     Config
	log     *slog.Logger
	metrics *metrics.Metrics
}

// New returns a handler that announces new inbox notifications on broker
// (which may be nil).
func New(h hub.Hub, st store.Store, broker *live.Broker, cfg Config, log *slog.Logger, m *metrics.Metrics) *Handler {
	if cfg.MaxAttempts <= 0 {
		cfg.MaxAttempts = 8
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.BroadcastChunk <= 0 {
		cfg.BroadcastChunk = DefaultBroadcastChunk
	}
	if cfg.Configured == nil {
		cfg.Configured = func(string) bool { return false }
	}
	if cfg.TimerEvery <= 0 {
		cfg.TimerEvery = DefaultTimerEvery
	}
	return &Handler{hub: h, store: st, broker: broker, cfg: cfg, log: log.With("component", "handler"), metrics: m,
		bc: broadcasts{wake: make(chan struct{}, 1), running: map[string]bool{}}}
}

// Run consumes events until ctx ends.
func (h *Handler) Run(ctx context.Context, opts hub.ConsumeOptions) error {
	requests := make(chan planRequest)
	planned := make(chan struct{})
	go func() {
		defer close(planned)
		h.planGroups(requests)
	}()
	err := h.hub.Consume(ctx, hub.TopicEvents, Group, opts, func(ctx context.Context, batch []hub.Delivery) {
		h.handle(ctx, batch, requests)
	})
	close(requests)
	<-planned
	return err
}

// planRequest is one partition's events waiting to be planned.
type planRequest struct {
	events []event.Event
	done   chan error
}

// maxGroup bounds the events planned in one store transaction.
const maxGroup = 2000

// planGroups plans the events of every partition waiting at the same time
// together: the store has one writer, and one commit for many partitions'
// batches costs little more than one for a single batch (group commit).
func (h *Handler) planGroups(requests <-chan planRequest) {
	for first := range requests {
		group := []planRequest{first}
		n := len(first.events)
	gather:
		for n < maxGroup {
			select {
			case r, ok := <-requests:
				if !ok {
					break gather
				}
				group = append(group, r)
				n += len(r.events)
			default:
				break gather
			}
		}
		events := first.events
		if len(group) > 1 {
			events = make([]event.Event, 0, n)
			for _, r := range group {
				events = append(events, r.events...)
			}
		}
		// A group under way is finished even when shutdown starts.
		err := h.planSafely(context.Background(), events)
		for _, r := range group {
			r.done <- err
		}
	}
}

// handle plans one micro-batch of events.
func (h *Handler) handle(ctx context.Context, batch []hub.Delivery, planner chan<- planRequest) {
	events := make([]event.Event, 0, len(batch))
	ok := make([]hub.Delivery, 0, len(batch))
	for _, d := range batch {
		var ev event.Event
		if err := json.Unmarshal(d.Message().Data, &ev); err != nil || ev.ID == "" {
			reason := "undecodable event"
			if err != nil {
				reason += ": " + err.Error()
			}
			h.deadLetter(ctx, d, reason)
			continue
		}
		events = append(events, ev)
		ok = append(ok, d)
	}
	if len(events) == 0 {
		return
	}
	req := planRequest{events: events, done: make(chan error, 1)}
	planner <- req
	err := <-req.done
	if err == nil {
		for _, d := range ok {
			_ = d.Ack()
		}
		return
	}
	var pe *panicError
	if errors.As(err, &pe) && len(ok) > 1 {
		// Find the event that panics: plan each alone, so the others go on.
		for _, d := range ok {
			h.handle(ctx, []hub.Delivery{d}, planner)
		}
		return
	}
	if errors.As(err, &pe) {
		h.log.Error("planning an event panicked", "event", events[0].ID, "attempt", ok[0].Attempt(), "panic", pe.value)
	}
	for _, d := range ok {
		if d.Attempt() >= h.cfg.MaxAttempts {
			h.deadLetter(ctx, d, fmt.Sprintf("planning failed %d times; last error: %v", d.Attempt(), err))
			continue
		}
		_ = d.Retry(delivery.Backoff(d.Attempt()))
	}
	h.log.Warn("planning failed; events will be retried", "events", len(ok), "err", err)
}

// reach says who has an address on the channels whose addresses live in
// the store.
type reach struct {
	has    map[string]map[string]bool // channel -> people with an address
	reason map[string]string          // channel -> why the others have none
}

// none reports whether user is known to have no address on channel.
func (r reach) none(channel, user string) bool {
	m, ok := r.has[channel]
	return ok && !m[user]
}

// reachability asks each configured channel with an address book who of
// users it can reach, in one batch per channel.
func (h *Handler) reachability(ctx context.Context, users []string) (reach, error) {
	r := reach{has: map[string]map[string]bool{}, reason: map[string]string{}}
	if h.cfg.Addresser == nil || len(users) == 0 {
		return r, nil
	}
	for _, ch := range prefs.Channels {
		a, ok := h.cfg.Addresser(ch)
		if !ok || !h.cfg.Configured(ch) {
			continue
		}
		has, why, err := a.Reachable(ctx, users)
		if err != nil {
			return r, fmt.Errorf("who has an address on %s: %w", ch, err)
		}
		r.has[ch], r.reason[ch] = has, why
	}
	return r, nil
}

// panicError is a panic while planning, turned into an error.
type panicError struct {
	value string
	stack string
}

func (e *panicError) Error() string { return "panic: " + e.value }

// planSafely is plan with a panic turned into a *panicError, so that a
// poison event cannot stop the process; its stack is logged, never the
// events' content.
func (h *Handler) planSafely(ctx context.Context, events []event.Event) (err error) {
	defer func() {
		if p := recover(); p != nil {
			pe := &panicError{value: fmt.Sprint(p), stack: string(debug.Stack())}
			h.log.Error("planning panicked", "events", len(events), "panic", pe.value, "stack", pe.stack)
			err = pe
		}
	}()
	return h.plan(ctx, events)
}

func (h *Handler) deadLetter(ctx context.Context, d hub.Delivery, reason string) {
	h.log.Error("event dead-lettered", "partition", d.Partition(), "attempt", d.Attempt(), "reason", reason)
	if err := d.DeadLetter(ctx, reason); err != nil {
		h.log.Error("dead-lettering failed; the event will be redelivered", "err", err)
		return
	}
	if h.metrics != nil {
		h.metrics.DeadLetters.WithLabelValues(hub.TopicEvents).Inc()
	}
}

// plan decides and records every event's deliveries and publishes the
// batches. It is idempotent: planning the same events again records nothing
// new (the event row guards the inbox), adds no timer that exists, and
// publishes batches whose effects are idempotent. Broadcasts are only
// started here; the broadcast runner delivers them. Events whose deliverAt
// is still ahead are kept in timers instead (see RunTimers).
func (h *Handler) plan(ctx context.Context, events []event.Event) error {
	return h.planAt(ctx, events, h.cfg.Now())
}

func (h *Handler) planAt(ctx context.Context, events []event.Event, now time.Time) error {
	var direct []event.Event
	var ids []string
	var later []store.Timer
	seen := map[string]bool{}
	for _, ev := range events {
		if ev.Notification.Scheduled(now) {
			t, err := deliverTimer(ev)
			if err != nil {
				return err
			}
			later = append(later, t)
			continue
		}
		if ev.Audience.Broadcast() {
			created, err := h.store.StartBroadcast(ctx, ev, now)
			if err != nil {
				return fmt.Errorf("start broadcast %s: %w", ev.ID, err)
			}
			if created {
				h.log.Info("broadcast started", "event", ev.ID, "topics", ev.Audience.Topics, "all", ev.Audience.All)
			}
			h.wakeBroadcasts()
			continue
		}
		direct = append(direct, ev)
		for _, u := range ev.Audience.Recipients() {
			if !seen[u] {
				seen[u] = true
				ids = append(ids, u)
			}
		}
	}
	if len(later) > 0 {
		if err := h.store.AddTimers(ctx, later); err != nil {
			return fmt.Errorf("schedule %d events: %w", len(later), err)
		}
	}
	if len(direct) == 0 {
		return nil
	}
	pref, err := h.store.LoadPreferences(ctx, ids)
	if err != nil {
		return fmt.Errorf("load preferences: %w", err)
	}
	reach, err := h.reachability(ctx, ids)
	if err != nil {
		return err
	}
	plans := make([]store.Plan, 0, len(direct))
	var outcomes []store.DeliveryRecord
	var held heldWork
	q := newQueue()
	for _, ev := range direct {
		recipients := ev.Audience.Recipients()
		p := store.Plan{Event: ev, Targeted: len(recipients) * len(prefs.Channels), PlannedAt: now}
		hold := h.holdsFor(ev)
		r := h.renderer(ev)
		for _, u := range recipients {
			pev := r.personal(pref[u], u)
			var digest, escalate []string
			for _, v := range h.decide(pref[u], pev, now, hold) {
				rec := store.DeliveryRecord{EventID: ev.ID, UserID: u, Channel: v.channel, Outcome: v.outcome, Reason: v.reason, Attempts: 1, At: now}
				switch {
				case v.inbox:
					p.Inbox = append(p.Inbox, inboxItem(pev, u, now))
				case v.queue && reach.none(v.channel, u):
					rec.Outcome, rec.Reason = store.Unreachable, reach.reason[v.channel]
				case v.queue:
					q.add(pev, v.channel, u, v.notBefore)
					if v.outcome == "" {
						continue // pending: the channel worker records the outcome
					}
				case v.digest:
					digest = append(digest, v.channel)
				case v.escalate:
					escalate = append(escalate, v.channel)
				}
				p.Outcomes = append(p.Outcomes, rec)
			}
			if err := held.add(pev, u, now, hold, digest, escalate); err != nil {
				return err
			}
		}
		outcomes = append(outcomes, p.Outcomes...)
		plans = append(plans, p)
	}
	added, err := h.store.RecordPlans(ctx, plans)
	if err != nil {
		return fmt.Errorf("record plans: %w", err)
	}
	if err := held.store(ctx, h.store); err != nil {
		return err
	}
	if err := q.publish(ctx, h.hub); err != nil {
		return err
	}
	if h.broker != nil {
		h.broker.Publish(added)
	}
	if h.metrics != nil {
		h.metrics.CountOutcomes(outcomes)
		if len(added) > 0 {
			received := make(map[string]time.Time, len(direct))
			for _, ev := range direct {
				received[ev.ID] = ev.ReceivedAt
			}
			done := h.cfg.Now()
			for _, it := range added {
				h.metrics.EndToEnd.WithLabelValues(prefs.Inbox).Observe(done.Sub(received[it.EventID]).Seconds())
			}
		}
	}
	return nil
}

// verdict is what happens on one channel for one person.
type verdict struct {
	channel string
	// outcome is decided now, or "" while a channel worker decides it.
	outcome store.Outcome
	reason  string
	// inbox: add the notification to the person's inbox now.
	inbox bool
	// queue: hand the delivery to the channel's worker, no sooner than
	// notBefore (the end of the person's quiet hours).
	queue     bool
	notBefore time.Time
	// digest: hold the delivery for the category's digest.
	digest bool
	// escalate: hold the delivery until the escalation timer finds the
	// notification unread in the inbox.
	escalate bool
}

// holds are the timing rules that may hold an event's deliveries back:
// a digest window for its category and an escalation delay. The zero
// value holds nothing.
type holds struct {
	digest   time.Duration
	escalate time.Duration
}

// holdsFor returns the holds of a direct event. Urgent notifications are
// never digested, and a notification that escalates is not digested either.
func (h *Handler) holdsFor(ev event.Event) holds {
	var hd holds
	n := ev.Notification
	hd.escalate = time.Duration(n.EscalateAfter)
	if hd.escalate == 0 && n.Category != "" {
		hd.escalate = h.cfg.Escalations[n.Category]
	}
	if hd.escalate == 0 && n.Urgency != event.UrgencyHigh && n.Category != "" {
		hd.digest = h.cfg.Digests[n.Category]
	}
	return hd
}

// decide applies a person's preferences to an event, channel by channel:
// switched-off channels and categories are skipped, stale news expires, the
// inbox is delivered at once, other channels are held for a digest or an
// escalation (per hold), queued for their workers (after the person's quiet
// hours, unless the person lets this urgent notification through) or
// recorded as not configured.
func (h *Handler) decide(p prefs.Preferences, ev event.Event, now time.Time, hold holds) []verdict {
	expired := ev.Notification.Expired(now)
	quietUntil := p.QuietUntil(now)
	if !quietUntil.IsZero() && p.BreaksQuietHours(ev.Notification) {
		quietUntil = time.Time{}
	}
	inboxDelivered := false
	out := make([]verdict, 0, len(prefs.Channels))
	for _, d := range p.Decide(ev.Notification) {
		v := verdict{channel: d.Channel}
		switch {
		case d.Skip != "":
			v.outcome, v.reason = store.SkippedPreference, d.Skip
		case expired:
			v.outcome, v.reason = store.Expired, "expired before delivery"
		case d.Channel == prefs.Inbox:
			v.outcome, v.inbox = store.Delivered, true
			inboxDelivered = true
		case !h.cfg.Configured(d.Channel):
			v.outcome, v.reason = store.NotConfigured, "herald has no "+d.Channel+" channel configured"
		case hold.escalate > 0 && inboxDelivered && escalates(d.Channel):
			// Escalation needs the inbox's read state; without the inbox
			// the devices get the notification at once.
			v.escalate = true
			v.outcome, v.reason = store.Deferred, "sent to devices only if unread in the inbox after "+formatDuration(hold.escalate)
		case hold.digest > 0 && prefs.Interrupting(d.Channel):
			v.digest = true
			v.outcome, v.reason = store.Deferred, "held for the "+ev.Notification.Category+" digest (every "+formatDuration(hold.digest)+")"
		case prefs.Interrupting(d.Channel) && !quietUntil.IsZero():
			v.queue, v.notBefore = true, quietUntil
			v.outcome, v.reason = store.Deferred, "quiet hours until "+quietUntil.Format(time.RFC3339)
		default:
			v.queue = true
		}
		out = append(out, v)
	}
	return out
}

// escalates reports whether a channel reaches the person's devices, where
// unread notifications escalate to.
func escalates(channel string) bool { return channel == prefs.Mobile || channel == prefs.WebPush }

// formatDuration writes d without zero units: 30m, 1h, 1h30m.
func formatDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = s[:len(s)-2]
	}
	if strings.HasSuffix(s, "h0m") {
		s = s[:len(s)-2]
	}
	return s
}

// queue gathers delivery batches per channel and start time.
type queue struct {
	batches map[queueKey]*delivery.Batch
	order   []queueKey
	// items finds a batch's item for an event, text and note when it is
	// not the last one (templates render text per person, and people of
	// different locales alternate).
	items map[itemKey]int
}

type queueKey struct {
	channel   string
	notBefore time.Time
}

// itemKey is a batch and what delivery.Item.Matches compares.
type itemKey struct {
	batch                         queueKey
	event, title, message, locale string
	note                          string
}

func newQueue() *queue {
	return &queue{batches: map[queueKey]*delivery.Batch{}, items: map[itemKey]int{}}
}

// add queues ev for user on channel.
func (q *queue) add(ev event.Event, channel, user string, notBefore time.Time) {
	q.addNoted(ev, channel, user, notBefore, "")
}

// addNoted queues ev for user on channel with a note that the channel
// worker records as the reason of a successful delivery.
func (q *queue) addNoted(ev event.Event, channel, user string, notBefore time.Time, note string) {
	k := queueKey{channel, notBefore}
	b := q.batches[k]
	if b == nil {
		b = &delivery.Batch{Channel: channel, Attempt: 1, NotBefore: notBefore}
		q.batches[k] = b
		q.order = append(q.order, k)
	}
	if n := len(b.Items); n > 0 && b.Items[n-1].Matches(ev, note) {
		b.Items[n-1].Users = append(b.Items[n-1].Users, user)
		return
	}
	n := ev.Notification
	ik := itemKey{batch: k, event: ev.ID, title: n.Title, message: n.Message, locale: n.Locale, note: note}
	if i, ok := q.items[ik]; ok {
		b.Items[i].Users = append(b.Items[i].Users, user)
		return
	}
	q.items[ik] = len(b.Items)
	body := ev
	body.Audience = event.Audience{}
	b.Items = append(b.Items, delivery.Item{Event: body, Users: []string{user}, Note: note})
}

// publish stores every queued batch on the hub.
func (q *queue) publish(ctx context.Context, h hub.Hub) error {
	var msgs []hub.Message
	for _, k := range q.order {
		m, err := delivery.Encode(*q.batches[k])
		if err != nil {
			return err
		}
		msgs = append(msgs, m...)
	}
	if len(msgs) == 0 {
		return nil
	}
	if err := h.Publish(ctx, hub.TopicDeliveries, msgs...); err != nil {
		return fmt.Errorf("publish delivery batches: %w", err)
	}
	return nil
}

// inboxItem is the inbox notification of ev for user.
func inboxItem(ev event.Event, user string, now time.Time) store.InboxItem {
	n := ev.Notification
	return store.InboxItem{
		ID: ev.ID, UserID: user, EventID: ev.ID,
		Title: n.Title, Message: n.Message, Category: n.Category, Urgency: n.Urgency,
		Actions: n.Actions, Data: n.Data, Locale: n.Locale, ExpiresAt: n.ExpiresAt,
		CreatedAt: now,
	}
}
