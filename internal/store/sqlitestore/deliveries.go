package sqlitestore

import (
	"cmp"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"

	"github.com/herald/herald/internal/prefs"
	"github.com/herald/herald/internal/store"
)

// insertEventSQL keeps the first plan of an event: a replayed plan changes
// nothing.
const insertEventSQL = `INSERT INTO events (id, doc, targeted, recipients, planned, planned_at)
VALUES (?, ?, ?, ?, ?, ?)
ON CONFLICT (id) DO NOTHING`

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
// idempotency guard, so the inbox needs no unique index).
func (s *Store) RecordPlans(ctx context.Context, plans []store.Plan) ([]store.InboxItem, error) {
	if len(plans) == 0 {
		return nil, nil
	}
	docs := make([]string, len(plans))
	planned := make([]string, len(plans))
	encs := make([][]encodedInbox, len(plans))
	nInbox := 0
	for i, p := range plans {
		if p.Event.ID == "" {
			return nil, fmt.Errorf("sqlitestore: record plans: plan %d has no event id", i)
		}
		b, err := json.Marshal(p.Event)
		if err != nil {
			return nil, fmt.Errorf("sqlitestore: record plans: encode event %s: %w", p.Event.ID, err)
		}
		docs[i] = string(b)
		outs := make([]plannedOutcome, len(p.Outcomes))
		for j, o := range p.Outcomes {
			outs[j] = plannedOutcome{UserID: o.UserID, Channel: o.Channel, Outcome: o.Outcome, Reason: o.Reason}
		}
		if b, err = json.Marshal(outs); err != nil {
			return nil, fmt.Errorf("sqlitestore: record plans: encode outcomes of %s: %w", p.Event.ID, err)
		}
		planned[i] = string(b)
		if encs[i], err = encodeInbox(p.Inbox); err != nil {
			return nil, fmt.Errorf("sqlitestore: record plans: %w", err)
		}
		nInbox += len(p.Inbox)
	}
	added := make([]store.InboxItem, 0, nInbox)
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		ins := tx.StmtContext(ctx, s.stmts.insertEvent)
		for i, p := range plans {
			res, err := ins.ExecContext(ctx, p.Event.ID, docs[i], p.Targeted, len(p.Event.Audience.Users), planned[i], nanos(p.PlannedAt))
			if err != nil {
				return fmt.Errorf("event %s: %w", p.Event.ID, err)
			}
			if n, err := res.RowsAffected(); err != nil || n == 0 {
				continue // planned before: its inbox items are already stored
			}
			if added, err = s.insertInbox(ctx, tx, p.Inbox, encs[i], added); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("sqlitestore: record plans of %d events: %w", len(plans), err)
	}
	return added, nil
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
