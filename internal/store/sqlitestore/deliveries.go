package sqlitestore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/herald/herald/internal/prefs"
	"github.com/herald/herald/internal/store"
)

// insertEventSQL keeps the first plan of an event: a replayed plan changes
// nothing.
const insertEventSQL = `INSERT INTO events (id, doc, targeted, recipients, planned_at)
VALUES (?, ?, ?, ?, ?)
ON CONFLICT (id) DO NOTHING`

// insertPlannedSQL records an outcome decided while planning. It never
// replaces a stored outcome, so replaying a plan after a crash cannot undo
// what the delivery workers recorded since.
const insertPlannedSQL = `INSERT INTO deliveries (event_id, user_id, channel, outcome, reason, attempts, at)
VALUES (?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (event_id, user_id, channel) DO NOTHING`

// upsertOutcomeSQL records a delivery outcome, replacing the stored one.
const upsertOutcomeSQL = `INSERT INTO deliveries (event_id, user_id, channel, outcome, reason, attempts, at)
VALUES (?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (event_id, user_id, channel) DO UPDATE SET
	outcome = excluded.outcome,
	reason = excluded.reason,
	attempts = excluded.attempts,
	at = excluded.at`

const selectEventSQL = `SELECT doc, targeted, recipients, planned_at FROM events WHERE id = ?`

const countOutcomesSQL = `SELECT channel, outcome, count(*) FROM deliveries WHERE event_id = ? GROUP BY channel, outcome`

const listRecipientsSQL = `SELECT user_id, channel, outcome, reason, attempts, at FROM deliveries
WHERE event_id = ? ORDER BY user_id, channel LIMIT ?`

// RecordPlans stores planned events and the outcomes decided while planning,
// all in one transaction. Repeating it is harmless: an event keeps its first
// plan and a recorded outcome is never replaced by a planned one.
func (s *Store) RecordPlans(ctx context.Context, events []store.EventRecord, outcomes []store.DeliveryRecord) error {
	if len(events) == 0 && len(outcomes) == 0 {
		return nil
	}
	docs := make([]string, len(events))
	for i, e := range events {
		if e.Event.ID == "" {
			return fmt.Errorf("sqlitestore: record plans: event %d has no id", i)
		}
		b, err := json.Marshal(e.Event)
		if err != nil {
			return fmt.Errorf("sqlitestore: record plans: encode event %s: %w", e.Event.ID, err)
		}
		docs[i] = string(b)
	}
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		if len(events) > 0 {
			ins := tx.StmtContext(ctx, s.stmts.insertEvent)
			for i, e := range events {
				if _, err := ins.ExecContext(ctx, e.Event.ID, docs[i], e.Targeted, len(e.Event.Audience.Users), nanos(e.PlannedAt)); err != nil {
					return fmt.Errorf("event %s: %w", e.Event.ID, err)
				}
			}
		}
		return execOutcomes(ctx, tx.StmtContext(ctx, s.stmts.insertPlanned), outcomes)
	})
	if err != nil {
		return fmt.Errorf("sqlitestore: record plans of %d events: %w", len(events), err)
	}
	return nil
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

// EventStatus summarises an event from one read snapshot. Every channel in
// prefs.Channels is targeted once per recipient of the event; Pending is
// what is targeted less the final outcomes recorded. Recipients are listed
// in (user, channel) order.
func (s *Store) EventStatus(ctx context.Context, eventID string, recipientLimit int) (store.EventStatus, error) {
	var st store.EventStatus
	tx, err := s.read.BeginTx(ctx, nil)
	if err != nil {
		return st, fmt.Errorf("sqlitestore: status of event %s: %w", eventID, err)
	}
	defer tx.Rollback() //nolint:errcheck // read-only; nothing to undo

	var (
		doc        string
		recipients int
		plannedAt  sql.NullInt64
	)
	err = tx.QueryRowContext(ctx, selectEventSQL, eventID).
		Scan(&doc, &st.Targeted, &recipients, &plannedAt)
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

	st.Channels = make(map[string]*store.ChannelCounts, len(prefs.Channels))
	for _, ch := range prefs.Channels {
		st.Channels[ch] = &store.ChannelCounts{Targeted: recipients, Outcomes: map[string]int{}}
	}
	if err := countOutcomes(ctx, tx, eventID, st.Channels); err != nil {
		return st, fmt.Errorf("sqlitestore: status of event %s: %w", eventID, err)
	}
	if recipientLimit > 0 {
		if st.Recipients, err = listRecipients(ctx, tx, eventID, recipientLimit); err != nil {
			return st, fmt.Errorf("sqlitestore: status of event %s: %w", eventID, err)
		}
	}
	return st, nil
}

// countOutcomes adds the event's outcome counts to channels and derives
// Pending.
func countOutcomes(ctx context.Context, tx *sql.Tx, eventID string, channels map[string]*store.ChannelCounts) error {
	rows, err := tx.QueryContext(ctx, countOutcomesSQL, eventID)
	if err != nil {
		return err
	}
	defer rows.Close()
	final := map[string]int{}
	for rows.Next() {
		var (
			ch, outcome string
			n           int
		)
		if err := rows.Scan(&ch, &outcome, &n); err != nil {
			return err
		}
		c := channels[ch]
		if c == nil {
			// A channel herald does not plan for every recipient: count
			// what was recorded, target nothing.
			c = &store.ChannelCounts{Outcomes: map[string]int{}}
			channels[ch] = c
		}
		c.Outcomes[outcome] += n
		if store.Outcome(outcome).Final() {
			final[ch] += n
		}
	}
	if err := rows.Err(); err != nil {
		return err
	}
	for ch, c := range channels {
		c.Pending = max(0, c.Targeted-final[ch])
	}
	return nil
}

func listRecipients(ctx context.Context, tx *sql.Tx, eventID string, limit int) ([]store.DeliveryRecord, error) {
	rows, err := tx.QueryContext(ctx, listRecipientsSQL, eventID, limit)
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
