package httpapi

import (
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/herald/herald/internal/deadletter"
	"github.com/herald/herald/internal/event"
	"github.com/herald/herald/internal/hub"
	"github.com/herald/herald/internal/problem"
)

// deadLetterView is one dead letter in the API.
type deadLetterView struct {
	Seq      uint64    `json:"seq"`
	Topic    string    `json:"topic"`
	Key      string    `json:"key"`
	Reason   string    `json:"reason"`
	Attempts int       `json:"attempts"`
	At       time.Time `json:"at"`
	// Data is the message as stored: a canonical event or a delivery batch.
	Data string `json:"data"`
}

func viewDeadLetter(d hub.DeadLetter) deadLetterView {
	return deadLetterView{Seq: d.Seq, Topic: d.Topic, Key: d.Message.Key, Reason: d.Reason, Attempts: d.Attempts, At: d.At, Data: string(d.Message.Data)}
}

// listDeadLetters pages through dead letters: ?after=SEQ&limit=N.
func (a *API) listDeadLetters(w http.ResponseWriter, r *http.Request) {
	var after uint64
	limit := 100
	var fields []event.FieldError
	if v := r.URL.Query().Get("after"); v != "" {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			fields = append(fields, event.FieldError{Index: -1, Field: "after", Problem: "must be a dead letter's seq"})
		}
		after = n
	}
	if v := r.URL.Query().Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 1000 {
			fields = append(fields, event.FieldError{Index: -1, Field: "limit", Problem: "must be a whole number from 1 to 1000"})
		}
		limit = n
	}
	if len(fields) > 0 {
		problem.Write(w, problem.InvalidRequest, "", fields, 0)
		return
	}
	list, err := a.deps.Hub.DeadLetters(r.Context(), after, limit)
	if err != nil {
		a.log.Error("listing dead letters failed", "err", err)
		problem.Write(w, problem.HubUnavailable, "The hub did not list its dead letters; try again.", nil, time.Second)
		return
	}
	out := make([]deadLetterView, len(list))
	for i, d := range list {
		out[i] = viewDeadLetter(d)
	}
	writeJSON(w, http.StatusOK, map[string]any{"deadLetters": out})
}

// replayDeadLetter sends dead letter {seq} back to its topic.
func (a *API) replayDeadLetter(w http.ResponseWriter, r *http.Request) {
	seq, err := strconv.ParseUint(r.PathValue("seq"), 10, 64)
	if err != nil {
		problem.Write(w, problem.InvalidRequest, "", []event.FieldError{{Index: -1, Field: "seq", Problem: "must be a dead letter's seq"}}, 0)
		return
	}
	d, err := deadletter.Replay(r.Context(), a.deps.Hub, seq)
	switch {
	case errors.Is(err, deadletter.ErrNotFound):
		problem.Write(w, problem.NotFound, err.Error(), nil, 0)
	case err != nil:
		a.log.Error("replay failed", "seq", seq, "err", err)
		problem.Write(w, problem.HubUnavailable, err.Error(), nil, time.Second)
	default:
		a.log.Info("dead letter replayed", "seq", seq, "topic", d.Topic)
		writeJSON(w, http.StatusAccepted, map[string]any{"replayed": viewDeadLetter(d)})
	}
}
