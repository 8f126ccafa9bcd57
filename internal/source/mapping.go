package source

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/itchyny/gojq"

	"github.com/herald/herald/internal/event"
)

// MapBudget bounds the time one payload's filter and map programs may take
// together; a program still running then (a loop) fails its step.
const MapBudget = time.Second

// MapError says which step of a mapping failed and why.
type MapError struct {
	// Step is StepBody, StepFilter or one of the map steps.
	Step string
	// Problem says what went wrong.
	Problem string
}

func (e *MapError) Error() string { return e.Step + ": " + e.Problem }

// Result is what a payload maps to.
type Result struct {
	// Filtered is set when the filter yielded false: nothing is ingested.
	Filtered bool
	// Event is the canonical event when not Filtered.
	Event event.Event
}

// program is one compiled jq program of a definition.
type program struct {
	step, expr string
	code       *gojq.Code
}

// compile parses and compiles expr for step, reporting problems with add.
// Programs see only the payload and $headers: no environment, no input.
func compile(step, expr string, add func(string, ...any)) *program {
	q, err := gojq.Parse(expr)
	if err != nil {
		var pe *gojq.ParseError
		if errors.As(err, &pe) {
			add("%s: jq syntax error at offset %d of %q: %v", step, pe.Offset, clip(expr, 200), err)
		} else {
			add("%s: jq syntax error: %v", step, err)
		}
		return nil
	}
	code, err := gojq.Compile(q,
		gojq.WithEnvironLoader(func() []string { return nil }),
		gojq.WithVariables([]string{"$headers"}))
	if err != nil {
		add("%s: jq: %v", step, err)
		return nil
	}
	return &program{step: step, expr: expr, code: code}
}

// errNoValue reports a program that yielded nothing.
var errNoValue = errors.New("yielded no value")

// one runs p and returns its only value.
func (p *program) one(ctx context.Context, input, headers any) (any, error) {
	iter := p.code.RunWithContext(ctx, input, headers)
	v, ok := iter.Next()
	if !ok {
		return nil, errNoValue
	}
	if err, isErr := v.(error); isErr {
		return nil, jqProblem(ctx, err)
	}
	if extra, more := iter.Next(); more {
		if err, isErr := extra.(error); isErr {
			return nil, jqProblem(ctx, err)
		}
		return nil, errors.New("yielded more than one value: wrap the program in [...] to make an array, or in first(...)")
	}
	return v, nil
}

func jqProblem(ctx context.Context, err error) error {
	if ctx.Err() != nil || errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("did not finish within %s (is there a loop?)", MapBudget)
	}
	var halt *gojq.HaltError
	if errors.As(err, &halt) && halt.Value() == nil {
		return errors.New("jq error: halted")
	}
	// error("message") reads better without the value's JSON quoting.
	var ve gojq.ValueError
	if errors.As(err, &ve) {
		if msg, ok := ve.Value().(string); ok {
			return errors.New("jq error: " + msg)
		}
	}
	return fmt.Errorf("jq error: %v", err)
}

// Map runs the filter and the map programs on body (the upstream request's
// JSON, with its header) and returns the canonical event, valid as if sent
// to POST /v1/events and stamped receivedAt. It fails with a *MapError
// naming the step (body, filter, map.*) or with an *event.ValidationError
// whose problems say which map step gave the field.
func (s *Source) Map(ctx context.Context, body []byte, header http.Header, receivedAt time.Time) (Result, error) {
	input, err := decodePayload(body)
	if err != nil {
		return Result{}, &MapError{StepBody, err.Error()}
	}
	ctx, cancel := context.WithTimeout(ctx, MapBudget)
	defer cancel()
	headers := headerVar(header)
	if s.filter != nil {
		v, err := s.filter.one(ctx, input, headers)
		if err != nil {
			return Result{}, &MapError{StepFilter, err.Error()}
		}
		keep, ok := v.(bool)
		if !ok {
			return Result{}, &MapError{StepFilter, "must yield true or false, got " + preview(v)}
		}
		if !keep {
			return Result{Filtered: true}, nil
		}
	}
	ce := map[string]any{"specversion": "1.0", "source": "urn:herald:source:" + s.def.Name}
	if s.def.Map.ID == "" {
		sum := sha256.Sum256(body)
		ce["id"] = hex.EncodeToString(sum[:16])
	}
	data := map[string]any{}
	for _, p := range s.steps {
		v, err := p.one(ctx, input, headers)
		if err != nil && !errors.Is(err, errNoValue) {
			return Result{}, &MapError{p.step, err.Error()}
		}
		if v == nil {
			switch p.step {
			case StepSubject, StepTime, StepAudience:
				continue // optional: left out
			}
			what := "null"
			if err != nil {
				what = "no value"
			}
			return Result{}, &MapError{p.step, "yielded " + what + ", but a value is required (does the payload have the field the program reads?)"}
		}
		switch p.step {
		case StepAudience:
			data["audience"] = v
		case StepNotification:
			data["notification"] = v
		default:
			ce[strings.TrimPrefix(p.step, "map.")] = v
		}
	}
	ce["data"] = data
	structured, err := gojq.Marshal(ce)
	if err != nil {
		return Result{}, &MapError{StepNotification, "the mapped event cannot be written as JSON: " + err.Error()}
	}
	ev, err := event.ParseStructured(structured, receivedAt)
	if err != nil {
		var ve *event.ValidationError
		if errors.As(err, &ve) {
			return Result{}, s.annotate(ve)
		}
		return Result{}, err
	}
	return Result{Event: ev}, nil
}

// annotate says which map step gave each offending field.
func (s *Source) annotate(ve *event.ValidationError) *event.ValidationError {
	out := &event.ValidationError{Errors: make([]event.FieldError, len(ve.Errors))}
	for i, fe := range ve.Errors {
		if step := stepOf(fe.Field); step != "" {
			if s.defines(step) {
				fe.Problem += " (from " + step + ")"
			} else {
				fe.Problem += " (" + step + " is not defined)"
			}
		}
		out.Errors[i] = fe
	}
	return out
}

func (s *Source) defines(step string) bool {
	for _, p := range s.steps {
		if p.step == step {
			return true
		}
	}
	return false
}

// stepOf names the map step that produces a canonical field.
func stepOf(field string) string {
	head, _, _ := strings.Cut(field, "[")
	switch {
	case head == "id" || head == "source" || head == "type" || head == "subject" || head == "time":
		return "map." + head
	case strings.HasPrefix(head, "data.audience"):
		return StepAudience
	case strings.HasPrefix(head, "data.notification"):
		return StepNotification
	}
	return ""
}

// decodePayload reads exactly one JSON value, keeping numbers exact (a
// 20-digit id stays that id).
func decodePayload(body []byte) (any, error) {
	if len(bytes.TrimSpace(body)) == 0 {
		return nil, errors.New("the body is empty; a JSON payload is expected")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, malformed(err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, fmt.Errorf("malformed JSON: more data after the payload at byte %d", dec.InputOffset())
	}
	return v, nil
}

func malformed(err error) error {
	var se *json.SyntaxError
	switch {
	case errors.As(err, &se):
		return fmt.Errorf("malformed JSON at byte %d: %s", se.Offset, strings.TrimPrefix(se.Error(), "json: "))
	case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		return errors.New("malformed JSON: the body ends before the value is complete")
	}
	return fmt.Errorf("malformed JSON: %s", strings.TrimPrefix(err.Error(), "json: "))
}

// headerVar is $headers: lower-case names to values (several joined with
// ", "), without credentials.
func headerVar(h http.Header) map[string]any {
	out := make(map[string]any, len(h))
	for name, vals := range h {
		n := strings.ToLower(name)
		if n == "authorization" || n == "cookie" || n == "proxy-authorization" {
			continue
		}
		out[n] = strings.Join(vals, ", ")
	}
	return out
}

// preview shows a jq value in an error message.
func preview(v any) string {
	return gojq.TypeOf(v) + " " + gojq.Preview(v)
}
