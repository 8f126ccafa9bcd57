package event

import (
	"fmt"
	"strings"
)

// FieldError says what is wrong with one field of one event.
type FieldError struct {
	// Index is the event's position in a batch, or -1 outside a batch.
	Index int `json:"index"`
	// Field is the path of the offending field, such as data.audience.users[0].
	Field string `json:"field"`
	// Problem says what is wrong and what is expected instead.
	Problem string `json:"problem"`
}

func (e FieldError) String() string {
	if e.Index >= 0 {
		return fmt.Sprintf("event %d: %s: %s", e.Index, e.Field, e.Problem)
	}
	return e.Field + ": " + e.Problem
}

// ValidationError lists every problem found in the input; nothing from an
// input that fails validation is accepted.
type ValidationError struct {
	Errors []FieldError
}

func (e *ValidationError) Error() string {
	parts := make([]string, len(e.Errors))
	for i, fe := range e.Errors {
		parts[i] = fe.String()
	}
	return "invalid event: " + strings.Join(parts, "; ")
}

// problems collects field errors while one event is checked.
type problems struct {
	index int
	list  []FieldError
	// exact decodes with encoding/json alone: the reference the fast
	// splitting in split.go is held to (see FuzzFastMatchesExact).
	exact bool
}

func (p *problems) add(field, format string, args ...any) {
	if field == "" {
		field = `""` // a JSON member whose name is empty
	}
	p.list = append(p.list, FieldError{Index: p.index, Field: field, Problem: fmt.Sprintf(format, args...)})
}

func (p *problems) err() error {
	if len(p.list) == 0 {
		return nil
	}
	return &ValidationError{Errors: p.list}
}
