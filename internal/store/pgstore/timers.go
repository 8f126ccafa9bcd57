package pgstore

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/herald/herald/internal/store"
)

// maxRune ends a key prefix's range: keys are valid UTF-8 compared byte by
// byte (the key column's "C" collation), and no character sorts after it.
const maxRune = "\U0010FFFF"

// putTimersSQL writes timers from column arrays; a conflict clause ends it.
const putTimersSQL = `INSERT INTO timers (key, kind, due, payload)
SELECT k, t, d, p::json FROM unnest($1::text[], $2::text[], $3::timestamptz[], $4::text[]) AS r(k, t, d, p)
`

// SetTimers upserts timers.
func (s *Store) SetTimers(ctx context.Context, timers []store.Timer) error {
	return s.putTimers(ctx, timers, `ON CONFLICT (key) DO UPDATE SET kind = excluded.kind, due = excluded.due, payload = excluded.payload`, "set")
}

// AddTimers inserts the timers whose key is absent.
func (s *Store) AddTimers(ctx context.Context, timers []store.Timer) error {
	return s.putTimers(ctx, timers, `ON CONFLICT (key) DO NOTHING`, "add")
}

func (s *Store) putTimers(ctx context.Context, timers []store.Timer, conflict, verb string) error {
	if len(timers) == 0 {
		return nil
	}
	// One row per key: an upsert may not touch a row twice; the last
	// timer given wins.
	last := make(map[string]int, len(timers))
	for i, t := range timers {
		if t.Key == "" || t.Kind == "" || t.Due.IsZero() {
			return fmt.Errorf("pgstore: %s timers: timer %d needs a key, a kind and a due time", verb, i)
		}
		last[t.Key] = i
	}
	keys := make([]string, 0, len(last))
	kinds := make([]string, 0, len(last))
	dues := make([]time.Time, 0, len(last))
	payloads := make([]*string, 0, len(last))
	for i, t := range timers {
		if last[t.Key] != i {
			continue
		}
		keys, kinds, dues = append(keys, t.Key), append(kinds, t.Kind), append(dues, t.Due)
		var p *string
		if len(t.Payload) > 0 {
			v := string(t.Payload)
			p = &v
		}
		payloads = append(payloads, p)
	}
	if _, err := s.pool.Exec(ctx, putTimersSQL+conflict, keys, kinds, dues, payloads); err != nil {
		return fmt.Errorf("pgstore: %s %d timers: %w", verb, len(timers), err)
	}
	return nil
}

// ClaimTimers returns the due timers, earliest first, and moves them a
// lease ahead. Rows another claimer holds are skipped, so processes sharing
// the database claim different timers.
func (s *Store) ClaimTimers(ctx context.Context, now time.Time, lease time.Duration, limit int) ([]store.Timer, error) {
	if limit <= 0 {
		return nil, nil
	}
	rows, err := s.pool.Query(ctx, `WITH due AS (
			SELECT key, due FROM timers WHERE due <= $1 ORDER BY due, key LIMIT $3 FOR UPDATE SKIP LOCKED
		)
		UPDATE timers t SET due = $2 FROM due WHERE t.key = due.key
		RETURNING t.key, t.kind, due.due, t.payload::text`, now, now.Add(lease), limit)
	if err != nil {
		return nil, fmt.Errorf("pgstore: claim due timers: %w", err)
	}
	out, err := collectTimers(rows)
	if err != nil {
		return nil, fmt.Errorf("pgstore: claim due timers: %w", err)
	}
	// RETURNING follows no order.
	sortTimersByDue(out)
	return out, nil
}

// TimersWithPrefix returns the timers whose key starts with prefix.
func (s *Store) TimersWithPrefix(ctx context.Context, prefix string) ([]store.Timer, error) {
	rows, err := s.pool.Query(ctx, `SELECT key, kind, due, payload::text FROM timers WHERE key >= $1 AND key < $2 ORDER BY key`, prefix, prefix+maxRune)
	if err != nil {
		return nil, fmt.Errorf("pgstore: timers %q...: %w", prefix, err)
	}
	out, err := collectTimers(rows)
	if err != nil {
		return nil, fmt.Errorf("pgstore: timers %q...: %w", prefix, err)
	}
	return out, nil
}

// DeleteTimers deletes timers by key.
func (s *Store) DeleteTimers(ctx context.Context, keys []string) error {
	if len(keys) == 0 {
		return nil
	}
	if _, err := s.pool.Exec(ctx, `DELETE FROM timers WHERE key = ANY($1)`, keys); err != nil {
		return fmt.Errorf("pgstore: delete %d timers: %w", len(keys), err)
	}
	return nil
}

func collectTimers(rows pgx.Rows) ([]store.Timer, error) {
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (store.Timer, error) {
		var t store.Timer
		var payload *string
		if err := row.Scan(&t.Key, &t.Kind, &t.Due, &payload); err != nil {
			return t, err
		}
		t.Due = t.Due.UTC()
		if payload != nil {
			t.Payload = json.RawMessage(*payload)
		}
		return t, nil
	})
}

func sortTimersByDue(ts []store.Timer) {
	slices.SortFunc(ts, func(a, b store.Timer) int {
		if c := a.Due.Compare(b.Due); c != 0 {
			return c
		}
		return strings.Compare(a.Key, b.Key)
	})
}

// InboxReadAt reads the read state of one event's notification in the
// inboxes of users, through the (user, event) index.
func (s *Store) InboxReadAt(ctx context.Context, eventID string, users []string) (map[string]time.Time, error) {
	out := make(map[string]time.Time, len(users))
	if len(users) == 0 {
		return out, nil
	}
	rows, err := s.pool.Query(ctx, `SELECT user_id, read_at FROM inbox WHERE user_id = ANY($1) AND event_id = $2`, users, eventID)
	if err != nil {
		return nil, fmt.Errorf("pgstore: read state of %s: %w", eventID, err)
	}
	defer rows.Close()
	for rows.Next() {
		var u string
		var read *time.Time
		if err := rows.Scan(&u, &read); err != nil {
			return nil, fmt.Errorf("pgstore: read state of %s: %w", eventID, err)
		}
		out[u] = fromTS(read)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("pgstore: read state of %s: %w", eventID, err)
	}
	return out, nil
}
