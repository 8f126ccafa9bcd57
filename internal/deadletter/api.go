package deadletter

import (
	"time"

	"github.com/herald/herald/internal/event"
	"github.com/herald/herald/internal/hub"
)

// MaxViewRecipients bounds the people listed in one dead letter's View;
// RecipientCount has them all.
const MaxViewRecipients = 100

// View is one dead letter as the API shows it: where it came from, what it
// is about (events, channel, people), how often it was tried and why it
// failed.
type View struct {
	Seq    uint64 `json:"seq"`
	Topic  string `json:"topic"`
	Key    string `json:"key"`
	Reason string `json:"reason"`
	// Events are the ids of the events the message carries.
	Events []string `json:"events,omitempty"`
	// Channel is a delivery batch's channel.
	Channel string `json:"channel,omitempty"`
	// Recipients are the first people the message concerns.
	Recipients     []string  `json:"recipients,omitempty"`
	RecipientCount int       `json:"recipientCount"`
	Attempts       int       `json:"attempts"`
	LastError      string    `json:"lastError,omitempty"`
	At             time.Time `json:"at"`
	// Data is the message as stored: a canonical event or a delivery
	// batch. Bulk answers leave it out.
	Data string `json:"data,omitempty"`
}

// ViewOf describes dl for the API; withData includes the message.
func ViewOf(dl hub.DeadLetter, withData bool) View {
	in := Describe(dl)
	v := View{Seq: dl.Seq, Topic: dl.Topic, Key: dl.Message.Key, Reason: dl.Reason, Events: in.Events, Channel: in.Channel,
		Recipients: in.Recipients[:min(len(in.Recipients), MaxViewRecipients)], RecipientCount: len(in.Recipients),
		Attempts: in.Attempts, LastError: in.LastError, At: dl.At}
	if withData {
		v.Data = string(dl.Message.Data)
	}
	return v
}

// Request is the body of a bulk replay or purge: which dead letters, by
// filter, or all of them.
type Request struct {
	// All selects every dead letter; required when no filter is given, so
	// that an empty request does not touch everything.
	All bool `json:"all,omitempty"`
	// Filter's fields stand in the request itself.
	Filter
	// OlderThan (a Go duration such as "24h") selects dead letters stored
	// longer ago than this, like Before.
	OlderThan string `json:"olderThan,omitempty"`
	// DryRun answers what would be replayed or purged without doing it.
	DryRun bool `json:"dryRun,omitempty"`
}

// Selection checks r and returns the filter it selects at time now, with
// OlderThan folded into Before, or the problems found in r.
func (r Request) Selection(now time.Time) (Filter, []event.FieldError) {
	f := r.Filter
	var errs []event.FieldError
	if !knownTopic(f.Topic) {
		errs = append(errs, event.FieldError{Index: -1, Field: "topic", Problem: "must be events or deliveries"})
	}
	if r.OlderThan != "" {
		d, err := time.ParseDuration(r.OlderThan)
		if err != nil || d <= 0 {
			errs = append(errs, event.FieldError{Index: -1, Field: "olderThan", Problem: "must be a positive duration such as 30m or 24h"})
		} else if cut := now.Add(-d); f.Before.IsZero() || cut.Before(f.Before) {
			f.Before = cut
		}
	}
	if f.IsZero() && !r.All {
		errs = append(errs, event.FieldError{Index: -1, Field: "all", Problem: "give a filter (topic, reason, event, channel, user, before, olderThan) or \"all\": true"})
	}
	if len(errs) > 0 {
		return Filter{}, errs
	}
	return f, nil
}

// Answer is the answer to a bulk request.
type Answer struct {
	DryRun bool `json:"dryRun"`
	// Matched counts the dead letters the filter selected.
	Matched int `json:"matched"`
	// Replayed or Purged counts what was done.
	Replayed *int `json:"replayed,omitempty"`
	Purged   *int `json:"purged,omitempty"`
	// DeadLetters are the first MaxAnswerViews selected, without their data.
	DeadLetters []View `json:"deadLetters"`
}

// MaxAnswerViews bounds the dead letters listed in an Answer.
const MaxAnswerViews = 1000

// NewAnswer answers a bulk request that selected list.
func NewAnswer(dryRun bool, list []hub.DeadLetter) Answer {
	views := make([]View, 0, min(len(list), MaxAnswerViews))
	for _, dl := range list[:min(len(list), MaxAnswerViews)] {
		views = append(views, ViewOf(dl, false))
	}
	return Answer{DryRun: dryRun, Matched: len(list), DeadLetters: views}
}
