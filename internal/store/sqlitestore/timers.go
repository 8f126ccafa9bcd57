package sqlitestore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/herald/herald/internal/store"
)

// timerBatch is how many timers one statement writes or deletes.
const timerBatch = 500

// maxRune ends a key prefix's range: keys are valid UTF-8, and no character
// sorts after it.
const maxRune = "\U0010FFFF"

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
	for i, t := range timers {
		if t.Key == "" || t.Kind == "" || t.Due.IsZero() {
			return fmt.Errorf("sqlitestore: %s timers: timer %d needs a key, a kind and a due time", verb, i)
		}
	}
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		for chunk := range slices.Chunk(timers, timerBatch) {
			args := make([]any, 0, 4*len(chunk))
			values := make([]byte, 0, 14*len(chunk))
			for i, t := range chunk {
				if i > 0 {
					values = append(values, ',')
				}
				values = append(values, "(?,?,?,?)"...)
				var payload any
				if len(t.Payload) > 0 {
					payload = string(t.Payload)
				}
				args = append(args, t.Key, t.Kind, t.Due.UnixNano(), payload)
			}
			if _, err := tx.ExecContext(ctx, `INSERT INTO timers (key, kind, due, payload) VALUES `+string(values)+` `+conflict, args...); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("sqlitestore: %s %d timers: %w", verb, len(timers), err)
	}
	return nil
}

// ClaimTimers returns the due timers, earliest first, and moves them a
// lease ahead, in one statement on the single writer.
func (s *Store) ClaimTimers(ctx context.Context, now time.Time, lease time.Duration, limit int) ([]store.Timer, error) {
	if limit <= 0 {
		return nil, nil
	}
	// The timer loop asks every second; most of the time nothing is due,
	// and a reader says so without queueing for the writer.
	var one int
	switch err := s.read.QueryRowContext(ctx, `SELECT 1 FROM timers WHERE due <= ? LIMIT 1`, now.UnixNano()).Scan(&one); {
	case errors.Is(err, sql.ErrNoRows):
		return nil, nil
	case err != nil:
		return nil, fmt.Errorf("sqlitestore: claim due timers: %w", err)
	}
	var out []store.Timer
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		rows, err := tx.QueryContext(ctx, `SELECT key, kind, due, payload FROM timers WHERE due <= ? ORDER BY due, key LIMIT ?`, now.UnixNano(), limit)
		if err != nil {
			return err
		}
		out, err = scanTimers(rows)
		if err != nil || len(out) == 0 {
			return err
		}
		args := make([]any, 0, len(out)+1)
		args = append(args, now.Add(lease).UnixNano())
		for _, t := range out {
			args = append(args, t.Key)
		}
		_, err = tx.ExecContext(ctx, `UPDATE timers SET due = ? WHERE key IN (`+placeholders(len(out))+`)`, args...)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("sqlitestore: claim due timers: %w", err)
	}
	return out, nil
}

// TimersWithPrefix returns the timers whose key starts with prefix.
func (s *Store) TimersWithPrefix(ctx context.Context, prefix string) ([]store.Timer, error) {
	rows, err := s.read.QueryContext(ctx, `SELECT key, kind, due, payload FROM timers WHERE key >= ? AND key < ? ORDER BY key`, prefix, prefix+maxRune)
	if err != nil {
		return nil, fmt.Errorf("sqlitestore: timers %q...: %w", prefix, err)
	}
	out, err := scanTimers(rows)
	if err != nil {
		return nil, fmt.Errorf("sqlitestore: timers %q...: %w", prefix, err)
	}
	return out, nil
}

// DeleteTimers deletes timers by key.
func (s *Store) DeleteTimers(ctx context.Context, keys []string) error {
	if len(keys) == 0 {
		return nil
	}
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		for chunk := range slices.Chunk(keys, timerBatch) {
			args := make([]any, len(chunk))
			for i, k := range chunk {
				args[i] = k
			}
			if _, err := tx.ExecContext(ctx, `DELETE FROM timers WHERE key IN (`+placeholders(len(chunk))+`)`, args...); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("sqlitestore: delete %d timers: %w", len(keys), err)
	}
	return nil
}

func scanTimers(rows *sql.Rows) ([]store.Timer, error) {
	defer rows.Close()
	var out []store.Timer
	for rows.Next() {
		var t store.Timer
		var due int64
		var payload sql.NullString
		if err := rows.Scan(&t.Key, &t.Kind, &due, &payload); err != nil {
			return nil, err
		}
		t.Due = time.Unix(0, due).UTC()
		if payload.Valid {
			t.Payload = json.RawMessage(payload.String)
		}
		out = append(out, t)
	}
	return out, rows.Err()
}

// InboxReadAt reads the read state of one event's notification in the
// inboxes of users, through the inbox index (see eventKey).
func (s *Store) InboxReadAt(ctx context.Context, eventID string, users []string) (map[string]time.Time, error) {
	out := make(map[string]time.Time, len(users))
	for chunk := range slices.Chunk(users, deviceBatch) {
		args := make([]any, 0, len(chunk)+2)
		args = append(args, eventKey(eventID), eventID)
		for _, u := range chunk {
			args = append(args, u)
		}
		rows, err := s.read.QueryContext(ctx, `SELECT user_id, read_at FROM inbox
			WHERE event_key = ? AND event_id = ? AND user_id IN (`+placeholders(len(chunk))+`)`, args...)
		if err != nil {
			return nil, fmt.Errorf("sqlitestore: read state of %s: %w", eventID, err)
		}
		for rows.Next() {
			var u string
			var read sql.NullInt64
			if err := rows.Scan(&u, &read); err != nil {
				rows.Close()
				return nil, fmt.Errorf("sqlitestore: read state of %s: %w", eventID, err)
			}
			// A person may hold the item twice only through a bug; read
			// once is read.
			if at := fromNanos(read); !at.IsZero() || out[u].IsZero() {
				out[u] = at
			}
		}
		if err := rows.Close(); err != nil {
			return nil, fmt.Errorf("sqlitestore: read state of %s: %w", eventID, err)
		}
		if err := rows.Err(); err != nil {
			return nil, fmt.Errorf("sqlitestore: read state of %s: %w", eventID, err)
		}
	}
	return out, nil
}
