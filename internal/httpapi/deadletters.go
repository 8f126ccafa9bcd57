package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/herald/herald/internal/deadletter"
	"github.com/herald/herald/internal/event"
	"github.com/herald/herald/internal/hub"
	"github.com/herald/herald/internal/problem"
)

// maxViewRecipients bounds the people listed in one dead letter's view;
// recipientCount has them all.
const maxViewRecipients = 100

// deadLetterView is one dead letter in the API: where it came from, what it
// is about (events, channel, people), how often it was tried and why it
// failed.
type deadLetterView struct {
	Seq    uint64 `json:"seq"`
	Topic  string `json:"topic"`
	Key    string `json:"key"`
	Reason string `json:"reason"`
	// Events are the ids of the events the message carries.
	Events []string `json:"events,omitempty"`
	// Channel is a delivery batch's channel.
	Channel string `json:"channel,omitempty"`
	// Recipients are the first people the message concerns.
	Recipients     []string  `json:"recipients,omitempty"`
	RecipientCount int       `json:"recipientCount"`
	Attempts       int       `json:"attempts"`
	LastError      string    `json:"lastError,omitempty"`
	At             time.Time `json:"at"`
	// Data is the message as stored: a canonical event or a delivery
	// batch. Bulk answers leave it out.
	Data string `json:"data,omitempty"`
}

func viewDeadLetter(d hub.DeadLetter, withData bool) deadLetterView {
	in := deadletter.Describe(d)
	v := deadLetterView{Seq: d.Seq, Topic: d.Topic, Key: d.Message.Key, Reason: d.Reason, Events: in.Events, Channel: in.Channel,
		Recipients: in.Recipients[:min(len(in.Recipients), maxViewRecipients)], RecipientCount: len(in.Recipients),
		Attempts: in.Attempts, LastError: in.LastError, At: d.At}
	if withData {
		v.Data = string(d.Message.Data)
	}
	return v
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
		out[i] = viewDeadLetter(d, true)
	}
	writeJSON(w, http.StatusOK, map[string]any{"deadLetters": out})
}

// seqParam reads the {seq} path parameter, or answers 400.
func seqParam(w http.ResponseWriter, r *http.Request) (uint64, bool) {
	seq, err := strconv.ParseUint(r.PathValue("seq"), 10, 64)
	if err != nil || seq == 0 {
		problem.Write(w, problem.InvalidRequest, "", []event.FieldError{{Index: -1, Field: "seq", Problem: "must be a dead letter's seq"}}, 0)
		return 0, false
	}
	return seq, true
}

// replayDeadLetter sends dead letter {seq} back to its topic.
func (a *API) replayDeadLetter(w http.ResponseWriter, r *http.Request) {
	seq, ok := seqParam(w, r)
	if !ok {
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
		writeJSON(w, http.StatusAccepted, map[string]any{"replayed": viewDeadLetter(d, true)})
	}
}

// deleteDeadLetter removes dead letter {seq} for good.
func (a *API) deleteDeadLetter(w http.ResponseWriter, r *http.Request) {
	seq, ok := seqParam(w, r)
	if !ok {
		return
	}
	err := deadletter.Delete(r.Context(), a.deps.Hub, seq)
	switch {
	case errors.Is(err, deadletter.ErrNotFound):
		problem.Write(w, problem.NotFound, err.Error(), nil, 0)
	case err != nil:
		a.log.Error("deleting a dead letter failed", "seq", seq, "err", err)
		problem.Write(w, problem.HubUnavailable, "The hub did not delete the dead letter; try again.", nil, time.Second)
	default:
		a.log.Info("dead letter deleted", "seq", seq)
		w.WriteHeader(http.StatusNoContent)
	}
}

// bulkRequest is the body of POST /v1/deadletters:replay and :purge: which
// dead letters, by filter, or all of them.
type bulkRequest struct {
	// All selects every dead letter; required when no filter is given, so
	// that an empty body does not touch everything.
	All    bool   `json:"all,omitempty"`
	Topic  string `json:"topic,omitempty"`
	Reason string `json:"reason,omitempty"`
	Event  string `json:"event,omitempty"`
	// Channel and User select delivery batches of a channel or naming a
	// person.
	Channel string `json:"channel,omitempty"`
	User    string `json:"user,omitempty"`
	// Before and OlderThan (a Go duration such as "24h") select dead
	// letters stored before a time.
	Before    time.Time `json:"before,omitzero"`
	OlderThan string    `json:"olderThan,omitempty"`
	// DryRun answers what would be replayed or purged without doing it.
	DryRun bool `json:"dryRun,omitempty"`
}

// bulkAnswer is the answer to a bulk request.
type bulkAnswer struct {
	DryRun bool `json:"dryRun"`
	// Matched counts the dead letters the filter selected.
	Matched int `json:"matched"`
	// Replayed or Purged counts what was done.
	Replayed *int `json:"replayed,omitempty"`
	Purged   *int `json:"purged,omitempty"`
	// DeadLetters are the first 1,000 selected, without their data.
	DeadLetters []deadLetterView `json:"deadLetters"`
}

const maxBulkBody = 16 << 10

// readBulk reads and checks a bulk request, or answers 400.
func readBulk(w http.ResponseWriter, r *http.Request) (deadletter.Filter, bool, bool) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBulkBody))
	if err != nil {
		problem.Write(w, problem.PayloadTooLarge, fmt.Sprintf("A dead-letter filter is at most %d bytes.", maxBulkBody), nil, 0)
		return deadletter.Filter{}, false, false
	}
	var req bulkRequest
	if len(bytes.TrimSpace(body)) > 0 {
		dec := json.NewDecoder(bytes.NewReader(body))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&req); err != nil {
			problem.Write(w, problem.InvalidRequest, "The body is not a dead-letter filter: "+err.Error(), nil, 0)
			return deadletter.Filter{}, false, false
		}
	}
	f := deadletter.Filter{Topic: req.Topic, Reason: req.Reason, Event: req.Event, Channel: req.Channel, User: req.User, Before: req.Before}
	var errs []event.FieldError
	if f.Topic != "" && f.Topic != hub.TopicEvents && f.Topic != hub.TopicDeliveries {
		errs = append(errs, event.FieldError{Index: -1, Field: "topic", Problem: "must be events or deliveries"})
	}
	if req.OlderThan != "" {
		d, err := time.ParseDuration(req.OlderThan)
		if err != nil || d <= 0 {
			errs = append(errs, event.FieldError{Index: -1, Field: "olderThan", Problem: "must be a positive duration such as 30m or 24h"})
		} else if cut := time.Now().Add(-d); f.Before.IsZero() || cut.Before(f.Before) {
			f.Before = cut
		}
	}
	if f.IsZero() && !req.All {
		errs = append(errs, event.FieldError{Index: -1, Field: "all", Problem: "give a filter (topic, reason, event, channel, user, before, olderThan) or \"all\": true"})
	}
	if len(errs) > 0 {
		problem.Write(w, problem.InvalidRequest, fmt.Sprintf("%d problem(s) found; nothing was done.", len(errs)), errs, 0)
		return deadletter.Filter{}, false, false
	}
	return f, req.DryRun, true
}

func bulkViews(list []hub.DeadLetter) []deadLetterView {
	out := make([]deadLetterView, 0, min(len(list), 1000))
	for _, d := range list[:min(len(list), 1000)] {
		out = append(out, viewDeadLetter(d, false))
	}
	return out
}

// replayDeadLetters handles POST /v1/deadletters:replay: every dead letter
// the filter selects goes back to its topic (safe to repeat).
func (a *API) replayDeadLetters(w http.ResponseWriter, r *http.Request) {
	f, dryRun, ok := readBulk(w, r)
	if !ok {
		return
	}
	var list []hub.DeadLetter
	var err error
	if dryRun {
		list, err = deadletter.Select(r.Context(), a.deps.Hub, f)
	} else {
		list, err = deadletter.ReplayMatching(r.Context(), a.deps.Hub, f)
	}
	if err != nil {
		a.log.Error("replaying dead letters failed", "replayed", len(list), "err", err)
		problem.Write(w, problem.HubUnavailable, fmt.Sprintf("%d dead letter(s) replayed before the hub failed: %v. Replaying again is safe.", len(list), err), nil, time.Second)
		return
	}
	ans := bulkAnswer{DryRun: dryRun, Matched: len(list), DeadLetters: bulkViews(list)}
	status := http.StatusOK
	if !dryRun {
		n := len(list)
		ans.Replayed, status = &n, http.StatusAccepted
		a.log.Info("dead letters replayed", "count", n, "filter", fmt.Sprintf("%+v", f))
	}
	writeJSON(w, status, ans)
}

// purgeDeadLetters handles POST /v1/deadletters:purge: every dead letter
// the filter selects is removed for good.
func (a *API) purgeDeadLetters(w http.ResponseWriter, r *http.Request) {
	f, dryRun, ok := readBulk(w, r)
	if !ok {
		return
	}
	list, n, err := deadletter.Purge(r.Context(), a.deps.Hub, f, dryRun)
	if err != nil {
		a.log.Error("purging dead letters failed", "purged", n, "err", err)
		problem.Write(w, problem.HubUnavailable, fmt.Sprintf("%d dead letter(s) purged before the hub failed: %v. Purging again is safe.", n, err), nil, time.Second)
		return
	}
	ans := bulkAnswer{DryRun: dryRun, Matched: len(list), DeadLetters: bulkViews(list)}
	if !dryRun {
		ans.Purged = &n
		a.log.Info("dead letters purged", "count", n, "filter", fmt.Sprintf("%+v", f))
	}
	writeJSON(w, http.StatusOK, ans)
}
