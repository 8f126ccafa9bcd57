package store

import (
	"context"
	"encoding/json"
	"time"
)

// Timer is durable work due at a time: an event scheduled with deliverAt,
// the end of a digest window, an escalation to check. Timers live in the
// store so that they survive restarts; the handler's timer loop claims those
// that are due and acts on them. Acting must be idempotent, since a timer
// whose work was done but not yet deleted when a process died fires again.
type Timer struct {
	// Key names the timer; setting a key again replaces it. Keys are
	// compared byte by byte, so a prefix selects a family of timers
	// (TimersWithPrefix).
	Key string
	// Kind tells the timer loop what to do.
	Kind string
	// Due is when the timer fires.
	Due time.Time
	// Payload is what the work needs, as JSON; nil when nothing.
	Payload json.RawMessage
}

// Timers is the part of the store that keeps timers, and the inbox read
// state that escalations check.
type Timers interface {
	// SetTimers stores timers, replacing those with the same key.
	SetTimers(ctx context.Context, timers []Timer) error
	// AddTimers stores the timers whose key is not stored yet and leaves
	// the others as they are.
	AddTimers(ctx context.Context, timers []Timer) error
	// ClaimTimers returns up to limit timers due at now (Due <= now),
	// earliest first, and moves each one's stored Due to now+lease, so that
	// no other claim returns it until then: if the claimer dies before
	// deleting it, it fires again after the lease. The returned timers
	// carry the Due they had before the claim.
	ClaimTimers(ctx context.Context, now time.Time, lease time.Duration, limit int) ([]Timer, error)
	// TimersWithPrefix returns the timers whose key starts with prefix, in
	// key order.
	TimersWithPrefix(ctx context.Context, prefix string) ([]Timer, error)
	// DeleteTimers deletes the timers with these keys; absent keys are
	// ignored.
	DeleteTimers(ctx context.Context, keys []string) error

	// InboxReadAt tells, for each of users whose inbox holds the event's
	// notification, when they read it (the zero time while unread). Users
	// without the notification are left out.
	InboxReadAt(ctx context.Context, eventID string, users []string) (map[string]time.Time, error)
}
