package deadletter

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/herald/herald/internal/delivery"
	"github.com/herald/herald/internal/event"
	"github.com/herald/herald/internal/hub"
)

// Info is what a dead letter is about, read from its message: the events,
// the channel and the people it concerns, how often it was tried and the
// last error. A message that does not decode (a poison event) leaves
// everything but Attempts and LastError empty.
type Info struct {
	// Events are the ids of the events in the message.
	Events []string
	// Channel is the delivery batch's channel; empty for an event.
	Channel string
	// Recipients are the people: a batch's recipients, or an event's
	// listed users.
	Recipients []string
	// Attempts is how often it was tried: the batch's own attempts or the
	// hub's deliveries of the message, whichever is more.
	Attempts int
	// LastError is why the last attempt failed.
	LastError string
}

// Describe reads what dl is about.
func Describe(dl hub.DeadLetter) Info {
	in := Info{Attempts: dl.Attempts, LastError: dl.Reason}
	switch dl.Topic {
	case hub.TopicDeliveries:
		b, err := delivery.Decode(dl.Message.Data)
		if err != nil {
			return in
		}
		in.Channel = b.Channel
		in.Attempts = max(in.Attempts, b.Attempt-1)
		if b.LastError != "" {
			in.LastError = b.LastError
		}
		for _, it := range b.Items {
			if !slices.Contains(in.Events, it.Event.ID) {
				in.Events = append(in.Events, it.Event.ID)
			}
			in.Recipients = append(in.Recipients, it.Users...)
		}
	case hub.TopicEvents:
		var ev event.Event
		if json.Unmarshal(dl.Message.Data, &ev) != nil || ev.ID == "" {
			return in
		}
		in.Events = []string{ev.ID}
		in.Recipients = ev.Audience.Users
	}
	return in
}

// Filter selects dead letters. Every field set must match; the zero Filter
// matches every dead letter.
type Filter struct {
	// Topic is the hub topic the message came from: events or deliveries.
	Topic string `json:"topic,omitempty"`
	// Reason matches a dead letter whose reason or last error contains it,
	// ignoring case.
	Reason string `json:"reason,omitempty"`
	// Event matches a dead letter about this event (herald's id or the
	// CloudEvent id).
	Event string `json:"event,omitempty"`
	// Channel matches delivery batches of this channel.
	Channel string `json:"channel,omitempty"`
	// User matches a dead letter naming this person.
	User string `json:"user,omitempty"`
	// Before matches dead letters stored before this time.
	Before time.Time `json:"before,omitzero"`
}

// IsZero reports whether f matches everything.
func (f Filter) IsZero() bool { return f == Filter{} }

// Match reports whether dl is selected by f.
func (f Filter) Match(dl hub.DeadLetter) bool {
	if f.Topic != "" && dl.Topic != f.Topic {
		return false
	}
	if !f.Before.IsZero() && !dl.At.Before(f.Before) {
		return false
	}
	if f.Reason == "" && f.Event == "" && f.Channel == "" && f.User == "" {
		return true
	}
	in := Describe(dl)
	if f.Reason != "" {
		want := strings.ToLower(f.Reason)
		if !strings.Contains(strings.ToLower(dl.Reason), want) && !strings.Contains(strings.ToLower(in.LastError), want) {
			return false
		}
	}
	if f.Channel != "" && in.Channel != f.Channel {
		return false
	}
	if f.User != "" && !slices.Contains(in.Recipients, f.User) {
		return false
	}
	if f.Event != "" && !slices.Contains(in.Events, f.Event) && !mentionsSourceID(dl, f.Event) {
		return false
	}
	return true
}

// mentionsSourceID reports whether dl carries an event whose CloudEvent id
// is id.
func mentionsSourceID(dl hub.DeadLetter, id string) bool {
	switch dl.Topic {
	case hub.TopicEvents:
		var ev event.Event
		return json.Unmarshal(dl.Message.Data, &ev) == nil && ev.SourceID == id
	case hub.TopicDeliveries:
		b, err := delivery.Decode(dl.Message.Data)
		if err != nil {
			return false
		}
		for _, it := range b.Items {
			if it.Event.SourceID == id {
				return true
			}
		}
	}
	return false
}

// ErrBadFilter is returned by ParseFilter for a filter it cannot read.
var ErrBadFilter = errors.New("invalid dead-letter filter")

// ParseFilter reads the command line's filter form: comma-separated terms
// topic=NAME, reason~=TEXT (contained, any case), event=ID, channel=NAME,
// user=ID and before=RFC3339.
func ParseFilter(s string) (Filter, error) {
	var f Filter
	for _, term := range strings.Split(s, ",") {
		term = strings.TrimSpace(term)
		if term == "" {
			continue
		}
		if k, v, ok := strings.Cut(term, "~="); ok {
			if strings.TrimSpace(k) != "reason" {
				return Filter{}, fmt.Errorf("%w: %q: only reason takes ~= (contains)", ErrBadFilter, term)
			}
			f.Reason = strings.TrimSpace(v)
			continue
		}
		k, v, ok := strings.Cut(term, "=")
		if !ok {
			return Filter{}, fmt.Errorf("%w: %q is not key=value (keys: topic, reason~, event, channel, user, before)", ErrBadFilter, term)
		}
		v = strings.TrimSpace(v)
		switch strings.TrimSpace(k) {
		case "topic":
			f.Topic = v
		case "reason":
			f.Reason = v
		case "event":
			f.Event = v
		case "channel":
			f.Channel = v
		case "user":
			f.User = v
		case "before":
			t, err := time.Parse(time.RFC3339, v)
			if err != nil {
				return Filter{}, fmt.Errorf("%w: before=%q is not an RFC 3339 time", ErrBadFilter, v)
			}
			f.Before = t
		default:
			return Filter{}, fmt.Errorf("%w: unknown key %q (keys: topic, reason~, event, channel, user, before)", ErrBadFilter, k)
		}
	}
	if !knownTopic(f.Topic) {
		return Filter{}, fmt.Errorf("%w: topic=%q: topics are %s and %s", ErrBadFilter, f.Topic, hub.TopicEvents, hub.TopicDeliveries)
	}
	return f, nil
}

// knownTopic reports whether a filter's topic is empty or one a dead letter
// can come from.
func knownTopic(topic string) bool {
	return topic == "" || topic == hub.TopicEvents || topic == hub.TopicDeliveries
}

// pageSize is how many dead letters Select reads at once.
const pageSize = 500

// Select returns every dead letter f matches, oldest first.
func Select(ctx context.Context, h hub.Hub, f Filter) ([]hub.DeadLetter, error) {
	var out []hub.DeadLetter
	var after uint64
	for {
		page, err := h.DeadLetters(ctx, after, pageSize)
		if err != nil {
			return out, fmt.Errorf("list dead letters after %d: %w", after, err)
		}
		if len(page) == 0 {
			return out, nil
		}
		for _, dl := range page {
			if f.Match(dl) {
				out = append(out, dl)
			}
		}
		after = page[len(page)-1].Seq
	}
}

// ReplayMatching replays every dead letter f matches and returns them. It
// stops at the first failure, returning what was replayed before it; as
// replaying is idempotent, running it again is safe.
func ReplayMatching(ctx context.Context, h hub.Hub, f Filter) ([]hub.DeadLetter, error) {
	list, err := Select(ctx, h, f)
	if err != nil {
		return nil, err
	}
	for i, dl := range list {
		if err := replay(ctx, h, dl); err != nil {
			return list[:i], err
		}
	}
	return list, nil
}

// Delete removes dead letter seq for good.
func Delete(ctx context.Context, h hub.Hub, seq uint64) error {
	n, err := h.DeleteDeadLetters(ctx, seq)
	if err != nil {
		return err
	}
	if n == 0 {
		return fmt.Errorf("dead letter %d: %w", seq, ErrNotFound)
	}
	return nil
}

// Purge removes every dead letter f matches and returns them and how many
// were removed (fewer when another process removed some first). With
// dryRun it only returns what it would remove.
func Purge(ctx context.Context, h hub.Hub, f Filter, dryRun bool) ([]hub.DeadLetter, int, error) {
	list, err := Select(ctx, h, f)
	if err != nil || dryRun || len(list) == 0 {
		return list, 0, err
	}
	removed := 0
	for start := 0; start < len(list); start += pageSize {
		chunk := list[start:min(start+pageSize, len(list))]
		seqs := make([]uint64, len(chunk))
		for i, dl := range chunk {
			seqs[i] = dl.Seq
		}
		n, err := h.DeleteDeadLetters(ctx, seqs...)
		removed += n
		if err != nil {
			return list, removed, fmt.Errorf("purge dead letters: %w", err)
		}
	}
	return list, removed, nil
}
