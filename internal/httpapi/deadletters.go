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
	out := make([]deadletter.View, len(list))
	for i, d := range list {
		out[i] = deadletter.ViewOf(d, true)
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
		writeJSON(w, http.StatusAccepted, map[string]any{"replayed": deadletter.ViewOf(d, true)})
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

const maxBulkBody = 16 << 10

// readBulk reads and checks a bulk request (a deadletter.Request), or
// answers 400. Unknown fields are refused: a misspelt filter must not
// widen a purge.
func readBulk(w http.ResponseWriter, r *http.Request) (deadletter.Filter, bool, bool) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBulkBody))
	if err != nil {
		problem.Write(w, problem.PayloadTooLarge, fmt.Sprintf("A dead-letter filter is at most %d bytes.", maxBulkBody), nil, 0)
		return deadletter.Filter{}, false, false
	}
	var req deadletter.Request
	if len(bytes.TrimSpace(body)) > 0 {
		dec := json.NewDecoder(bytes.NewReader(body))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&req); err != nil {
			problem.Write(w, problem.InvalidRequest, "The body is not a dead-letter filter: "+err.Error(), nil, 0)
			return deadletter.Filter{}, false, false
		}
	}
	f, errs := req.Selection(time.Now())
	if len(errs) > 0 {
		problem.Write(w, problem.InvalidRequest, fmt.Sprintf("%d problem(s) found; nothing was done.", len(errs)), errs, 0)
		return deadletter.Filter{}, false, false
	}
	return f, req.DryRun, true
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
	ans := deadletter.NewAnswer(dryRun, list)
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
	ans := deadletter.NewAnswer(dryRun, list)
	if !dryRun {
		ans.Purged = &n
		a.log.Info("dead letters purged", "count", n, "filter", fmt.Sprintf("%+v", f))
	}
	writeJSON(w, http.StatusOK, ans)
}
