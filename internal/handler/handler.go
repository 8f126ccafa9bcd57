// Package handler plans every event's deliveries: it reads events from the
// hub, loads the recipients' preferences in one batch (creating the default
// record for anyone seen for the first time), decides each channel per
// person, and records the plan, the skips and the inbox notifications in one
// store transaction. The inbox lives in herald's own store, so it is
// delivered right there; every other channel gets a delivery batch on the
// hub for the channel workers. Events are acked only after both are durable.
package handler

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"time"

	"github.com/herald/herald/internal/delivery"
	"github.com/herald/herald/internal/event"
	"github.com/herald/herald/internal/hub"
	"github.com/herald/herald/internal/live"
	"github.com/herald/herald/internal/metrics"
	"github.com/herald/herald/internal/prefs"
	"github.com/herald/herald/internal/store"
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
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Handler plans deliveries.
type Handler struct {
	hub     hub.Hub
	store   store.Store
	broker  *live.Broker
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
	if cfg.Configured == nil {
		cfg.Configured = func(string) bool { return false }
	}
	return &Handler{hub: h, store: st, broker: broker, cfg: cfg, log: log.With("component", "handler"), metrics: m}
}

// Run consumes events until ctx ends.
func (h *Handler) Run(ctx context.Context, opts hub.ConsumeOptions) error {
	return h.hub.Consume(ctx, hub.TopicEvents, Group, opts, h.handle)
}

// handle plans one micro-batch of events.
func (h *Handler) handle(ctx context.Context, batch []hub.Delivery) {
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
	// A batch under way is finished even when shutdown starts.
	err := h.plan(context.WithoutCancel(ctx), events)
	if err == nil {
		for _, d := range ok {
			_ = d.Ack()
		}
		return
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
// batches. It is idempotent: planning the same events again records the same
// rows and publishes batches whose effects are idempotent.
func (h *Handler) plan(ctx context.Context, events []event.Event) error {
	var ids []string
	seen := map[string]bool{}
	for _, ev := range events {
		for _, u := range ev.Audience.Users {
			if !seen[u] {
				seen[u] = true
				ids = append(ids, u)
			}
		}
	}
	pref, err := h.store.LoadPreferences(ctx, ids)
	if err != nil {
		return fmt.Errorf("load preferences: %w", err)
	}
	now := h.cfg.Now()
	plans := make([]store.Plan, 0, len(events))
	var outcomes []store.DeliveryRecord
	batches := map[string]*delivery.Batch{}
	for _, ev := range events {
		p := store.Plan{Event: ev, Targeted: len(ev.Audience.Users) * len(prefs.Channels), PlannedAt: now}
		expired := ev.Notification.Expired(now)
		body := ev
		body.Audience = event.Audience{}
		items := map[string]*delivery.Item{}
		for _, u := range ev.Audience.Users {
			for _, d := range pref[u].Decide(ev.Notification) {
				rec := store.DeliveryRecord{EventID: ev.ID, UserID: u, Channel: d.Channel, Attempts: 1, At: now}
				switch {
				case d.Skip != "":
					rec.Outcome, rec.Reason = store.SkippedPreference, d.Skip
				case expired:
					rec.Outcome, rec.Reason = store.Expired, "expired before delivery"
				case d.Channel == prefs.Inbox:
					rec.Outcome = store.Delivered
					p.Inbox = append(p.Inbox, inboxItem(ev, u, now))
				case !h.cfg.Configured(d.Channel):
					rec.Outcome, rec.Reason = store.NotConfigured, "herald has no "+d.Channel+" channel configured"
				default:
					it := items[d.Channel]
					if it == nil {
						it = &delivery.Item{Event: body}
						items[d.Channel] = it
					}
					it.Users = append(it.Users, u)
					continue
				}
				p.Outcomes = append(p.Outcomes, rec)
			}
		}
		outcomes = append(outcomes, p.Outcomes...)
		plans = append(plans, p)
		for _, ch := range prefs.Channels {
			if it := items[ch]; it != nil {
				b := batches[ch]
				if b == nil {
					b = &delivery.Batch{Channel: ch, Attempt: 1}
					batches[ch] = b
				}
				b.Items = append(b.Items, *it)
			}
		}
	}
	added, err := h.store.RecordPlans(ctx, plans)
	if err != nil {
		return fmt.Errorf("record plans: %w", err)
	}
	var msgs []hub.Message
	for _, ch := range prefs.Channels {
		if b := batches[ch]; b != nil {
			m, err := delivery.Encode(*b)
			if err != nil {
				return err
			}
			msgs = append(msgs, m...)
		}
	}
	if len(msgs) > 0 {
		if err := h.hub.Publish(ctx, hub.TopicDeliveries, msgs...); err != nil {
			return fmt.Errorf("publish delivery batches: %w", err)
		}
	}
	if h.broker != nil {
		h.broker.Publish(added)
	}
	if h.metrics != nil && len(added) > 0 {
		received := make(map[string]time.Time, len(events))
		for _, ev := range events {
			received[ev.ID] = ev.ReceivedAt
		}
		done := h.cfg.Now()
		for _, it := range added {
			h.metrics.EndToEnd.WithLabelValues(prefs.Inbox).Observe(done.Sub(received[it.EventID]).Seconds())
		}
	}
	if h.metrics != nil {
		h.metrics.CountOutcomes(outcomes)
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
