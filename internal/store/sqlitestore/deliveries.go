package sqlitestore

import (
	"cmp"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/herald/herald/internal/prefs"
	"github.com/herald/herald/internal/store"
)

// insertEventsHead and insertEventsTail make the batch INSERT of events
// (see batchInsert). An event keeps its first plan: a replayed plan changes
// nothing, and RETURNING lists the events actually inserted, whose inbox
// items are then added. OR FAIL stops the statement at a failing row
// without undoing the rows before it, which spares SQLite the statement
// journal (a copy of every page the statement changes, ~10% of RecordPlans'
// time); any error rolls the whole transaction back anyway.
const (
	insertEventsHead = `INSERT OR FAIL INTO events (id, doc, targeted, recipients, planned, planned_at)`
	insertEventsTail = `ON CONFLICT (id) DO NOTHING RETURNING id`
)

// upsertOutcomeSQL records a delivery outcome, replacing the stored one.
const upsertOutcomeSQL = `INSERT INTO deliveries (event_id, user_id, channel, outcome, reason, attempts, at)
VALUES (?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (event_id, user_id, channel) DO UPDATE SET
	outcome = excluded.outcome,
	reason = excluded.reason,
	attempts = excluded.attempts,
	at = excluded.at`

const selectEventSQL = `SELECT doc, targeted, recipients, planned, planned_at FROM events WHERE id = ?`

const listRecordedSQL = `SELECT user_id, channel, outcome, reason, attempts, at FROM deliveries WHERE event_id = ?`

// plannedOutcome is one outcome decided while planning, as stored in the
// events.planned column (a JSON array): short names keep the blob small.
type plannedOutcome struct {
	UserID  string        `json:"u"`
	Channel string        `json:"c"`
	Outcome store.Outcome `json:"o"`
	Reason  string        `json:"r,omitempty"`
}

// RecordPlans stores plans (each event with its planning outcomes as one
// row) and adds their inbox items, all in one transaction. Repeating it is
// harmless: an event keeps its first plan, and the inbox items of a plan
// whose event is already stored are not added again (the event row is the
// idempotency guard, so the inbox needs no unique index). Rows are added
// many to a statement (see batchInsert).
func (s *Store) RecordPlans(ctx context.Context, plans []store.Plan) ([]store.InboxItem, error) {
	if len(plans) == 0 {
		return nil, nil
	}
	events, err := encodePlans(plans)
	if err != nil {
		return nil, fmt.Errorf("sqlitestore: record plans: %w", err)
	}
	var added []store.InboxItem
	err = s.inTx(ctx, func(tx *sql.Tx) error {
		fresh, err := s.insertEvents(ctx, tx, events)
		if err != nil {
			return err
		}
		added, err = s.insertInbox(ctx, tx, newInboxItems(events, fresh))
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("sqlitestore: record plans of %d events: %w", len(plans), err)
	}
	return added, nil
}

// plannedEvent is a plan encoded for the events table before the
// transaction starts.
type plannedEvent struct {
	plan *store.Plan
	// doc and outcomes are the doc and planned columns.
	doc, outcomes string
	// inbox holds the JSON columns of plan.Inbox, item by item.
	inbox []encodedInbox
}

// encodePlans checks and encodes plans. A plan of an event planned earlier
// in plans is left out: the event's first plan is the one kept.
func encodePlans(plans []store.Plan) ([]plannedEvent, error) {
	out := make([]plannedEvent, 0, len(plans))
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
		out = append(out, plannedEvent{plan: p, doc: string(doc), outcomes: string(planned), inbox: inbox})
	}
	return out, nil
}

// insertEvents adds the events' rows within tx and returns the ids of those
// it inserted; the others were planned before.
func (s *Store) insertEvents(ctx context.Context, tx *sql.Tx, events []plannedEvent) (map[string]bool, error) {
	fresh := make(map[string]bool, len(events))
	ins := &s.stmts.insertEvents
	args := make([]any, 0, batchRows*ins.cols)
	for start := 0; start < len(events); {
		st, n := ins.next(len(events) - start)
		args = args[:0]
		for _, e := range events[start : start+n] {
			p := e.plan
			args = append(args, p.Event.ID, e.doc, p.Targeted, len(p.Event.Audience.Users), e.outcomes, nanos(p.PlannedAt))
		}
		rows, err := tx.StmtContext(ctx, st).QueryContext(ctx, args...)
		if err == nil {
			err = addIDs(rows, fresh)
		}
		if err != nil {
			return nil, fmt.Errorf("events: %w", err)
		}
		start += n
	}
	return fresh, nil
}

// addIDs adds the ids rows return to set, and closes rows.
func addIDs(rows *sql.Rows, set map[string]bool) error {
	defer rows.Close()
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return err
		}
		set[id] = true
	}
	if err := rows.Err(); err != nil {
		return err
	}
	return rows.Close()
}

// newInboxItems lists the inbox items of the events in fresh, in order, as
// RecordPlans returns them: ID is the event id, CreatedAt is now where it
// was zero, and a user repeated within a plan gets the item once. Seq is
// set when they are inserted.
func newInboxItems(events []plannedEvent, fresh map[string]bool) []inboxRow {
	now := time.Now().UTC()
	var rows []inboxRow
	for _, e := range events {
		if !fresh[e.plan.Event.ID] {
			continue // planned before: its inbox items are already stored
		}
		seen := make(map[string]bool, len(e.plan.Inbox))
		for i, it := range e.plan.Inbox {
			if seen[it.UserID] {
				continue
			}
			seen[it.UserID] = true
			if it.EventID == "" {
				it.EventID = it.ID
			}
			it.ID = it.EventID
			if it.CreatedAt.IsZero() {
				it.CreatedAt = now
			}
			rows = append(rows, inboxRow{item: it, enc: e.inbox[i]})
		}
	}
	return rows
}

// RecordOutcomes upserts delivery outcomes in one transaction: a later
// outcome for the same (event, person, channel) replaces the earlier one.
func (s *Store) RecordOutcomes(ctx context.Context, outcomes []store.DeliveryRecord) error {
	if len(outcomes) == 0 {
		return nil
	}
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		return execOutcomes(ctx, tx.StmtContext(ctx, s.stmts.upsertOutcome), outcomes)
	})
	if err != nil {
		return fmt.Errorf("sqlitestore: record %d outcomes: %w", len(outcomes), err)
	}
	return nil
}

func execOutcomes(ctx context.Context, st *sql.Stmt, outcomes []store.DeliveryRecord) error {
	for _, r := range outcomes {
		if _, err := st.ExecContext(ctx, r.EventID, r.UserID, r.Channel, string(r.Outcome), r.Reason, r.Attempts, nanos(r.At)); err != nil {
			return fmt.Errorf("outcome of (%s, %s, %s): %w", r.EventID, r.UserID, r.Channel, err)
		}
	}
	return nil
}

// EventStatus summarises an event from one read snapshot: the outcomes
// decided while planning, overridden by outcomes recorded since for the same
// (person, channel). Every channel in prefs.Channels is targeted once per
// recipient; Pending is what is targeted less the final outcomes. Recipients
// are listed in (user, channel) order.
func (s *Store) EventStatus(ctx context.Context, eventID string, recipientLimit int) (store.EventStatus, error) {
	var st store.EventStatus
	tx, err := s.read.BeginTx(ctx, nil)
	if err != nil {
		return st, fmt.Errorf("sqlitestore: status of event %s: %w", eventID, err)
	}
	defer tx.Rollback() //nolint:errcheck // read-only; nothing to undo

	var (
		doc, planned string
		recipients   int
		plannedAt    sql.NullInt64
	)
	err = tx.QueryRowContext(ctx, selectEventSQL, eventID).
		Scan(&doc, &st.Targeted, &recipients, &planned, &plannedAt)
	if errors.Is(err, sql.ErrNoRows) {
		return st, fmt.Errorf("sqlitestore: event %s was never planned: %w", eventID, store.ErrNotFound)
	}
	if err != nil {
		return st, fmt.Errorf("sqlitestore: status of event %s: %w", eventID, err)
	}
	if err := json.Unmarshal([]byte(doc), &st.Event); err != nil {
		return st, fmt.Errorf("sqlitestore: status of event %s: decode event: %w", eventID, err)
	}
	st.PlannedAt = fromNanos(plannedAt)
	var outs []plannedOutcome
	if err := json.Unmarshal([]byte(planned), &outs); err != nil {
		return st, fmt.Errorf("sqlitestore: status of event %s: decode planned outcomes: %w", eventID, err)
	}
	type key struct{ user, channel string }
	merged := make(map[key]store.DeliveryRecord, len(outs))
	for _, o := range outs {
		merged[key{o.UserID, o.Channel}] = store.DeliveryRecord{EventID: eventID, UserID: o.UserID, Channel: o.Channel,
			Outcome: o.Outcome, Reason: o.Reason, At: st.PlannedAt}
	}
	recorded, err := listRecorded(ctx, tx, eventID)
	if err != nil {
		return st, fmt.Errorf("sqlitestore: status of event %s: %w", eventID, err)
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
	return st, nil
}

// listRecorded returns the outcomes recorded for an event after planning.
func listRecorded(ctx context.Context, tx *sql.Tx, eventID string) ([]store.DeliveryRecord, error) {
	rows, err := tx.QueryContext(ctx, listRecordedSQL, eventID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []store.DeliveryRecord
	for rows.Next() {
		r := store.DeliveryRecord{EventID: eventID}
		var at sql.NullInt64
		if err := rows.Scan(&r.UserID, &r.Channel, &r.Outcome, &r.Reason, &r.Attempts, &at); err != nil {
			return nil, err
		}
		r.At = fromNanos(at)
		out = append(out, r)
	}
	return out, rows.Err()
}
