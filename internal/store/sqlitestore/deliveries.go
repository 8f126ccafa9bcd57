package sqlitestore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/herald/herald/internal/store"
	"github.com/herald/herald/internal/store/eventrows"
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
	events, err := eventrows.Encode(plans)
	if err != nil {
		return nil, fmt.Errorf("sqlitestore: record plans: %w", err)
	}
	var added []store.InboxItem
	err = s.inTx(ctx, func(tx *sql.Tx) error {
		fresh, err := s.insertEvents(ctx, tx, events)
		if err != nil {
			return err
		}
		added, err = s.insertInbox(ctx, tx, eventrows.Added(events, fresh, time.Now().UTC()))
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("sqlitestore: record plans of %d events: %w", len(plans), err)
	}
	return added, nil
}

// insertEvents adds the events' rows within tx and returns the ids of those
// it inserted; the others were planned before.
func (s *Store) insertEvents(ctx context.Context, tx *sql.Tx, events []eventrows.Event) (map[string]bool, error) {
	fresh := make(map[string]bool, len(events))
	ins := &s.stmts.insertEvents
	args := make([]any, 0, batchRows*ins.cols)
	for start := 0; start < len(events); {
		st, n := ins.next(len(events) - start)
		args = args[:0]
		for _, e := range events[start : start+n] {
			p := e.Plan
			args = append(args, p.Event.ID, e.Doc, p.Targeted, len(p.Event.Audience.Users), e.Outcomes, nanos(p.PlannedAt))
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
	recorded, err := listRecorded(ctx, tx, eventID)
	if err != nil {
		return st, fmt.Errorf("sqlitestore: status of event %s: %w", eventID, err)
	}
	if err := eventrows.Status(&st, eventID, []byte(planned), recipients, recorded, recipientLimit); err != nil {
		return st, fmt.Errorf("sqlitestore: status of event %s: %w", eventID, err)
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
