package store

import (
	"context"
	"errors"
	"time"

	"github.com/herald/herald/internal/event"
	"github.com/herald/herald/internal/prefs"
)

// ErrConflict is returned when a write would break a uniqueness rule, such
// as creating a topic that exists.
var ErrConflict = errors.New("conflict")

// Topic is a named group of people, such as a department.
type Topic struct {
	Name        string    `json:"name"`
	Description string    `json:"description,omitempty"`
	Members     int       `json:"members"`
	CreatedAt   time.Time `json:"createdAt"`
}

// UserRecord is one person to import: preferences plus topic memberships.
type UserRecord struct {
	Preferences prefs.Preferences
	Topics      []string
}

// Broadcast states.
const (
	BroadcastRunning   = "running"
	BroadcastDone      = "done"
	BroadcastCancelled = "cancelled"
)

// Counts are a broadcast's planning counters: channel -> outcome -> n. Besides
// outcomes, the key "queued" counts deliveries handed to a channel worker.
type Counts map[string]map[string]int

// Queued is the Counts key for deliveries handed to channel workers, whose
// outcomes are recorded as delivery records.
const Queued = "queued"

// Add adds n to channel's key.
func (c Counts) Add(channel, key string, n int) {
	m := c[channel]
	if m == nil {
		m = map[string]int{}
		c[channel] = m
	}
	m[key] += n
}

// Broadcast is the durable progress of an event whose audience is resolved
// from the store (topics or everyone): people are visited in user-id order
// and Cursor is the last one done, so a restart resumes where it stopped.
type Broadcast struct {
	Event      event.Event
	State      string
	Cursor     string
	Recipients int
	Counts     Counts
	StartedAt  time.Time
	FinishedAt time.Time
}

// BroadcastChunk is one step of a broadcast, recorded atomically.
type BroadcastChunk struct {
	EventID string
	// From must equal the stored cursor; To becomes the new cursor.
	From, To   string
	Recipients int
	Counts     Counts
	// Inbox lists the people whose inbox gets the broadcast; its content
	// is stored once for everyone.
	Inbox []string
	// At is when the chunk was planned.
	At time.Time
}

// Audiences is the part of the store that resolves who gets a broadcast:
// topics and their members, bulk user import, and broadcast progress.
type Audiences interface {
	// CreateTopic creates a topic; ErrConflict if it exists.
	CreateTopic(ctx context.Context, name, description string) (Topic, error)
	// Topics lists every topic with its member count.
	Topics(ctx context.Context) ([]Topic, error)
	// Topic returns one topic; ErrNotFound if absent.
	Topic(ctx context.Context, name string) (Topic, error)
	// DeleteTopic removes a topic and its memberships; ErrNotFound if absent.
	DeleteTopic(ctx context.Context, name string) error
	// AddMembers adds people to a topic (creating default preferences for
	// people seen for the first time) and returns how many were new
	// members; ErrNotFound if the topic does not exist.
	AddMembers(ctx context.Context, topic string, users []string) (int, error)
	// RemoveMembers removes people from a topic and returns how many were members.
	RemoveMembers(ctx context.Context, topic string, users []string) (int, error)
	// Members lists a topic's members in id order after a cursor.
	Members(ctx context.Context, topic, after string, limit int) ([]string, error)
	// ImportUsers upserts people's preferences and adds their topic
	// memberships (creating missing topics), all in one transaction.
	ImportUsers(ctx context.Context, users []UserRecord) error

	// StartBroadcast records the event and its broadcast as running;
	// starting one that exists changes nothing and returns false.
	StartBroadcast(ctx context.Context, ev event.Event, at time.Time) (bool, error)
	// Broadcast returns a broadcast's progress; ErrNotFound if absent.
	Broadcast(ctx context.Context, eventID string) (Broadcast, error)
	// RunningBroadcasts lists broadcasts not yet done or cancelled.
	RunningBroadcasts(ctx context.Context) ([]Broadcast, error)
	// AudiencePage visits up to limit candidate people of the audience whose
	// ids sort after after, in id order, and returns the preferences of
	// those not excluded, the last candidate visited (the next cursor; ""
	// if none was) and whether every candidate has now been visited.
	AudiencePage(ctx context.Context, a event.Audience, after string, limit int) (people []prefs.Preferences, last string, done bool, err error)
	// RecordBroadcastChunk adds a chunk's inbox receipts and counters and
	// moves the cursor, in one transaction, if the broadcast is running and
	// its cursor is still chunk.From; otherwise it changes nothing and
	// returns false. The receipts get consecutive seqs from first (0 when
	// the driver cannot tell).
	RecordBroadcastChunk(ctx context.Context, chunk BroadcastChunk) (first int64, recorded bool, err error)
	// FinishBroadcast moves a running broadcast to state (done or
	// cancelled); false if it was not running.
	FinishBroadcast(ctx context.Context, eventID, state string, at time.Time) (bool, error)
}
