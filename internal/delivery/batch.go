package delivery

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"time"

	"github.com/herald/herald/internal/event"
	"github.com/herald/herald/internal/hub"
)

// Batch is one hub message on the deliveries topic: many recipients of one
// or more events for one channel.
type Batch struct {
	Channel string `json:"channel"`
	// Attempt is 1 for a batch the handler planned and grows each time its
	// failed part is retried.
	Attempt int `json:"attempt"`
	// NotBefore delays a retry until the backoff has passed.
	NotBefore time.Time `json:"notBefore,omitzero"`
	// LastError is why the previous attempt failed.
	LastError string `json:"lastError,omitempty"`
	Items     []Item `json:"items"`
}

// Item is one event and the people on this channel who should get it.
type Item struct {
	Event event.Event `json:"event"`
	Users []string    `json:"users"`
	// Note, when set, is recorded as the reason of each successful
	// delivery, saying why it was made (such as "escalated: unread after
	// 30m").
	Note string `json:"note,omitempty"`
}

// Matches reports whether a job of ev with note joins it: the same event
// with the same text (templates render it per person) and the same note.
func (it Item) Matches(ev event.Event, note string) bool {
	a, b := it.Event.Notification, ev.Notification
	return it.Event.ID == ev.ID && it.Note == note && a.Title == b.Title && a.Message == b.Message && a.Locale == b.Locale
}

// Size counts the (person, event) jobs in the batch.
func (b Batch) Size() int {
	n := 0
	for _, it := range b.Items {
		n += len(it.Users)
	}
	return n
}

// maxMessageBytes keeps each hub message well under common broker limits
// (NATS and Kafka default to 1 MiB).
const maxMessageBytes = 512 << 10

// Encode turns b into hub messages, splitting it so that no message exceeds
// the size limit. Each message's ID is derived from its content, so a
// re-published identical batch can be dropped by the hub.
func Encode(b Batch) ([]hub.Message, error) {
	data, err := json.Marshal(b)
	if err != nil {
		return nil, fmt.Errorf("encode delivery batch: %w", err)
	}
	if len(data) <= maxMessageBytes || b.Size() <= 1 {
		return []hub.Message{message(b, data)}, nil
	}
	left, right := b.split()
	lm, err := Encode(left)
	if err != nil {
		return nil, err
	}
	rm, err := Encode(right)
	if err != nil {
		return nil, err
	}
	return append(lm, rm...), nil
}

// split halves a batch by jobs.
func (b Batch) split() (Batch, Batch) {
	half := b.Size() / 2
	left, right := b, b
	left.Items, right.Items = nil, nil
	n := 0
	for _, it := range b.Items {
		switch {
		case n >= half:
			right.Items = append(right.Items, it)
		case n+len(it.Users) <= half:
			left.Items = append(left.Items, it)
		default:
			cut := half - n
			left.Items = append(left.Items, Item{Event: it.Event, Users: it.Users[:cut], Note: it.Note})
			right.Items = append(right.Items, Item{Event: it.Event, Users: it.Users[cut:], Note: it.Note})
		}
		n += len(it.Users)
	}
	return left, right
}

func message(b Batch, data []byte) hub.Message {
	key := b.Channel
	if len(b.Items) > 0 && len(b.Items[0].Users) > 0 {
		key = b.Items[0].Users[0]
	}
	sum := sha256.Sum256(data)
	return hub.Message{Key: key, ID: hex.EncodeToString(sum[:16]), Data: data}
}

// Decode reads a batch from a hub message.
func Decode(data []byte) (Batch, error) {
	var b Batch
	if err := json.Unmarshal(data, &b); err != nil {
		return Batch{}, fmt.Errorf("decode delivery batch: %w", err)
	}
	if b.Channel == "" {
		return Batch{}, fmt.Errorf("decode delivery batch: no channel")
	}
	return b, nil
}
