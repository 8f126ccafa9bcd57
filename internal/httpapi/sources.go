package httpapi

import (
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/herald/herald/internal/event"
	"github.com/herald/herald/internal/ingest"
	"github.com/herald/herald/internal/problem"
	"github.com/herald/herald/internal/source"
)

// SourceAnswer is the 202 answer of POST /v1/sources/{name}: the stored
// event, or none when the source's filter left the payload out.
type SourceAnswer struct {
	ingest.Response
	// Filtered is set when the filter yielded false: nothing was stored.
	Filtered bool `json:"filtered,omitempty"`
}

// postSource takes an upstream system's payload: it authenticates the
// request with the source's own credentials (not an API key), maps the
// payload and stores the event as POST /v1/events does.
func (a *API) postSource(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	src, ok := a.deps.Sources.Get(name)
	if !ok {
		a.rejectSource(w, problem.NotFound, fmt.Sprintf("No source named %q. Sources are the definitions in herald's --sources directory; GET /v1/sources lists them.", name), nil)
		return
	}
	if a.draining.Load() {
		a.rejectSource(w, problem.ShuttingDown, "This herald process is shutting down; send to another one or retry shortly.", nil)
		return
	}
	body, code, detail := a.deps.Ingest.ReadBody(w, r)
	if code != "" {
		a.rejectSource(w, code, detail, nil)
		return
	}
	now := time.Now()
	if err := src.Verify(r.Header, body, now); err != nil {
		var ae *source.AuthError
		if !errors.As(err, &ae) {
			a.log.Error("source cannot verify requests", "source", name, "err", err)
			a.rejectSource(w, problem.Internal, "The source cannot check credentials.", nil)
			return
		}
		a.log.Info("upstream request refused", "source", name, "reason", ae.Reason, "remote", r.RemoteAddr)
		a.rejectSource(w, problem.SourceUnauthenticated, ae.Error(), []event.FieldError{{Index: -1, Field: ae.Header, Problem: ae.Reason}})
		return
	}
	res, err := src.Map(r.Context(), body, r.Header, now.UTC())
	var me *source.MapError
	var ve *event.ValidationError
	switch {
	case errors.As(err, &me):
		a.rejectSource(w, problem.MappingFailed, fmt.Sprintf("Source %s: %s; nothing was accepted.", name, me), []event.FieldError{{Index: -1, Field: me.Step, Problem: me.Problem}})
		return
	case errors.As(err, &ve):
		a.rejectSource(w, problem.InvalidEvent, fmt.Sprintf("Source %s mapped the payload to an invalid event: %d problem(s); nothing was accepted.", name, len(ve.Errors)), ve.Errors)
		return
	case err != nil:
		a.log.Error("mapping failed", "source", name, "err", err)
		a.rejectSource(w, problem.Internal, "The payload could not be mapped.", nil)
		return
	}
	answer := SourceAnswer{Response: ingest.Response{Accepted: []ingest.Accepted{}}}
	if res.Filtered {
		answer.Filtered = true
		writeJSON(w, http.StatusAccepted, answer)
		return
	}
	ev := res.Event
	err = a.deps.Ingest.Publish(r.Context(), []event.Event{ev})
	var backlog *ingest.BacklogError
	if errors.As(err, &backlog) {
		a.rejectSource(w, problem.Backlog, err.Error()+"; nothing was accepted.", nil, backlog.RetryAfter)
		return
	}
	if err != nil {
		a.log.Warn("hub refused a source's event", "source", name, "event", ev.ID, "err", err)
		a.rejectSource(w, problem.HubUnavailable, "The event was not stored; nothing was accepted. Retry the same request: the event id makes it safe.", nil)
		return
	}
	if a.deps.Metrics != nil {
		a.deps.Metrics.EventsIngested.WithLabelValues("source").Inc()
	}
	answer.Accepted = []ingest.Accepted{{ID: ev.ID, Source: ev.Source, SourceID: ev.SourceID}}
	writeJSON(w, http.StatusAccepted, answer)
}

// rejectSource answers an upstream request with a problem, counted with
// the ingest rejections.
func (a *API) rejectSource(w http.ResponseWriter, code problem.Code, detail string, fields []event.FieldError, retryAfter ...time.Duration) {
	retry := time.Duration(0)
	switch {
	case len(retryAfter) > 0:
		retry = retryAfter[0]
	case code == problem.HubUnavailable, code == problem.ShuttingDown:
		retry = time.Second
	}
	a.deps.Ingest.Refuse(w, code, detail, retry, fields...)
}

// listSources answers GET /v1/sources: every definition, secrets shown only
// as their references.
func (a *API) listSources(w http.ResponseWriter, _ *http.Request) {
	views := []source.View{}
	for _, s := range a.deps.Sources.List() {
		views = append(views, s.View())
	}
	writeJSON(w, http.StatusOK, map[string]any{"sources": views})
}

// getSource answers GET /v1/sources/{name}.
func (a *API) getSource(w http.ResponseWriter, r *http.Request) {
	s, ok := a.deps.Sources.Get(r.PathValue("name"))
	if !ok {
		problem.Write(w, problem.NotFound, fmt.Sprintf("No source named %q.", r.PathValue("name")), nil, 0)
		return
	}
	writeJSON(w, http.StatusOK, s.View())
}
