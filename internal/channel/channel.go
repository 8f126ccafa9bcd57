// Package channel defines how a notification reaches people over one
// channel (inbox, conversation, mobile, webpush): the Channel interface, the
// outcome errors a channel returns, and the registry the delivery workers
// look channels up in. Channel implementations live in child packages.
package channel

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/herald/herald/internal/event"
)

// Job is one notification for one person on one channel.
type Job struct {
	Event  event.Event
	UserID string
	// Attempt is 1 on the first try.
	Attempt int
}

// Result is the outcome of one job: Err nil means delivered. Otherwise Err
// is a *PermanentError (do not retry), a *RetryAfterError (retry no sooner
// than its delay) or any other error (retry with backoff).
type Result struct {
	Err error
}

// Channel delivers jobs over one medium.
type Channel interface {
	// Name is the channel's stable name, one of the prefs channel names.
	Name() string
	// Deliver attempts every job and returns one result per job, in order.
	// It returns early only when ctx ends, with ctx's error in the results.
	Deliver(ctx context.Context, jobs []Job) []Result
}

// PermanentError marks a failure that retrying cannot fix, such as an
// unregistered device; Retire says the recipient's address should be retired.
type PermanentError struct {
	Err    error
	Retire bool
}

func (e *PermanentError) Error() string { return "permanent: " + e.Err.Error() }
func (e *PermanentError) Unwrap() error { return e.Err }

// Permanent wraps err as a failure not worth retrying.
func Permanent(err error) error { return &PermanentError{Err: err} }

// RetryAfterError asks for a retry no sooner than After, as a provider's
// Retry-After header does.
type RetryAfterError struct {
	Err   error
	After time.Duration
}

func (e *RetryAfterError) Error() string {
	return fmt.Sprintf("retry after %s: %v", e.After, e.Err)
}
func (e *RetryAfterError) Unwrap() error { return e.Err }

// RetryAfter wraps err with the delay a provider asked for.
func RetryAfter(d time.Duration, err error) error { return &RetryAfterError{Err: err, After: d} }

// PostponedError says a job was not attempted because the channel's own
// rate limits would hold it longer than one delivery call should take; the
// worker schedules it again after After without counting an attempt and
// records it as deferred meanwhile.
type PostponedError struct {
	After  time.Duration
	Reason string
}

func (e *PostponedError) Error() string {
	return fmt.Sprintf("postponed %s: %s", e.After.Round(time.Millisecond), e.Reason)
}

// Postpone says a job waits for the channel's rate limits for d.
func Postpone(d time.Duration, reason string) error { return &PostponedError{After: d, Reason: reason} }

// Addresser is a channel whose addresses live in herald's store (stored
// conversations, registered devices). The handler asks it, for a batch of
// people at planning time, who has one, and records the others as
// unreachable at once instead of queueing a delivery that can only fail.
type Addresser interface {
	// Reachable returns which of users have an address on the channel,
	// and the reason to give for those who have none.
	Reachable(ctx context.Context, users []string) (reachable map[string]bool, none string, err error)
}

// ErrNoAddress is returned (wrapped) for a person with no usable address
// on the channel: no registered device, no stored conversation. It is
// recorded as the outcome "unreachable", not as a failure.
var ErrNoAddress = errors.New("no usable address on this channel")

// IsPermanent reports whether err is a permanent failure.
func IsPermanent(err error) bool {
	var p *PermanentError
	return errors.As(err, &p)
}

// Registry holds the channels a herald process can deliver through.
type Registry struct {
	byName map[string]Channel
}

// NewRegistry builds a registry; names must be unique.
func NewRegistry(chs ...Channel) (*Registry, error) {
	r := &Registry{byName: make(map[string]Channel, len(chs))}
	for _, c := range chs {
		if _, dup := r.byName[c.Name()]; dup {
			return nil, fmt.Errorf("channel %q registered twice", c.Name())
		}
		r.byName[c.Name()] = c
	}
	return r, nil
}

// Get returns the channel called name and whether it is configured.
func (r *Registry) Get(name string) (Channel, bool) {
	c, ok := r.byName[name]
	return c, ok
}

// Names lists the configured channels, sorted.
func (r *Registry) Names() []string {
	out := make([]string, 0, len(r.byName))
	for n := range r.byName {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}
