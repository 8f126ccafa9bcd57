// Package store defines herald's persistent state behind one interface:
// preferences, the inbox, delivery outcomes and event status, and API keys.
// Drivers live in child packages with embedded, versioned migrations, and all
// pass the behaviour suite in storetest. The package holds no driver code.
package store

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/herald/herald/internal/event"
	"github.com/herald/herald/internal/prefs"
)

// ErrNotFound is returned when the thing asked for does not exist.
var ErrNotFound = errors.New("not found")

// Outcome is the result of one channel's delivery to one person.
type Outcome string

// Outcomes recorded for deliveries. Pending is implied: a planned delivery
// with no record yet.
const (
	Delivered         Outcome = "delivered"
	SkippedPreference Outcome = "skipped_preference"
	NotConfigured     Outcome = "not_configured"
	Expired           Outcome = "expired"
	// Failed is a permanent failure: retrying cannot help.
	Failed Outcome = "failed"
	// Unreachable means the person has no usable address on the channel
	// (no registered device, no stored conversation).
	Unreachable Outcome = "unreachable"
	// Deferred waits for the end of the person's quiet hours; not final.
	Deferred Outcome = "deferred"
	// Retrying is a failure that will be tried again; it is not final.
	Retrying     Outcome = "retrying"
	DeadLettered Outcome = "dead_lettered"
	// Digested means the notification went out inside a digest, a
	// notification of its own whose id the reason names.
	Digested Outcome = "digested"
	// NotEscalated means the person read the notification before it was
	// due to escalate to their devices, so it was not sent there.
	NotEscalated Outcome = "not_escalated"
)

// Final reports whether no further attempt will change the outcome.
func (o Outcome) Final() bool { return o != Retrying && o != Deferred }

// Done reports whether a resend must leave the delivery alone: it is final
// and not dead-lettered (replaying a dead letter exists to try again).
func (o Outcome) Done() bool { return o.Final() && o != DeadLettered }

// DeliveryRecord is the outcome of one (event, person, channel).
type DeliveryRecord struct {
	EventID  string
	UserID   string
	Channel  string
	Outcome  Outcome
	Reason   string
	Attempts int
	At       time.Time
}

// Plan is what the handler records for one event, in one transaction with
// the other plans of its batch: the event, how many (person, channel) pairs
// it targets, the outcomes decided while planning (skips, channels not
// configured, expiry, and inbox deliveries) and the inbox items to add.
type Plan struct {
	Event event.Event
	// Targeted counts planned (person, channel) deliveries, skipped ones included.
	Targeted int
	// PlannedAt is when the handler planned it.
	PlannedAt time.Time
	// Outcomes decided while planning. They are stored with the event, not
	// as one row each, so that planning writes little.
	Outcomes []DeliveryRecord
	// Inbox items delivered by this plan; IDs are the event id.
	Inbox []InboxItem
}

// InboxItem is a notification in a person's inbox.
type InboxItem struct {
	// Seq orders a person's inbox; it is the pagination cursor.
	Seq       int64           `json:"-"`
	ID        string          `json:"id"`
	UserID    string          `json:"userId"`
	EventID   string          `json:"eventId"`
	Title     string          `json:"title,omitempty"`
	Message   string          `json:"message"`
	Category  string          `json:"category,omitempty"`
	Urgency   event.Urgency   `json:"urgency"`
	Actions   []event.Action  `json:"actions,omitempty"`
	Data      json.RawMessage `json:"data,omitempty"`
	Locale    string          `json:"locale,omitempty"`
	ExpiresAt *time.Time      `json:"expiresAt,omitempty"`
	CreatedAt time.Time       `json:"createdAt"`
	ReadAt    *time.Time      `json:"readAt,omitempty"`
}

// InboxQuery selects a page of a person's inbox, newest first.
type InboxQuery struct {
	UserID string
	// Before is the cursor: only items with Seq < Before (0: from the newest).
	Before     int64
	Limit      int
	UnreadOnly bool
}

// ChannelCounts counts outcomes for one channel of one event.
type ChannelCounts struct {
	Targeted int            `json:"targeted"`
	Pending  int            `json:"pending"`
	Outcomes map[string]int `json:"outcomes"`
}

// EventStatus summarises an event's deliveries.
type EventStatus struct {
	Event      event.Event
	PlannedAt  time.Time
	Targeted   int
	Channels   map[string]*ChannelCounts
	Recipients []DeliveryRecord
}

// Role is what an API key may do.
type Role string

// The roles an API key can have.
const (
	RoleProducer Role = "producer"
	RoleReader   Role = "reader"
	RoleAdmin    Role = "admin"
)

// APIKey is a stored key; the secret itself is never stored, only its hash.
type APIKey struct {
	ID        string
	Name      string
	Role      Role
	Hash      []byte
	CreatedAt time.Time
}

// PrepareAPIKey checks k before a driver stores it and fills in what may
// be left empty: CreatedAt (now) and Hash (empty: the column is NOT NULL).
// The id is required.
func PrepareAPIKey(k APIKey) (APIKey, error) {
	if k.ID == "" {
		return APIKey{}, errors.New("empty id")
	}
	if k.CreatedAt.IsZero() {
		k.CreatedAt = time.Now()
	}
	if k.Hash == nil {
		k.Hash = []byte{}
	}
	return k, nil
}

// Store is herald's persistent state. Every method is safe for concurrent
// use. Writes that may be repeated after a crash are idempotent.
type Store interface {
	Audiences
	Conversations
	Transcripts
	Timers

	// LoadPreferences returns the preferences of every user in ids, creating
	// and storing the default record for users seen for the first time.
	LoadPreferences(ctx context.Context, ids []string) (map[string]prefs.Preferences, error)
	// SavePreferences stores p, replacing the user's record.
	SavePreferences(ctx context.Context, p prefs.Preferences) error

	// RecordPlans stores plans and adds their inbox items, all in one
	// transaction, and returns the inbox items actually added (with Seq
	// set). Repeating it is harmless: an event keeps its first plan and an
	// inbox item already present (same user and event) is left alone.
	RecordPlans(ctx context.Context, plans []Plan) ([]InboxItem, error)
	// RecordOutcomes upserts outcomes of deliveries made after planning; a
	// recorded outcome overrides the planned one for the same (event,
	// person, channel).
	RecordOutcomes(ctx context.Context, outcomes []DeliveryRecord) error
	// FinalOutcomes returns which of users already have a final recorded
	// outcome for (event, channel) other than dead_lettered, so that a
	// re-published batch sends nothing twice while a replayed dead letter
	// is tried again.
	FinalOutcomes(ctx context.Context, eventID, channel string, users []string) (map[string]bool, error)
	// EventStatus summarises an event; recipients lists at most
	// recipientLimit delivery records. ErrNotFound if never planned.
	EventStatus(ctx context.Context, eventID string, recipientLimit int) (EventStatus, error)

	// ListInbox returns a page of an inbox, newest first.
	ListInbox(ctx context.Context, q InboxQuery) ([]InboxItem, error)
	// UnreadCount counts a person's unread notifications.
	UnreadCount(ctx context.Context, userID string) (int, error)
	// MarkRead marks one notification read; ErrNotFound if it is not in the
	// user's inbox. Marking twice keeps the first time.
	MarkRead(ctx context.Context, userID, notificationID string, at time.Time) (InboxItem, error)

	// CreateAPIKey stores a key.
	CreateAPIKey(ctx context.Context, k APIKey) error
	// APIKey returns a key by id; ErrNotFound if absent.
	APIKey(ctx context.Context, id string) (APIKey, error)
	// APIKeys lists keys, without changing them.
	APIKeys(ctx context.Context) ([]APIKey, error)
	// DeleteAPIKey removes a key; ErrNotFound if absent.
	DeleteAPIKey(ctx context.Context, id string) error

	// Ping checks that the store answers.
	Ping(ctx context.Context) error
	// Close releases the store.
	Close() error

	// Devices (push installations).

	// RegisterDevice stores d under DeviceID(d.Platform, d.Token) and
	// returns the stored device. A token registered again, by the same or
	// another user, updates that device: it moves to d.UserID, takes d's
	// fields, becomes active again and keeps its CreatedAt.
	RegisterDevice(ctx context.Context, d Device) (Device, error)
	// ListDevices returns a user's devices, active and retired, oldest
	// first.
	ListDevices(ctx context.Context, userID string) ([]Device, error)
	// DeleteDevice removes one of a user's devices; ErrNotFound if the user
	// has no device with that id.
	DeleteDevice(ctx context.Context, userID, deviceID string) error
	// DevicesFor returns the active devices of users on the given
	// platforms (all platforms when none are given), in one batch.
	DevicesFor(ctx context.Context, userIDs []string, platforms ...Platform) ([]Device, error)
	// RetireDevice marks a device retired with the provider's reason;
	// retiring a retired device keeps the first reason. ErrNotFound if the
	// device does not exist.
	RetireDevice(ctx context.Context, deviceID, reason string, at time.Time) error
	// MarkDeviceDelivered records that events reached devices; repeating it
	// is harmless.
	MarkDeviceDelivered(ctx context.Context, ds []DeviceDelivery) error
	// DeviceDelivered returns which of keys were recorded as delivered.
	DeviceDelivered(ctx context.Context, keys []DeviceDeliveryKey) (map[DeviceDeliveryKey]bool, error)
	// PruneDeviceDeliveries deletes up to limit delivery records made
	// before before, oldest first, and returns how many it deleted.
	PruneDeviceDeliveries(ctx context.Context, before time.Time, limit int) (int, error)
}
