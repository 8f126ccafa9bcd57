package httpapi

import (
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/herald/herald/internal/event"
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
	st, err := a.deps.Store.EventStatus(r.Context(), id, limit)
	if errors.Is(err, store.ErrNotFound) {
		problem.Write(w, problem.NotFound, "No event "+id+" has been planned. An event accepted moments ago may still be queued; ask again shortly. Ids are the 'id' values of the 202 answer.", nil, 0)
		return
	}
	if err != nil {
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
	for _, d := range st.Recipients {
		v.Recipients = append(v.Recipients, recipientView{UserID: d.UserID, Channel: d.Channel, Outcome: d.Outcome, Reason: d.Reason, Attempts: d.Attempts, At: d.At})
	}
	writeJSON(w, http.StatusOK, v)
}
