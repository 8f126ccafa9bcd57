// Package eventrows holds the row format of a planned event that the store
// drivers share: it checks store.Plans and encodes them for the events
// table (the event document and the planned outcomes) and the inbox (the
// JSON columns of each item), lists the inbox items RecordPlans returns,
// assembles a store.EventStatus from a stored row, and assembles inbox
// pages from the rows a driver reads, filling broadcast receipts with their
// broadcast's content. It does no I/O and knows no SQL: the drivers write
// and read the rows.
package eventrows

import (
	"cmp"
	"encoding/json"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/herald/herald/internal/event"
	"github.com/herald/herald/internal/prefs"
	"github.com/herald/herald/internal/store"
)

// plannedOutcome is one outcome decided while planning, as stored in the
// events.planned column (a JSON array): short names keep the blob small.
// The format is part of both drivers' schemas.
type plannedOutcome struct {
	UserID  string        `json:"u"`
	Channel string        `json:"c"`
	Outcome store.Outcome `json:"o"`
	Reason  string        `json:"r,omitempty"`
}

// Event is a plan encoded for the events table before the transaction
// starts.
type Event struct {
	Plan *store.Plan
	// Doc and Outcomes are the doc and planned columns.
	Doc, Outcomes string
	// Inbox holds the plan's items to add, a user repeated in the plan
	// once, with their JSON columns encoded.
	Inbox []InboxRow
}

// InboxRow is an inbox item to add, with its JSON columns encoded: Actions
// and Data are nil when the item has none.
type InboxRow struct {
	Item          store.InboxItem
	Actions, Data []byte
}

// Encode checks and encodes plans. A plan of an event planned earlier in
// plans is left out: the event's first plan is the one kept.
func Encode(plans []store.Plan) ([]Event, error) {
	out := make([]Event, 0, len(plans))
	seen := make(map[string]bool, len(plans))
	for i := range plans {
		p := &plans[i]
		if p.Event.ID == "" {
			return nil, fmt.Errorf("plan %d has no event id", i)
		}
		doc, err := json.Marshal(p.Event)
		if err != nil {
			return nil, fmt.Errorf("encode event %s: %w", p.Event.ID, err)
		}
		outs := make([]plannedOutcome, len(p.Outcomes))
		for j, o := range p.Outcomes {
			outs[j] = plannedOutcome{UserID: o.UserID, Channel: o.Channel, Outcome: o.Outcome, Reason: o.Reason}
		}
		planned, err := json.Marshal(outs)
		if err != nil {
			return nil, fmt.Errorf("encode outcomes of %s: %w", p.Event.ID, err)
		}
		inbox, err := encodeInbox(p.Inbox)
		if err != nil {
			return nil, err
		}
		if seen[p.Event.ID] {
			continue
		}
		seen[p.Event.ID] = true
		out = append(out, Event{Plan: p, Doc: string(doc), Outcomes: string(planned), Inbox: inbox})
	}
	return out, nil
}

// encodeInbox checks a plan's items and encodes their JSON columns. It
// returns the items to add, a user repeated within the plan once, with ID
// set to the event id.
func encodeInbox(items []store.InboxItem) ([]InboxRow, error) {
	rows := make([]InboxRow, 0, len(items))
	seen := make(map[string]bool, len(items))
	for i := range items {
		it := &items[i]
		if it.UserID == "" || (it.EventID == "" && it.ID == "") {
			return nil, fmt.Errorf("inbox item %d needs a user id and an event id", i)
		}
		var r InboxRow
		if len(it.Actions) > 0 {
			b, err := json.Marshal(it.Actions)
			if err != nil {
				return nil, fmt.Errorf("actions of event %s: %w", it.EventID, err)
			}
			r.Actions = b
		}
		if len(it.Data) > 0 {
			r.Data = it.Data
		}
		if seen[it.UserID] {
			continue
		}
		seen[it.UserID] = true
		r.Item = *it
		if r.Item.EventID == "" {
			r.Item.EventID = r.Item.ID
		}
		r.Item.ID = r.Item.EventID
		rows = append(rows, r)
	}
	return rows, nil
}

// Added lists the inbox rows of the events in fresh (those the transaction
// inserted), in order, as RecordPlans returns them: CreatedAt is now where
// it was zero. Seq is left for the driver to set.
func Added(events []Event, fresh map[string]bool, now time.Time) []InboxRow {
	var rows []InboxRow
	for _, e := range events {
		if !fresh[e.Plan.Event.ID] {
			continue // planned before: its inbox items are already stored
		}
		for _, r := range e.Inbox {
			if r.Item.CreatedAt.IsZero() {
				r.Item.CreatedAt = now
			}
			rows = append(rows, r)
		}
	}
	return rows
}

// Status completes st, whose Event, Targeted and PlannedAt are read from
// the event's row, from the row's planned column, the event's recipient
// count and the outcomes recorded since planning: the outcomes decided
// while planning, overridden by those recorded for the same (person,
// channel). Every channel in prefs.Channels is targeted once per
// recipient; Pending is what is targeted less the final outcomes. Up to
// recipientLimit recipients are listed in (user, channel) order.
func Status(st *store.EventStatus, eventID string, planned []byte, recipients int, recorded []store.DeliveryRecord, recipientLimit int) error {
	var outs []plannedOutcome
	if err := json.Unmarshal(planned, &outs); err != nil {
		return fmt.Errorf("decode planned outcomes: %w", err)
	}
	type key struct{ user, channel string }
	merged := make(map[key]store.DeliveryRecord, len(outs))
	for _, o := range outs {
		merged[key{o.UserID, o.Channel}] = store.DeliveryRecord{EventID: eventID, UserID: o.UserID, Channel: o.Channel,
			Outcome: o.Outcome, Reason: o.Reason, At: st.PlannedAt}
	}
	for _, r := range recorded {
		merged[key{r.UserID, r.Channel}] = r
	}

	st.Channels = make(map[string]*store.ChannelCounts, len(prefs.Channels))
	for _, ch := range prefs.Channels {
		st.Channels[ch] = &store.ChannelCounts{Targeted: recipients, Outcomes: map[string]int{}}
	}
	final := map[string]int{}
	all := make([]store.DeliveryRecord, 0, len(merged))
	for _, r := range merged {
		c := st.Channels[r.Channel]
		if c == nil {
			// A channel herald does not plan for every recipient: count
			// what was recorded, target nothing.
			c = &store.ChannelCounts{Outcomes: map[string]int{}}
			st.Channels[r.Channel] = c
		}
		c.Outcomes[string(r.Outcome)]++
		if r.Outcome.Final() {
			final[r.Channel]++
		}
		all = append(all, r)
	}
	for ch, c := range st.Channels {
		c.Pending = max(0, c.Targeted-final[ch])
	}
	if recipientLimit > 0 {
		slices.SortFunc(all, func(a, b store.DeliveryRecord) int {
			return cmp.Or(cmp.Compare(a.UserID, b.UserID), cmp.Compare(a.Channel, b.Channel))
		})
		st.Recipients = all[:min(recipientLimit, len(all))]
	}
	return nil
}

// FillShared fills the content of the broadcast receipts at positions at of
// items from their broadcasts, which hold it once for everyone; content
// returns a broadcast's notification by event id.
func FillShared(items []store.InboxItem, at []int, content func(eventID string) (event.Notification, error)) error {
	for _, i := range at {
		n, err := content(items[i].EventID)
		if err != nil {
			return err
		}
		it := &items[i]
		it.Title, it.Message, it.Category, it.Urgency = n.Title, n.Message, n.Category, n.Urgency
		it.Actions, it.Data, it.Locale, it.ExpiresAt = n.Actions, n.Data, n.Locale, n.ExpiresAt
	}
	return nil
}

// InboxPageArgs returns the page size of q, defaultLimit when q.Limit is not
// positive, and the arguments of the driver's page query in order: the
// user, the cursor when paged (q.Before > 0), and the limit.
func InboxPageArgs(q store.InboxQuery, defaultLimit int) (limit int, args []any) {
	limit = q.Limit
	if limit <= 0 {
		limit = defaultLimit
	}
	args = []any{q.UserID}
	if q.Before > 0 {
		args = append(args, q.Before)
	}
	return limit, append(args, limit)
}

// Rows is the part of a driver's result set that CollectInbox uses;
// database/sql's *sql.Rows and pgx's Rows both have it.
type Rows interface {
	Next() bool
	Err() error
}

// CollectInbox reads an inbox page of at most limit rows with scan, which
// reports broadcast receipts, and fills those with their broadcast's
// content (see FillShared). The caller closes rows.
func CollectInbox[R Rows](rows R, limit int, scan func(R) (store.InboxItem, bool, error),
	content func(eventID string) (event.Notification, error)) ([]store.InboxItem, error) {
	out := make([]store.InboxItem, 0, min(limit, 64))
	var sharedAt []int
	for rows.Next() {
		it, shared, err := scan(rows)
		if err != nil {
			return nil, err
		}
		if shared {
			sharedAt = append(sharedAt, len(out))
		}
		out = append(out, it)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if err := FillShared(out, sharedAt, content); err != nil {
		return nil, err
	}
	return out, nil
}

// Contents caches broadcasts' notifications by event id: a broadcast's
// content never changes and every recipient reads the same. The zero value
// is ready to use and safe for concurrent use.
type Contents struct{ m sync.Map }

// Get returns the notification of broadcast eventID: cached, or decoded
// from the broadcast's doc column, which read returns.
func (c *Contents) Get(eventID string, read func() ([]byte, error)) (event.Notification, error) {
	if n, ok := c.m.Load(eventID); ok {
		return n.(event.Notification), nil
	}
	doc, err := read()
	if err != nil {
		return event.Notification{}, fmt.Errorf("content of broadcast %s: %w", eventID, err)
	}
	var ev event.Event
	if err := json.Unmarshal(doc, &ev); err != nil {
		return event.Notification{}, fmt.Errorf("content of broadcast %s: %w", eventID, err)
	}
	c.m.Store(eventID, ev.Notification)
	return ev.Notification, nil
}

// DecodeBroadcast decodes a broadcasts row's doc and counts columns into b.
func DecodeBroadcast(b *store.Broadcast, doc, counts []byte) error {
	if err := json.Unmarshal(doc, &b.Event); err != nil {
		return fmt.Errorf("decode broadcast event: %w", err)
	}
	if err := json.Unmarshal(counts, &b.Counts); err != nil {
		return fmt.Errorf("decode broadcast counts: %w", err)
	}
	return nil
}
