// Package ingest is herald's edge for events: it reads CloudEvents over HTTP
// (structured, batch and binary modes, plus the original sample's bare JSON),
// validates them, and answers only after the hub has stored every accepted
// event durably. Nothing invalid reaches the hub: a batch is all or nothing.
package ingest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"time"

	"github.com/herald/herald/internal/event"
	"github.com/herald/herald/internal/hub"
	"github.com/herald/herald/internal/metrics"
	"github.com/herald/herald/internal/problem"
)

// Config bounds what one request may carry.
type Config struct {
	// MaxBodyBytes is the largest request body accepted (413 above it).
	MaxBodyBytes int64
	// MaxBatch is the most events in one batch request.
	MaxBatch int
	// MaxLag is the most events that may wait for the handler (its
	// backlog on the events topic) before new ones are refused with 429
	// and Retry-After; 0 means no bound.
	MaxLag int64
	// KeyRate is the most events per second one API key may send
	// (a token bucket per key; 429 with Retry-After above it); 0 means no
	// limit.
	KeyRate float64
}

// Defaults for Config.
const (
	DefaultMaxBodyBytes = 1 << 20
	DefaultMaxBatch     = 1000
)

// Ingest accepts events.
type Ingest struct {
	hub     hub.Hub
	cfg     Config
	log     *slog.Logger
	metrics *metrics.Metrics
	now     func() time.Time
	admit   *admission
}

// New returns an ingest edge publishing to h.
func New(h hub.Hub, cfg Config, log *slog.Logger, m *metrics.Metrics) *Ingest {
	if cfg.MaxBodyBytes <= 0 {
		cfg.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if cfg.MaxBatch <= 0 {
		cfg.MaxBatch = DefaultMaxBatch
	}
	log = log.With("component", "ingest")
	return &Ingest{hub: h, cfg: cfg, log: log, metrics: m, now: time.Now, admit: newAdmission(h, cfg, log)}
}

// Accepted names one stored event in the 202 answer.
type Accepted struct {
	ID       string `json:"id"`
	Source   string `json:"source"`
	SourceID string `json:"sourceId"`
}

// Response is the body of a 202 answer.
type Response struct {
	Accepted []Accepted `json:"accepted"`
}

// ServeHTTP handles POST /v1/events.
func (in *Ingest) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if err := in.admit.backlog(r.Context()); err != nil {
		in.refuseBacklog(w, err)
		return
	}
	events, mode, code, detail, fields := in.read(w, r)
	if code != "" {
		in.reject(w, code, detail, fields)
		return
	}
	if wait, ok := in.admit.take(rateKey(r.Context()), len(events)); !ok {
		in.Refuse(w, problem.RateLimited, fmt.Sprintf("This API key may send %g events per second (--key-rate); nothing was accepted. Retry after %s.", in.cfg.KeyRate, wait.Round(time.Millisecond)), wait)
		return
	}
	if err := in.Publish(r.Context(), events); errors.Is(err, ErrBacklog) {
		in.refuseBacklog(w, err)
		return
	} else if err != nil {
		in.log.Warn("hub refused events", "events", len(events), "err", err)
		in.reject(w, problem.HubUnavailable, "The events were not stored; nothing was accepted. Retry the same request: event ids make it safe.", nil)
		return
	}
	if in.metrics != nil {
		in.metrics.EventsIngested.WithLabelValues(mode).Add(float64(len(events)))
	}
	resp := Response{Accepted: make([]Accepted, len(events))}
	for i, ev := range events {
		resp.Accepted[i] = Accepted{ID: ev.ID, Source: ev.Source, SourceID: ev.SourceID}
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusAccepted)
	_ = json.NewEncoder(w).Encode(resp)
}

func (in *Ingest) reject(w http.ResponseWriter, code problem.Code, detail string, fields []event.FieldError) {
	retry := time.Duration(0)
	if code == problem.HubUnavailable {
		retry = time.Second
	}
	in.Refuse(w, code, detail, retry, fields...)
}

// refuseBacklog answers 429 backlog for a *BacklogError.
func (in *Ingest) refuseBacklog(w http.ResponseWriter, err error) {
	var be *BacklogError
	retry := backlogRetry
	if errors.As(err, &be) {
		retry = be.RetryAfter
	}
	in.Refuse(w, problem.Backlog, err.Error()+"; nothing was accepted.", retry)
}

// Refuse renders a refusal of events asking to retry after retry (none when
// 0) and counts it with the ingest rejections, for every edge that takes
// events.
func (in *Ingest) Refuse(w http.ResponseWriter, code problem.Code, detail string, retry time.Duration, fields ...event.FieldError) {
	if in.metrics != nil {
		in.metrics.IngestRejected.WithLabelValues(fmt.Sprint(problem.Table[code].Status)).Inc()
	}
	problem.Write(w, code, detail, fields, retry)
}

// ReadBody reads a request's body, at most Config.MaxBodyBytes of it, or
// returns the problem to answer: PayloadTooLarge above the limit,
// InvalidRequest when it cannot be read.
func (in *Ingest) ReadBody(w http.ResponseWriter, r *http.Request) (body []byte, code problem.Code, detail string) {
	limit := in.cfg.MaxBodyBytes
	if r.ContentLength > limit {
		return nil, problem.PayloadTooLarge, fmt.Sprintf("The body is %d bytes; at most %d are accepted.", r.ContentLength, limit)
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return nil, problem.PayloadTooLarge, fmt.Sprintf("The body is larger than %d bytes.", limit)
		}
		return nil, problem.InvalidRequest, "The body could not be read: " + err.Error()
	}
	return body, "", ""
}

// read parses the request into events, or says what is wrong.
func (in *Ingest) read(w http.ResponseWriter, r *http.Request) (events []event.Event, mode string, code problem.Code, detail string, fields []event.FieldError) {
	body, code, detail := in.ReadBody(w, r)
	if code == problem.PayloadTooLarge {
		detail += " Split the batch."
	}
	if code != "" {
		return nil, "", code, detail, nil
	}
	var err error
	now := in.now().UTC()
	ct := r.Header.Get("Content-Type")
	mt, _, _ := mime.ParseMediaType(ct)
	switch {
	case event.HasBinaryHeaders(r.Header):
		mode = "binary"
		var ev event.Event
		ev, err = event.ParseBinary(r.Header, body, now)
		events = []event.Event{ev}
	case mt == event.MediaCloudEvent:
		mode = "structured"
		var ev event.Event
		ev, err = event.ParseStructured(body, now)
		events = []event.Event{ev}
	case mt == event.MediaCloudEventBatch:
		mode = "batch"
		events, err = event.ParseBatch(body, in.cfg.MaxBatch, now)
	case mt == event.MediaJSON:
		var ev event.Event
		if looksStructured(body) {
			mode = "structured"
			ev, err = event.ParseStructured(body, now)
		} else {
			mode = "bare"
			ev, err = event.ParseLegacy(body, now)
		}
		events = []event.Event{ev}
	default:
		if ct == "" {
			ct = "none"
		}
		return nil, "", problem.UnsupportedMedia, fmt.Sprintf("Content-Type %s is not accepted. Use %s, %s, binary mode (ce-* headers with %s), or %s with a bare {\"userId\",\"message\"} body.",
			ct, event.MediaCloudEvent, event.MediaCloudEventBatch, event.MediaJSON, event.MediaJSON), nil
	}
	if err != nil {
		var ve *event.ValidationError
		if errors.As(err, &ve) {
			return nil, "", problem.InvalidEvent, fmt.Sprintf("%d problem(s) found; nothing was accepted.", len(ve.Errors)), ve.Errors
		}
		return nil, "", problem.InvalidEvent, err.Error(), nil
	}
	return events, mode, "", "", nil
}

// looksStructured reports whether a plain JSON body is a structured
// CloudEvent (it has a specversion member) rather than the bare sample form.
func looksStructured(body []byte) bool {
	if !bytes.Contains(body, []byte(`"specversion"`)) {
		return false
	}
	var probe struct {
		SpecVersion *json.RawMessage `json:"specversion"`
	}
	return json.Unmarshal(body, &probe) == nil && probe.SpecVersion != nil
}

// Publish stores events in the hub, each keyed by its recipient (or by its
// id when it has several) and de-duplicated by its id. While the handler is
// further behind than Config.MaxLag it stores nothing and returns a
// *BacklogError (errors.Is ErrBacklog): answer 429 with its RetryAfter.
func (in *Ingest) Publish(ctx context.Context, events []event.Event) error {
	if err := in.admit.backlog(ctx); err != nil {
		return err
	}
	msgs := make([]hub.Message, len(events))
	for i, ev := range events {
		data, err := json.Marshal(ev)
		if err != nil {
			return fmt.Errorf("encode event %s: %w", ev.ID, err)
		}
		key := ev.ID
		if len(ev.Audience.Users) == 1 {
			key = ev.Audience.Users[0]
		}
		msgs[i] = hub.Message{Key: key, ID: ev.ID, Data: data}
	}
	return in.hub.Publish(ctx, hub.TopicEvents, msgs...)
}
