package handler

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/herald/herald/internal/event"
	"github.com/herald/herald/internal/prefs"
	"github.com/herald/herald/internal/store"
	"github.com/herald/herald/internal/templates"
)

// Timing keeps its pending work in store timers, so that it survives
// restarts and any handler process can finish it:
//
//	deliver/<event>                  an event whose deliverAt is ahead
//	digest/<category>/<user>         the end of a person's digest window
//	digest-item/<category>/<user>/<event>  a notification held for it
//	escalate/<event>/<user>          when to check whether it was read
//
// User ids cannot hold '/', and categories and event ids hold none either,
// so a key prefix ending in '/' selects exactly one family.
const (
	timerDeliver    = "deliver"
	timerDigest     = "digest"
	timerDigestItem = "digest-item"
	timerEscalate   = "escalate"
)

// DefaultTimerEvery is how often RunTimers looks for due timers.
const DefaultTimerEvery = time.Second

// timerLease is how long a claimed timer stays with its claimer: one that
// dies before finishing the work leaves it to the next claim after this.
const timerLease = time.Minute

// timerBatch is the most timers claimed at once.
const timerBatch = 500

// digestGrace is how long after its window a held notification fires on
// its own, should its window's timer be gone (a window flushed while the
// notification was being held): it then flushes the window itself.
const digestGrace = time.Hour

// DigestSource is the CloudEvent source of digest notifications.
const DigestSource = "herald:digest"

// held is a notification held back for a digest or an escalation.
type held struct {
	Event    event.Event `json:"event"`
	User     string      `json:"user"`
	Category string      `json:"category,omitempty"`
	// Channels are the channels held.
	Channels []string `json:"channels"`
	// After is the escalation delay.
	After event.Duration `json:"after,omitzero"`
	// At is when it was held.
	At time.Time `json:"at,omitzero"`
}

// heldWork gathers the timers a plan adds.
type heldWork struct{ timers []store.Timer }

// add holds pev for user: on the digest channels until the category's
// window ends, on the escalation channels until hold.escalate has passed.
func (w *heldWork) add(pev event.Event, user string, now time.Time, hold holds, digest, escalate []string) error {
	pev.Audience = event.Audience{}
	cat := pev.Notification.Category
	if len(digest) > 0 {
		item, err := json.Marshal(held{Event: pev, User: user, Category: cat, Channels: digest, At: now})
		if err != nil {
			return fmt.Errorf("hold %s for a digest: %w", pev.ID, err)
		}
		window, _ := json.Marshal(held{User: user, Category: cat})
		end := now.Add(hold.digest)
		w.timers = append(w.timers,
			store.Timer{Key: digestWindowKey(cat, user), Kind: timerDigest, Due: end, Payload: window},
			store.Timer{Key: digestItemPrefix(cat, user) + pev.ID, Kind: timerDigestItem, Due: end.Add(digestGrace), Payload: item})
	}
	if len(escalate) > 0 {
		p, err := json.Marshal(held{Event: pev, User: user, Channels: escalate, After: event.Duration(hold.escalate), At: now})
		if err != nil {
			return fmt.Errorf("hold %s for escalation: %w", pev.ID, err)
		}
		w.timers = append(w.timers, store.Timer{Key: timerEscalate + "/" + pev.ID + "/" + user, Kind: timerEscalate, Due: now.Add(hold.escalate), Payload: p})
	}
	return nil
}

// store adds the timers; those that exist (a window already open, a plan
// repeated) are left as they are.
func (w *heldWork) store(ctx context.Context, st store.Store) error {
	if len(w.timers) == 0 {
		return nil
	}
	if err := st.AddTimers(ctx, w.timers); err != nil {
		return fmt.Errorf("hold %d notifications: %w", len(w.timers), err)
	}
	return nil
}

func digestWindowKey(category, user string) string {
	return timerDigest + "/" + category + "/" + user
}

func digestItemPrefix(category, user string) string {
	return timerDigestItem + "/" + category + "/" + user + "/"
}

func deliverKey(eventID string) string { return timerDeliver + "/" + eventID }

// deliverTimer keeps ev until its deliverAt.
func deliverTimer(ev event.Event) (store.Timer, error) {
	b, err := json.Marshal(ev)
	if err != nil {
		return store.Timer{}, fmt.Errorf("schedule %s: %w", ev.ID, err)
	}
	return store.Timer{Key: deliverKey(ev.ID), Kind: timerDeliver, Due: *ev.Notification.DeliverAt, Payload: b}, nil
}

// Scheduled returns the event with id if it waits for its deliverAt, or
// false.
func Scheduled(ctx context.Context, st store.Store, id string) (event.Event, bool, error) {
	ts, err := st.TimersWithPrefix(ctx, deliverKey(id))
	if err != nil {
		return event.Event{}, false, err
	}
	for _, t := range ts {
		if t.Key != deliverKey(id) {
			continue
		}
		var ev event.Event
		if err := json.Unmarshal(t.Payload, &ev); err != nil {
			return event.Event{}, false, fmt.Errorf("scheduled event %s: %w", id, err)
		}
		return ev, true, nil
	}
	return event.Event{}, false, nil
}

// RunTimers fires due timers every TimerEvery until ctx ends: scheduled
// events are planned, digests sent, escalations checked. Timers are in the
// store, so what was due while no process ran fires at the next start.
func (h *Handler) RunTimers(ctx context.Context) error {
	t := time.NewTicker(h.cfg.TimerEvery)
	defer t.Stop()
	for {
		if _, err := h.Tick(ctx, h.cfg.Now()); err != nil && ctx.Err() == nil {
			h.log.Warn("firing timers failed; they fire again shortly", "err", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// Tick fires every timer due at now and returns how many it finished.
// Work is idempotent, so a timer fired twice (its claimer died after the
// work and before deleting it) changes nothing more.
func (h *Handler) Tick(ctx context.Context, now time.Time) (int, error) {
	fired := 0
	for {
		ts, err := h.store.ClaimTimers(ctx, now, timerLease, timerBatch)
		if err != nil {
			return fired, fmt.Errorf("claim due timers: %w", err)
		}
		if len(ts) == 0 {
			return fired, nil
		}
		// Work under way is finished even when shutdown starts.
		work := context.WithoutCancel(ctx)
		done, err := h.fire(work, ts, now)
		if len(done) > 0 {
			if derr := h.store.DeleteTimers(work, done); derr != nil {
				return fired, errors.Join(err, fmt.Errorf("delete fired timers: %w", derr))
			}
		}
		fired += len(ts)
		if err != nil {
			return fired, err
		}
		if len(ts) < timerBatch || ctx.Err() != nil {
			return fired, nil
		}
	}
}

// fire does the work of claimed timers and returns the keys to delete.
// Timers whose work failed stay, and fire again after the lease.
func (h *Handler) fire(ctx context.Context, ts []store.Timer, now time.Time) ([]string, error) {
	var done []string
	var errs []error
	var events []event.Event
	var deliverKeys []string
	type window struct{ category, user string }
	var windows []window
	seenWindow := map[window]bool{}
	var escalations []held
	var escalateKeys []string
	for _, t := range ts {
		var err error
		switch t.Kind {
		case timerDeliver:
			var ev event.Event
			if err = json.Unmarshal(t.Payload, &ev); err == nil {
				events = append(events, ev)
				deliverKeys = append(deliverKeys, t.Key)
			}
		case timerDigest, timerDigestItem:
			var hd held
			if err = json.Unmarshal(t.Payload, &hd); err == nil {
				w := window{hd.Category, hd.User}
				if !seenWindow[w] {
					seenWindow[w] = true
					windows = append(windows, w)
				}
			}
		case timerEscalate:
			var hd held
			if err = json.Unmarshal(t.Payload, &hd); err == nil {
				escalations = append(escalations, hd)
				escalateKeys = append(escalateKeys, t.Key)
			}
		default:
			err = fmt.Errorf("unknown kind %q", t.Kind)
		}
		if err != nil {
			// Nothing will ever read it: log it and let it go.
			h.log.Error("dropping a timer that cannot be read", "key", t.Key, "kind", t.Kind, "err", err)
			done = append(done, t.Key)
		}
	}
	if len(events) > 0 {
		if err := h.planAt(ctx, events, now); err != nil {
			errs = append(errs, fmt.Errorf("plan %d scheduled events: %w", len(events), err))
		} else {
			done = append(done, deliverKeys...)
			h.log.Info("scheduled events planned", "events", len(events))
		}
	}
	for _, w := range windows {
		keys, err := h.flushDigest(ctx, w.category, w.user, now)
		if err != nil {
			errs = append(errs, fmt.Errorf("digest of %s for %s: %w", w.category, w.user, err))
			continue
		}
		done = append(done, keys...)
	}
	if len(escalations) > 0 {
		if err := h.escalate(ctx, escalations, now); err != nil {
			errs = append(errs, fmt.Errorf("escalate %d notifications: %w", len(escalations), err))
		} else {
			done = append(done, escalateKeys...)
		}
	}
	return done, errors.Join(errs...)
}

// flushDigest sends a person's held notifications of a category: one alone
// is delivered as itself, several as one digest notification whose id
// derives from theirs (so flushing the same ones again sends nothing new).
// It returns the timers done with: the window and its items.
func (h *Handler) flushDigest(ctx context.Context, category, user string, now time.Time) ([]string, error) {
	ts, err := h.store.TimersWithPrefix(ctx, digestItemPrefix(category, user))
	if err != nil {
		return nil, err
	}
	keys := []string{digestWindowKey(category, user)}
	var items []held
	for _, t := range ts {
		keys = append(keys, t.Key)
		var hd held
		if err := json.Unmarshal(t.Payload, &hd); err != nil {
			h.log.Error("dropping a digest item that cannot be read", "key", t.Key, "err", err)
			continue
		}
		items = append(items, hd)
	}
	// Leave out what a previous flush already settled.
	var outcomes []store.DeliveryRecord
	var live []held
	for _, it := range items {
		var open []string
		for _, ch := range it.Channels {
			final, err := h.store.FinalOutcomes(ctx, it.Event.ID, ch, []string{user})
			if err != nil {
				return nil, err
			}
			if !final[user] {
				open = append(open, ch)
			}
		}
		it.Channels = open
		switch {
		case len(open) == 0:
		case it.Event.Notification.Expired(now):
			for _, ch := range open {
				outcomes = append(outcomes, store.DeliveryRecord{EventID: it.Event.ID, UserID: user, Channel: ch,
					Outcome: store.Expired, Reason: "expired before its digest was sent", Attempts: 1, At: now})
			}
		default:
			live = append(live, it)
		}
	}
	if len(live) > 0 {
		pref, err := h.store.LoadPreferences(ctx, []string{user})
		if err != nil {
			return nil, fmt.Errorf("load preferences: %w", err)
		}
		p := pref[user]
		q := newQueue()
		// One notification alone goes out as itself on the channels held
		// for it; a digest is a notification of its own, planned on every
		// channel but the inbox, which has each notification already.
		var send event.Event
		var channels []string
		if len(live) == 1 {
			send, channels = live[0].Event, live[0].Channels
		} else {
			send = h.digestEvent(category, user, p, live, now)
		}
		var plan []store.DeliveryRecord
		for _, v := range h.decide(p, send, now, holds{}) {
			if len(live) == 1 && !slices.Contains(channels, v.channel) {
				continue
			}
			if v.inbox {
				v.outcome, v.reason = store.Digested, "the inbox has each notification of this digest"
			}
			if v.queue {
				q.add(send, v.channel, user, v.notBefore)
			}
			if v.outcome != "" {
				plan = append(plan, store.DeliveryRecord{EventID: send.ID, UserID: user, Channel: v.channel, Outcome: v.outcome, Reason: v.reason, Attempts: 1, At: now})
			}
		}
		if len(live) == 1 {
			outcomes = append(outcomes, plan...)
		} else {
			send.Audience = event.Audience{Users: []string{user}}
			if _, err := h.store.RecordPlans(ctx, []store.Plan{{Event: send, Targeted: len(prefs.Channels), PlannedAt: now, Outcomes: plan}}); err != nil {
				return nil, fmt.Errorf("record the digest: %w", err)
			}
			for _, it := range live {
				for _, ch := range it.Channels {
					outcomes = append(outcomes, store.DeliveryRecord{EventID: it.Event.ID, UserID: user, Channel: ch,
						Outcome: store.Digested, Reason: "sent in digest " + send.ID, Attempts: 1, At: now})
				}
			}
		}
		if err := q.publish(ctx, h.hub); err != nil {
			return nil, err
		}
		h.log.Debug("digest sent", "category", category, "user", user, "notifications", len(live), "event", send.ID)
	}
	if err := h.store.RecordOutcomes(ctx, outcomes); err != nil {
		return nil, fmt.Errorf("record outcomes: %w", err)
	}
	if h.metrics != nil {
		h.metrics.CountOutcomes(outcomes)
	}
	return keys, nil
}

// digestEvent is the notification that stands for items: its id derives
// from theirs, its text from the _digest template in the person's locale.
func (h *Handler) digestEvent(category, user string, p prefs.Preferences, items []held, now time.Time) event.Event {
	slices.SortFunc(items, func(a, b held) int {
		return cmp.Or(a.At.Compare(b.At), a.Event.ReceivedAt.Compare(b.Event.ReceivedAt), strings.Compare(a.Event.ID, b.Event.ID))
	})
	sum := sha256.New()
	ids := make([]string, len(items))
	d := templates.DigestData{User: user, Category: category}
	for i, it := range items {
		ids[i] = it.Event.ID
		sum.Write([]byte(it.Event.ID + "\x00"))
		var data any
		if len(it.Event.Notification.Data) > 0 {
			_ = json.Unmarshal(it.Event.Notification.Data, &data)
		}
		d.Items = append(d.Items, templates.DigestItem{Title: it.Event.Notification.Title, Message: it.Event.Notification.Message, Data: data})
	}
	text, err := h.cfg.Templates.RenderDigest(d, p.Locale)
	if err != nil {
		h.log.Warn("a digest template failed; the next one in the chain was used", "category", category, "user", user, "err", err)
	}
	sourceID := category + "/" + user + "/" + hex.EncodeToString(sum.Sum(nil)[:8])
	data, _ := json.Marshal(map[string]any{"digest": map[string]any{"category": category, "events": ids}})
	return event.Event{
		ID: event.IDFor(DigestSource, sourceID), Source: DigestSource, SourceID: sourceID, Type: "herald.digest",
		ReceivedAt: now,
		Notification: event.Notification{Title: text.Title, Message: text.Message, Category: category,
			Urgency: event.UrgencyNormal, Locale: text.Locale, Data: data},
	}
}

// escalate checks held notifications: those read in the inbox (or expired)
// are settled without reaching the devices, the others are sent to the
// person's devices now, their preferences applied as they are now (a
// channel switched off since is skipped, quiet hours defer).
func (h *Handler) escalate(ctx context.Context, items []held, now time.Time) error {
	byEvent := map[string][]int{}
	var order []string
	users := map[string]bool{}
	var ids []string
	for i, it := range items {
		if byEvent[it.Event.ID] == nil {
			order = append(order, it.Event.ID)
		}
		byEvent[it.Event.ID] = append(byEvent[it.Event.ID], i)
		if !users[it.User] {
			users[it.User] = true
			ids = append(ids, it.User)
		}
	}
	pref, err := h.store.LoadPreferences(ctx, ids)
	if err != nil {
		return fmt.Errorf("load preferences: %w", err)
	}
	var outcomes []store.DeliveryRecord
	q := newQueue()
	for _, id := range order {
		idx := byEvent[id]
		people := make([]string, len(idx))
		for i, j := range idx {
			people[i] = items[j].User
		}
		readAt, err := h.store.InboxReadAt(ctx, id, people)
		if err != nil {
			return err
		}
		final := map[string]map[string]bool{}
		for _, j := range idx {
			for _, ch := range items[j].Channels {
				if final[ch] == nil {
					if final[ch], err = h.store.FinalOutcomes(ctx, id, ch, people); err != nil {
						return err
					}
				}
			}
		}
		for _, j := range idx {
			it := items[j]
			after := formatDuration(time.Duration(it.After))
			record := func(ch string, o store.Outcome, reason string) {
				outcomes = append(outcomes, store.DeliveryRecord{EventID: id, UserID: it.User, Channel: ch, Outcome: o, Reason: reason, Attempts: 1, At: now})
			}
			var open []string
			for _, ch := range it.Channels {
				if !final[ch][it.User] {
					open = append(open, ch)
				}
			}
			at, inInbox := readAt[it.User]
			switch {
			case len(open) == 0:
			case it.Event.Notification.Expired(now):
				for _, ch := range open {
					record(ch, store.Expired, "expired before it was due to escalate")
				}
			case inInbox && !at.IsZero():
				for _, ch := range open {
					record(ch, store.NotEscalated, "read in the inbox at "+at.UTC().Format(time.RFC3339)+", within "+after)
				}
			default:
				note := "escalated: unread after " + after
				for _, v := range h.decide(pref[it.User], it.Event, now, holds{}) {
					if !slices.Contains(open, v.channel) {
						continue
					}
					if v.queue {
						q.addNoted(it.Event, v.channel, it.User, v.notBefore, note)
					}
					switch {
					case v.outcome == store.Deferred:
						record(v.channel, v.outcome, note+"; "+v.reason)
					case v.outcome != "":
						record(v.channel, v.outcome, v.reason)
					default:
						record(v.channel, store.Deferred, note)
					}
				}
			}
		}
	}
	if err := q.publish(ctx, h.hub); err != nil {
		return err
	}
	if err := h.store.RecordOutcomes(ctx, outcomes); err != nil {
		return fmt.Errorf("record outcomes: %w", err)
	}
	if h.metrics != nil {
		h.metrics.CountOutcomes(outcomes)
	}
	return nil
}

// renderer renders one event's text per person.
type renderer struct {
	h      *Handler
	ev     event.Event
	warned bool
}

func (h *Handler) renderer(ev event.Event) *renderer { return &renderer{h: h, ev: ev} }

// personal returns the event as user sees it: its text from the templates
// in the person's locale (the event itself without templates).
func (r *renderer) personal(p prefs.Preferences, user string) event.Event {
	if r.h.cfg.Templates.Len() == 0 {
		return r.ev
	}
	text, err := r.h.cfg.Templates.Render(r.ev.Notification, user, p.Locale)
	if err != nil && !r.warned {
		r.warned = true
		r.h.log.Warn("a notification template failed; the next one in the chain was used", "event", r.ev.ID, "user", user, "err", err)
	}
	return withText(r.ev, text)
}

// withText returns ev with a rendered text.
func withText(ev event.Event, t templates.Text) event.Event {
	ev.Notification.Title, ev.Notification.Message = t.Title, t.Message
	if t.Locale != "" {
		ev.Notification.Locale = t.Locale
	}
	return ev
}
