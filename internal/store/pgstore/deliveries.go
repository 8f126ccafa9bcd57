package pgstore

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/herald/herald/internal/store"
	"github.com/herald/herald/internal/store/eventrows"
)

// insertEventsSQL adds many events in one statement. An event keeps its
// first plan: a replayed plan changes nothing, and RETURNING lists the
// events actually inserted, whose inbox items are then added.
const insertEventsSQL = `INSERT INTO events (id, doc, targeted, recipients, planned, planned_at)
SELECT id, doc::json, targeted, recipients, planned::json, planned_at
FROM unnest($1::text[], $2::text[], $3::integer[], $4::integer[], $5::text[], $6::timestamptz[])
	AS r(id, doc, targeted, recipients, planned, planned_at)
ON CONFLICT (id) DO NOTHING RETURNING id`

// upsertOutcomesSQL records many delivery outcomes, replacing stored ones.
const upsertOutcomesSQL = `INSERT INTO deliveries (event_id, user_id, channel, outcome, reason, attempts, at)
SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::integer[], $7::timestamptz[])
ON CONFLICT (event_id, user_id, channel) DO UPDATE SET
	outcome = excluded.outcome,
	reason = excluded.reason,
	attempts = excluded.attempts,
	at = excluded.at`

const selectEventSQL = `SELECT doc, targeted, recipients, planned, planned_at FROM events WHERE id = $1`

const listRecordedSQL = `SELECT user_id, channel, outcome, reason, attempts, at FROM deliveries WHERE event_id = $1`

// RecordPlans stores plans (each event with its planning outcomes as one
// row) and adds their inbox items, all in one transaction. Repeating it is
// harmless: an event keeps its first plan, and the inbox items of a plan
// whose event is already stored are not added again (the event row is the
// idempotency guard; the unique (user, event) index backs it). Events are
// added by one INSERT over arrays, inbox items by one COPY, with seqs
// reserved beforehand (see reserveSeqs), so the items added get consecutive
// seqs in the order of plans.
func (s *Store) RecordPlans(ctx context.Context, plans []store.Plan) ([]store.InboxItem, error) {
	if len(plans) == 0 {
		return nil, nil
	}
	events, err := eventrows.Encode(plans)
	if err != nil {
		return nil, fmt.Errorf("pgstore: record plans: %w", err)
	}
	// Reserve a seq for every item that may be added; those of events
	// planned before are left unused.
	candidates := 0
	for _, e := range events {
		candidates += len(e.Inbox)
	}
	var first int64
	if candidates > 0 {
		if first, err = s.reserveSeqs(ctx, candidates); err != nil {
			return nil, fmt.Errorf("pgstore: record plans of %d events: %w", len(plans), err)
		}
	}
	var rows []eventrows.InboxRow
	err = s.inTx(ctx, func(tx pgx.Tx) error {
		fresh, err := insertEvents(ctx, tx, events)
		if err != nil {
			return err
		}
		rows = eventrows.Added(events, fresh, time.Now().UTC().Truncate(time.Microsecond)) // as stored
		for i := range rows {
			rows[i].Item.Seq = first + int64(i)
		}
		return copyInbox(ctx, tx, rows)
	})
	if err != nil {
		return nil, fmt.Errorf("pgstore: record plans of %d events: %w", len(plans), err)
	}
	if len(rows) == 0 {
		return nil, nil
	}
	added := make([]store.InboxItem, len(rows))
	for i := range rows {
		added[i] = rows[i].Item
	}
	return added, nil
}

// insertEvents adds the events' rows within tx, in id order (so concurrent
// writers cannot deadlock), and returns the ids of those it inserted; the
// others were planned before.
func insertEvents(ctx context.Context, tx pgx.Tx, events []eventrows.Event) (map[string]bool, error) {
	sorted := slices.Clone(events)
	slices.SortFunc(sorted, func(a, b eventrows.Event) int { return cmp.Compare(a.Plan.Event.ID, b.Plan.Event.ID) })
	n := len(sorted)
	ids, docs, planned := make([]string, n), make([]string, n), make([]string, n)
	targeted, recipients := make([]int32, n), make([]int32, n)
	at := make([]*time.Time, n)
	for i, e := range sorted {
		p := e.Plan
		ids[i], docs[i], planned[i] = p.Event.ID, e.Doc, e.Outcomes
		targeted[i], recipients[i] = int32(p.Targeted), int32(len(p.Event.Audience.Users))
		at[i] = ts(p.PlannedAt)
	}
	rows, err := tx.Query(ctx, insertEventsSQL, ids, docs, targeted, recipients, planned, at)
	if err != nil {
		return nil, fmt.Errorf("events: %w", err)
	}
	inserted, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("events: %w", err)
	}
	fresh := make(map[string]bool, len(inserted))
	for _, id := range inserted {
		fresh[id] = true
	}
	return fresh, nil
}

// RecordOutcomes upserts delivery outcomes in one statement: a later
// outcome for the same (event, person, channel) replaces the earlier one,
// within the batch too.
func (s *Store) RecordOutcomes(ctx context.Context, outcomes []store.DeliveryRecord) error {
	if len(outcomes) == 0 {
		return nil
	}
	// One row per key, the last given, in key order: an upsert may not
	// touch a row twice, and writers that lock rows in one order cannot
	// deadlock.
	type key struct{ event, user, channel string }
	last := make(map[key]int, len(outcomes))
	for i, r := range outcomes {
		last[key{r.EventID, r.UserID, r.Channel}] = i
	}
	recs := make([]store.DeliveryRecord, 0, len(last))
	for i, r := range outcomes {
		if last[key{r.EventID, r.UserID, r.Channel}] == i {
			recs = append(recs, r)
		}
	}
	slices.SortFunc(recs, func(a, b store.DeliveryRecord) int {
		return cmp.Or(cmp.Compare(a.EventID, b.EventID), cmp.Compare(a.UserID, b.UserID), cmp.Compare(a.Channel, b.Channel))
	})
	n := len(recs)
	events, users, channels, outs, reasons := make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
	attempts, at := make([]int32, n), make([]*time.Time, n)
	for i, r := range recs {
		events[i], users[i], channels[i], outs[i], reasons[i] = r.EventID, r.UserID, r.Channel, string(r.Outcome), r.Reason
		attempts[i], at[i] = int32(r.Attempts), ts(r.At)
	}
	if _, err := s.pool.Exec(ctx, upsertOutcomesSQL, events, users, channels, outs, reasons, attempts, at); err != nil {
		return fmt.Errorf("pgstore: record %d outcomes: %w", len(outcomes), err)
	}
	return nil
}

// FinalOutcomes returns which users already have a final recorded outcome
// for (event, channel), dead letters aside (replay retries them).
func (s *Store) FinalOutcomes(ctx context.Context, eventID, channel string, users []string) (map[string]bool, error) {
	out := map[string]bool{}
	for chunk := range slices.Chunk(users, prefsBatch) {
		rows, err := s.pool.Query(ctx, `SELECT user_id, outcome FROM deliveries WHERE event_id = $1 AND channel = $2 AND user_id = ANY($3)`,
			eventID, channel, chunk)
		if err != nil {
			return nil, fmt.Errorf("pgstore: final outcomes of %s: %w", eventID, err)
		}
		var u, o string
		_, err = pgx.ForEachRow(rows, []any{&u, &o}, func() error {
			if store.Outcome(o).Done() {
				out[u] = true
			}
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("pgstore: final outcomes of %s: %w", eventID, err)
		}
	}
	return out, nil
}

// EventStatus summarises an event from one snapshot (a repeatable-read
// transaction): the outcomes decided while planning, overridden by outcomes
// recorded since for the same (person, channel). Every channel in
// prefs.Channels is targeted once per recipient; Pending is what is
// targeted less the final outcomes. Recipients are listed in (user,
// channel) order.
func (s *Store) EventStatus(ctx context.Context, eventID string, recipientLimit int) (store.EventStatus, error) {
	var (
		st         store.EventStatus
		doc        []byte
		planned    []byte
		recipients int
		plannedAt  *time.Time
		recorded   []store.DeliveryRecord
	)
	err := pgx.BeginTxFunc(ctx, s.pool, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
		err := tx.QueryRow(ctx, selectEventSQL, eventID).Scan(&doc, &st.Targeted, &recipients, &planned, &plannedAt)
		if errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("event %s was never planned: %w", eventID, store.ErrNotFound)
		}
		if err != nil {
			return err
		}
		recorded, err = listRecorded(ctx, tx, eventID)
		return err
	})
	if err != nil {
		return st, fmt.Errorf("pgstore: status of event %s: %w", eventID, err)
	}
	if err := json.Unmarshal(doc, &st.Event); err != nil {
		return st, fmt.Errorf("pgstore: status of event %s: decode event: %w", eventID, err)
	}
	st.PlannedAt = fromTS(plannedAt)
	if err := eventrows.Status(&st, eventID, planned, recipients, recorded, recipientLimit); err != nil {
		return st, fmt.Errorf("pgstore: status of event %s: %w", eventID, err)
	}
	return st, nil
}

// listRecorded returns the outcomes recorded for an event after planning.
func listRecorded(ctx context.Context, q querier, eventID string) ([]store.DeliveryRecord, error) {
	rows, err := q.Query(ctx, listRecordedSQL, eventID)
	if err != nil {
		return nil, err
	}
	var out []store.DeliveryRecord
	var (
		r  store.DeliveryRecord
		at *time.Time
	)
	_, err = pgx.ForEachRow(rows, []any{&r.UserID, &r.Channel, &r.Outcome, &r.Reason, &r.Attempts, &at}, func() error {
		rec := r
		rec.EventID = eventID
		rec.At = fromTS(at)
		out = append(out, rec)
		return nil
	})
	return out, err
}
