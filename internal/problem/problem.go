// Package problem is herald's one public table of HTTP errors. Every error an
// API answers with is rendered from it as application/problem+json (RFC
// 9457), with a stable code, the HTTP status, a message saying what to do,
// and, for validation errors, every offending field.
package problem

import (
	"encoding/json"
	"net/http"
	"strconv"
	"time"

	"github.com/herald/herald/internal/event"
)

// Code is a stable error code; clients branch on it.
type Code string

// Entry describes one kind of error.
type Entry struct {
	Status int
	Title  string
}

// The error table. Codes never change meaning once published; docs/api.md
// lists them.
const (
	InvalidEvent       Code = "invalid-event"
	InvalidRequest     Code = "invalid-request"
	InvalidPreferences Code = "invalid-preferences"
	PayloadTooLarge    Code = "payload-too-large"
	UnsupportedMedia   Code = "unsupported-media-type"
	Unauthenticated    Code = "unauthenticated"
	Forbidden          Code = "forbidden"
	NotFound           Code = "not-found"
	Conflict           Code = "conflict"
	HubUnavailable     Code = "hub-unavailable"
	StoreUnavailable   Code = "store-unavailable"
	ShuttingDown       Code = "shutting-down"
	Internal           Code = "internal"
	// RateLimited: the API key sent more events per second than its
	// limit (--key-rate); retry after Retry-After.
	RateLimited Code = "rate-limited"
	// Backlog: herald is further behind on its events than it allows
	// (--max-lag); retry after Retry-After.
	Backlog Code = "backlog"
	// SourceUnauthenticated: an upstream request to a source adapter
	// without valid credentials; the detail starts with the reason.
	SourceUnauthenticated Code = "source-unauthenticated"
	// MappingFailed: a source adapter could not map the upstream payload;
	// errors name the step (body, filter, map.*).
	MappingFailed Code = "mapping-failed"
)

// Table maps each code to its status and title.
var Table = map[Code]Entry{
	InvalidEvent:       {http.StatusBadRequest, "The event is invalid"},
	InvalidRequest:     {http.StatusBadRequest, "The request is invalid"},
	InvalidPreferences: {http.StatusBadRequest, "The preferences are invalid"},
	PayloadTooLarge:    {http.StatusRequestEntityTooLarge, "The request body is too large"},
	UnsupportedMedia:   {http.StatusUnsupportedMediaType, "Unsupported media type"},
	Unauthenticated:    {http.StatusUnauthorized, "An API key is required"},
	Forbidden:          {http.StatusForbidden, "The API key's role does not allow this"},
	NotFound:           {http.StatusNotFound, "Not found"},
	Conflict:           {http.StatusConflict, "The request conflicts with the current state"},
	HubUnavailable:     {http.StatusServiceUnavailable, "The event hub did not store the events"},
	StoreUnavailable:   {http.StatusServiceUnavailable, "The store did not answer"},
	ShuttingDown:       {http.StatusServiceUnavailable, "herald is shutting down"},
	Internal:           {http.StatusInternalServerError, "Internal error"},
	RateLimited:        {http.StatusTooManyRequests, "The API key's event rate is exceeded"},
	Backlog:            {http.StatusTooManyRequests, "herald is behind on its events; slow down"},

	SourceUnauthenticated: {http.StatusUnauthorized, "The upstream request is not authenticated"},
	MappingFailed:         {http.StatusBadRequest, "The source could not map the payload"},
}

// DocsBase prefixes each code to form the problem's type, a reference into
// the API documentation shipped with herald.
const DocsBase = "docs/api.md#error-"

// Document is the application/problem+json body.
type Document struct {
	Type   string             `json:"type"`
	Title  string             `json:"title"`
	Status int                `json:"status"`
	Code   Code               `json:"code"`
	Detail string             `json:"detail,omitempty"`
	Errors []event.FieldError `json:"errors,omitempty"`
}

// Write renders code with detail and optional field errors. retryAfter, when
// positive, is sent as a Retry-After header.
func Write(w http.ResponseWriter, code Code, detail string, fields []event.FieldError, retryAfter time.Duration) {
	e, ok := Table[code]
	if !ok {
		code, e = Internal, Table[Internal]
	}
	h := w.Header()
	h.Set("Content-Type", "application/problem+json")
	if retryAfter > 0 {
		h.Set("Retry-After", strconv.Itoa(int((retryAfter+time.Second-1)/time.Second)))
	}
	if code == Unauthenticated {
		h.Set("WWW-Authenticate", `Bearer realm="herald"`)
	}
	w.WriteHeader(e.Status)
	_ = json.NewEncoder(w).Encode(Document{Type: DocsBase + string(code), Title: e.Title, Status: e.Status, Code: code, Detail: detail, Errors: fields})
}
