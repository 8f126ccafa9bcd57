package httpapi

import (
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/herald/herald/internal/event"
	"github.com/herald/herald/internal/handler"
	"github.com/herald/herald/internal/problem"
	"github.com/herald/herald/internal/store"
)

// recipientView is one (person, channel) outcome in an event's status.
type recipientView struct {
	UserID   string        `json:"userId"`
	Channel  string        `json:"channel"`
	Outcome  store.Outcome `json:"outcome"`
	Reason   string        `json:"reason,omitempty"`
	Attempts int           `json:"attempts,omitempty"`
	At       time.Time     `json:"at"`
}

// statusView is the body of GET /v1/events/{id}.
type statusView struct {
	ID         string                          `json:"id"`
	Source     string                          `json:"source"`
	SourceID   string                          `json:"sourceId"`
	Type       string                          `json:"type"`
	ReceivedAt time.Time                       `json:"receivedAt"`
	PlannedAt  time.Time                       `json:"plannedAt"`
	State      string                          `json:"state"`
	Targeted   int                             `json:"targeted"`
	Pending    int                             `json:"pending"`
	Channels   map[string]*store.ChannelCounts `json:"channels"`
	Recipients []recipientView                 `json:"recipients"`
	// Broadcast is set for events whose audience is resolved from the store.
	Broadcast *broadcastView `json:"broadcast,omitempty"`
	// Predictions estimate when rate-limited channels reach their last
	// pending recipient.
	Predictions map[string]predictionView `json:"predictions,omitempty"`
	// DeliverAt is set while the event waits for its deliverAt (state
	// scheduled).
	DeliverAt *time.Time `json:"deliverAt,omitempty"`
}

// predictionView is a rate-limited channel's predicted finish: its pending
// deliveries at its rate limit, so an upper bound (people with no address
// on the channel take no share of the rate).
type predictionView struct {
	Pending         int       `json:"pending"`
	PerSecond       float64   `json:"perSecond"`
	Seconds         float64   `json:"seconds"`
	LastRecipientBy time.Time `json:"lastRecipientBy"`
}

// predict fills Predictions from the channels' rate limits.
func (v *statusView) predict(rates map[string]float64, now time.Time) {
	for ch, rate := range rates {
		c, ok := v.Channels[ch]
		if !ok || rate <= 0 || c.Pending == 0 {
			continue
		}
		secs := float64(c.Pending) / rate
		if v.Predictions == nil {
			v.Predictions = map[string]predictionView{}
		}
		v.Predictions[ch] = predictionView{Pending: c.Pending, PerSecond: rate, Seconds: secs,
			LastRecipientBy: now.Add(time.Duration(secs * float64(time.Second))).UTC().Truncate(time.Second)}
	}
}

// broadcastView is a broadcast's progress.
type broadcastView struct {
	State      string    `json:"state"`
	Recipients int       `json:"recipients"`
	Cursor     string    `json:"cursor"`
	StartedAt  time.Time `json:"startedAt"`
	FinishedAt time.Time `json:"finishedAt,omitzero"`
}

// broadcast folds a broadcast's counters into the status: planning outcomes
// are counters (no row per person), worker outcomes are the rows counted
// already; what was queued and has no final row yet is pending.
func (v *statusView) broadcast(b store.Broadcast) {
	v.Broadcast = &broadcastView{State: b.State, Recipients: b.Recipients, Cursor: b.Cursor, StartedAt: b.StartedAt, FinishedAt: b.FinishedAt}
	v.Targeted, v.Pending = 0, 0
	for ch, c := range v.Channels {
		finalRows := 0
		for o, n := range c.Outcomes {
			if store.Outcome(o).Final() {
				finalRows += n
			}
		}
		for k, n := range b.Counts[ch] {
			if k != store.Queued {
				c.Outcomes[k] += n
			}
		}
		c.Targeted = b.Recipients
		c.Pending = max(0, b.Counts[ch][store.Queued]-finalRows)
		v.Targeted += c.Targeted
		v.Pending += c.Pending
	}
	switch {
	case b.State == store.BroadcastRunning:
		v.State = "delivering"
	case b.State == store.BroadcastCancelled:
		v.State = "cancelled"
	case v.Pending > 0:
		v.State = "delivering"
	default:
		v.State = "completed"
	}
}

// cancelEvent stops a running broadcast and answers with its status: what
// was delivered stays delivered.
func (a *API) cancelEvent(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	err := handler.CancelBroadcast(r.Context(), a.deps.Store, id, time.Now().UTC())
	switch {
	case errors.Is(err, handler.ErrNotRunning):
		if _, gerr := a.deps.Store.Broadcast(r.Context(), id); errors.Is(gerr, store.ErrNotFound) {
			problem.Write(w, problem.NotFound, "No broadcast "+id+": only events sent to topics or everyone can be cancelled.", nil, 0)
			return
		}
		problem.Write(w, problem.Conflict, "Broadcast "+id+" is not running (done or already cancelled).", nil, 0)
		return
	case err != nil:
		a.storeError(w, err)
		return
	}
	a.eventStatus(w, r)
}

const (
	defaultRecipients = 100
	maxRecipients     = 1000
)

func (a *API) eventStatus(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	limit := defaultRecipients
	if v := r.URL.Query().Get("recipients"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 || n > maxRecipients {
			problem.Write(w, problem.InvalidRequest, "", []event.FieldError{{Index: -1, Field: "recipients", Problem: "must be a whole number from 0 to 1000"}}, 0)
			return
		}
		limit = n
	}
	var wait time.Duration
	if v := r.URL.Query().Get("wait"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < 0 || d > maxStatusWait {
			problem.Write(w, problem.InvalidRequest, "", []event.FieldError{{Index: -1, Field: "wait", Problem: "must be a duration from 0s to 30s, such as 5s"}}, 0)
			return
		}
		wait = d
	}
	st, ev, err := a.waitEventStatus(r, id, limit, wait)
	switch {
	case ev != nil:
		writeJSON(w, http.StatusOK, statusView{ID: ev.ID, Source: ev.Source, SourceID: ev.SourceID, Type: ev.Type,
			ReceivedAt: ev.ReceivedAt, DeliverAt: ev.Notification.DeliverAt, State: "scheduled",
			Channels: map[string]*store.ChannelCounts{}, Recipients: []recipientView{}})
		return
	case errors.Is(err, store.ErrNotFound):
		problem.Write(w, problem.NotFound, "No event "+id+" has been planned. An event accepted moments ago may still be queued; ask again shortly. Ids are the 'id' values of the 202 answer.", nil, 0)
		return
	case err != nil:
		a.storeError(w, err)
		return
	}
	v := statusView{ID: st.Event.ID, Source: st.Event.Source, SourceID: st.Event.SourceID, Type: st.Event.Type,
		ReceivedAt: st.Event.ReceivedAt, PlannedAt: st.PlannedAt, Targeted: st.Targeted, Channels: st.Channels,
		Recipients: make([]recipientView, 0, len(st.Recipients))}
	for _, c := range st.Channels {
		v.Pending += c.Pending
	}
	v.State = "completed"
	if v.Pending > 0 {
		v.State = "delivering"
	}
	if b, err := a.deps.Store.Broadcast(r.Context(), id); err == nil {
		v.broadcast(b)
	} else if !errors.Is(err, store.ErrNotFound) {
		a.storeError(w, err)
		return
	}
	v.predict(a.deps.ChannelRates, time.Now())
	for _, d := range st.Recipients {
		v.Recipients = append(v.Recipients, recipientView{UserID: d.UserID, Channel: d.Channel, Outcome: d.Outcome, Reason: d.Reason, Attempts: d.Attempts, At: d.At})
	}
	writeJSON(w, http.StatusOK, v)
}

// maxStatusWait bounds GET /v1/events/{id}?wait=.
const maxStatusWait = 30 * time.Second

// waitEventStatus reads an event's status or, while it is not planned, the
// event if it waits for its deliverAt (ev, with state scheduled). With
// wait > 0 an event neither planned nor scheduled (accepted moments ago,
// still queued) is looked for again until it is or wait has passed, so that
// a client that just sent it need not poll through 404s; then err is
// store.ErrNotFound, or the error of the last look for a scheduled event.
func (a *API) waitEventStatus(r *http.Request, id string, limit int, wait time.Duration) (store.EventStatus, *event.Event, error) {
	deadline := time.Now().Add(wait)
	for {
		st, err := a.deps.Store.EventStatus(r.Context(), id, limit)
		if !errors.Is(err, store.ErrNotFound) {
			return st, nil, err
		}
		ev, scheduled, serr := handler.Scheduled(r.Context(), a.deps.Store, id)
		if scheduled {
			return st, &ev, nil
		}
		if serr != nil {
			err = serr
		}
		if !time.Now().Before(deadline) {
			return st, nil, err
		}
		select {
		case <-r.Context().Done():
			return st, nil, err
		case <-time.After(25 * time.Millisecond):
		}
	}
}
