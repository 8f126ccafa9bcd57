package event

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"slices"
	"time"
)

// Urgency tells channels how interruptive a notification may be.
type Urgency string

// The urgencies a notification can carry; normal is the default.
const (
	UrgencyLow    Urgency = "low"
	UrgencyNormal Urgency = "normal"
	UrgencyHigh   Urgency = "high"
)

// Event is herald's canonical event: the CloudEvent attributes that matter
// downstream plus the audience and notification carried in its data.
type Event struct {
	// ID is herald's identifier, derived from (Source, SourceID) so that the
	// same CloudEvent sent twice maps to one event.
	ID string `json:"id"`
	// Source and SourceID are the CloudEvent's source and id attributes.
	Source   string `json:"source"`
	SourceID string `json:"sourceId"`
	// Type is the CloudEvent type, for example com.example.training.due.
	Type    string `json:"type"`
	Subject string `json:"subject,omitempty"`
	// Time is the CloudEvent time attribute, zero when absent.
	Time time.Time `json:"time,omitzero"`
	// ReceivedAt is when herald's ingest accepted the event.
	ReceivedAt   time.Time    `json:"receivedAt"`
	Audience     Audience     `json:"audience"`
	Notification Notification `json:"notification"`
}

// Audience names who should receive a notification: the union of Users,
// the members of Topics and, with All, every known person, less Exclude.
type Audience struct {
	Users   []string  `json:"users,omitempty"`
	Topics  []string  `json:"topics,omitempty"`
	All     bool      `json:"all,omitempty"`
	Exclude Exclusion `json:"exclude,omitzero"`
}

// Exclusion lists people left out of an audience.
type Exclusion struct {
	Users  []string `json:"users,omitempty"`
	Topics []string `json:"topics,omitempty"`
}

// Empty reports whether the audience names nobody.
func (a Audience) Empty() bool { return len(a.Users) == 0 && len(a.Topics) == 0 && !a.All }

// Broadcast reports whether the audience must be resolved from the store
// (topics, everyone, or excluded topics) rather than read from the event.
func (a Audience) Broadcast() bool { return a.All || len(a.Topics) > 0 || len(a.Exclude.Topics) > 0 }

// Recipients returns the listed users less the excluded ones, for an
// audience that is not a broadcast. Excluded topics need the store, so the
// handler applies them.
func (a Audience) Recipients() []string {
	if len(a.Exclude.Users) == 0 {
		return a.Users
	}
	out := make([]string, 0, len(a.Users))
	for _, u := range a.Users {
		if !slices.Contains(a.Exclude.Users, u) {
			out = append(out, u)
		}
	}
	return out
}

// Notification is what a person sees, whatever the channel.
type Notification struct {
	Title     string     `json:"title,omitempty"`
	Message   string     `json:"message"`
	Category  string     `json:"category,omitempty"`
	Urgency   Urgency    `json:"urgency,omitempty"`
	Actions   []Action   `json:"actions,omitempty"`
	ExpiresAt *time.Time `json:"expiresAt,omitempty"`
	// DeliverAt, when in the future, holds the notification back until
	// then; the handler keeps it in a durable timer.
	DeliverAt *time.Time `json:"deliverAt,omitempty"`
	// EscalateAfter, when set, sends the notification to the person's
	// devices (mobile, webpush) only if it is still unread in their inbox
	// that long after it was delivered there.
	EscalateAfter Duration        `json:"escalateAfter,omitzero"`
	Locale        string          `json:"locale,omitempty"`
	Data          json.RawMessage `json:"data,omitempty"`
}

// Duration is a time.Duration written in JSON as a Go duration string
// such as "30m" or "1h30m".
type Duration time.Duration

// MarshalText writes the duration as a Go duration string.
func (d Duration) MarshalText() ([]byte, error) { return []byte(time.Duration(d).String()), nil }

// UnmarshalText reads a Go duration string.
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	if err != nil {
		return err
	}
	*d = Duration(v)
	return nil
}

// Action is a button or link offered with a notification, such as
// "Start conversation".
type Action struct {
	// ID identifies the action to the code that handles it.
	ID    string `json:"id"`
	Title string `json:"title"`
	// URL, when set, makes the action a link.
	URL string `json:"url,omitempty"`
	// Value is handed back to the assistant when the action is chosen.
	Value json.RawMessage `json:"value,omitempty"`
}

// IDFor derives herald's event id from a CloudEvent's source and id: the
// first 16 bytes of their SHA-256, in hex. Equal inputs give equal ids, which
// is what makes a re-sent event idempotent.
func IDFor(source, sourceID string) string {
	var buf [512]byte // on the stack for the usual lengths
	in := append(append(append(buf[:0], source...), 0), sourceID...)
	sum := sha256.Sum256(in)
	var id [32]byte
	hex.Encode(id[:], sum[:16])
	return string(id[:])
}

// Scheduled reports whether the notification waits for its deliverAt at
// now.
func (n Notification) Scheduled(now time.Time) bool {
	return n.DeliverAt != nil && now.Before(*n.DeliverAt)
}

// Expired reports whether the notification's expiry has passed at now.
func (n Notification) Expired(now time.Time) bool {
	return n.ExpiresAt != nil && !now.Before(*n.ExpiresAt)
}
