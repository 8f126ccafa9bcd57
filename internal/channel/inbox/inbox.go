// Package inbox is the inbox channel: it stores notifications in each
// person's persistent inbox and announces the new ones to open live streams.
// Storing is idempotent per (person, event), so a redelivered batch adds
// nothing twice.
package inbox

import (
	"context"
	"time"

	"github.com/herald/herald/internal/channel"
	"github.com/herald/herald/internal/live"
	"github.com/herald/herald/internal/prefs"
	"github.com/herald/herald/internal/store"
)

// Channel delivers to inboxes.
type Channel struct {
	store  store.Store
	broker *live.Broker
}

// New returns the inbox channel writing to st and announcing on broker
// (broker may be nil).
func New(st store.Store, broker *live.Broker) *Channel {
	return &Channel{store: st, broker: broker}
}

// Name returns "inbox".
func (c *Channel) Name() string { return prefs.Inbox }

// Deliver stores every job's notification in one transaction: all jobs
// succeed or all fail together.
func (c *Channel) Deliver(ctx context.Context, jobs []channel.Job) []channel.Result {
	now := time.Now().UTC()
	items := make([]store.InboxItem, len(jobs))
	for i, j := range jobs {
		n := j.Event.Notification
		items[i] = store.InboxItem{
			ID:        j.Event.ID,
			UserID:    j.UserID,
			EventID:   j.Event.ID,
			Title:     n.Title,
			Message:   n.Message,
			Category:  n.Category,
			Urgency:   n.Urgency,
			Actions:   n.Actions,
			Data:      n.Data,
			Locale:    n.Locale,
			ExpiresAt: n.ExpiresAt,
			CreatedAt: now,
		}
	}
	added, err := c.store.DeliverInbox(ctx, items)
	results := make([]channel.Result, len(jobs))
	if err != nil {
		for i := range results {
			results[i].Err = err
		}
		return results
	}
	if c.broker != nil {
		c.broker.Publish(added)
	}
	return results
}
