package handler

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/herald/herald/internal/event"
	"github.com/herald/herald/internal/prefs"
	"github.com/herald/herald/internal/store"
)

// DefaultBroadcastChunk is how many candidate people a broadcast visits per
// store transaction unless configured otherwise.
const DefaultBroadcastChunk = 5000

// broadcasts runs the broadcasts the store says are running, one goroutine
// each, and is woken when the handler starts a new one.
type broadcasts struct {
	wake    chan struct{}
	mu      sync.Mutex
	running map[string]bool
}

// wakeBroadcasts tells the broadcast runner to look for new broadcasts.
func (h *Handler) wakeBroadcasts() {
	select {
	case h.bc.wake <- struct{}{}:
	default:
	}
}

// RunBroadcasts delivers running broadcasts until ctx ends: those left
// running by an earlier process first, then each one the handler starts.
// A chunk under way when ctx ends is finished; the next start resumes from
// the stored cursor.
func (h *Handler) RunBroadcasts(ctx context.Context) error {
	var wg sync.WaitGroup
	defer wg.Wait()
	poll := time.NewTicker(5 * time.Second)
	defer poll.Stop()
	for {
		list, err := h.store.RunningBroadcasts(ctx)
		if err != nil && ctx.Err() == nil {
			h.log.Warn("listing running broadcasts failed", "err", err)
		}
		for _, b := range list {
			h.bc.mu.Lock()
			busy := h.bc.running[b.Event.ID]
			h.bc.running[b.Event.ID] = true
			h.bc.mu.Unlock()
			if busy {
				continue
			}
			wg.Add(1)
			go func(b store.Broadcast) {
				defer wg.Done()
				defer func() {
					h.bc.mu.Lock()
					delete(h.bc.running, b.Event.ID)
					h.bc.mu.Unlock()
				}()
				if err := h.runBroadcast(ctx, b); err != nil && ctx.Err() == nil {
					h.log.Error("broadcast interrupted; it resumes shortly", "event", b.Event.ID, "err", err)
				}
			}(b)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-h.bc.wake:
		case <-poll.C:
		}
	}
}

// runBroadcast visits the audience chunk by chunk from the stored cursor.
// Each chunk's inbox receipts, counters and cursor are recorded in one
// transaction, so a crash repeats at most the chunk under way, whose
// effects the store then refuses (the cursor moved) or never had.
func (h *Handler) runBroadcast(ctx context.Context, b store.Broadcast) error {
	ev := b.Event
	cursor := b.Cursor
	started := time.Now()
	texts := h.localeTexts(ev)
	// The next page is read while the current one is written: reads use
	// the reader pool, writes the single writer connection.
	var prefetch chan audiencePage
	for {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		var pg audiencePage
		if prefetch != nil {
			pg = <-prefetch
			prefetch = nil
			if pg.after != cursor {
				pg = h.readPage(ctx, ev.Audience, cursor)
			}
		} else {
			pg = h.readPage(ctx, ev.Audience, cursor)
		}
		people, last, done, err := pg.people, pg.last, pg.done, pg.err
		if err != nil {
			return err
		}
		if !done && last != "" {
			prefetch = make(chan audiencePage, 1)
			go func(after string) { prefetch <- h.readPage(ctx, ev.Audience, after) }(last)
		}
		// Once read, a chunk is finished even if shutdown starts.
		work := context.WithoutCancel(ctx)
		now := h.cfg.Now()
		chunk := store.BroadcastChunk{EventID: ev.ID, From: cursor, To: last, Recipients: len(people), Counts: store.Counts{}, At: now}
		if last == "" {
			chunk.To = cursor
		}
		q := newQueue()
		ids := make([]string, len(people))
		for i, p := range people {
			ids[i] = p.UserID
		}
		reach, err := h.reachability(work, ids)
		if err != nil {
			return err
		}
		for _, p := range people {
			for _, v := range h.decide(p, ev, now, holds{}) {
				switch {
				case v.inbox:
					chunk.Inbox = append(chunk.Inbox, p.UserID)
				case v.queue && reach.none(v.channel, p.UserID):
					v.outcome = store.Unreachable
				case v.queue:
					q.add(texts.personal(p), v.channel, p.UserID, v.notBefore)
					chunk.Counts.Add(v.channel, store.Queued, 1)
				}
				if v.outcome != "" {
					chunk.Counts.Add(v.channel, string(v.outcome), 1)
				}
			}
		}
		if err := q.publish(work, h.hub); err != nil {
			return err
		}
		first, recorded, err := h.store.RecordBroadcastChunk(work, chunk)
		if err != nil {
			return err
		}
		if !recorded {
			// Cancelled, or another process moved the cursor.
			cur, err := h.store.Broadcast(work, ev.ID)
			if err != nil {
				return err
			}
			if cur.State != store.BroadcastRunning {
				h.log.Info("broadcast stopped", "event", ev.ID, "state", cur.State, "recipients", cur.Recipients)
				return nil
			}
			cursor = cur.Cursor
			continue
		}
		h.announce(ev, chunk.Inbox, first, now)
		if h.metrics != nil {
			h.countChunk(chunk)
		}
		cursor = chunk.To
		if done {
			if _, err := h.store.FinishBroadcast(work, ev.ID, store.BroadcastDone, h.cfg.Now()); err != nil {
				return err
			}
			h.log.Info("broadcast done", "event", ev.ID, "took", time.Since(started).Round(time.Millisecond))
			return nil
		}
	}
}

// audiencePage is one read of a broadcast's audience.
type audiencePage struct {
	after  string
	people []prefs.Preferences
	last   string
	done   bool
	err    error
}

func (h *Handler) readPage(ctx context.Context, a event.Audience, after string) audiencePage {
	people, last, done, err := h.store.AudiencePage(ctx, a, after, h.cfg.BroadcastChunk)
	return audiencePage{after: after, people: people, last: last, done: done, err: err}
}

// countChunk adds a chunk's decided outcomes to the metrics.
func (h *Handler) countChunk(c store.BroadcastChunk) {
	for ch, m := range c.Counts {
		for k, n := range m {
			if k != store.Queued {
				h.metrics.Deliveries.WithLabelValues(ch, k).Add(float64(n))
			}
		}
	}
}

// announce hands the chunk's new inbox items to the people watching their
// live stream; the receipts have consecutive seqs from first.
func (h *Handler) announce(ev event.Event, users []string, first int64, at time.Time) {
	if h.broker == nil || first == 0 {
		return
	}
	var items []store.InboxItem
	for i, u := range users {
		if h.broker.Watched(u) {
			it := inboxItem(ev, u, at)
			it.Seq = first + int64(i)
			items = append(items, it)
		}
	}
	h.broker.Publish(items)
}

// ErrNotRunning is returned when cancelling a broadcast that is not running.
var ErrNotRunning = errors.New("the broadcast is not running")

// CancelBroadcast stops a running broadcast; what was delivered stays
// delivered.
func CancelBroadcast(ctx context.Context, st store.Store, eventID string, now time.Time) error {
	ok, err := st.FinishBroadcast(ctx, eventID, store.BroadcastCancelled, now)
	if err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("broadcast %s: %w", eventID, ErrNotRunning)
	}
	return nil
}

// localeTexts renders a broadcast's text once per locale: the channels
// reached through workers get it in each person's locale. The inbox content
// of a broadcast is stored once for everyone, in the event's own text.
type localeTexts struct {
	r      *renderer
	byLang map[string]event.Event
}

func (h *Handler) localeTexts(ev event.Event) *localeTexts {
	return &localeTexts{r: h.renderer(ev), byLang: map[string]event.Event{}}
}

// personal returns the broadcast as p sees it; templates see no user.
func (l *localeTexts) personal(p prefs.Preferences) event.Event {
	if l.r.h.cfg.Templates.Len() == 0 {
		return l.r.ev
	}
	ev, ok := l.byLang[p.Locale]
	if !ok {
		ev = l.r.personal(p, "")
		l.byLang[p.Locale] = ev
	}
	return ev
}
