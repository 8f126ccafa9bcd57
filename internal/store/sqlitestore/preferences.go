package sqlitestore

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"time"

	"github.com/herald/herald/internal/prefs"
	"github.com/herald/herald/internal/store/userids"
)

// prefsBatch is how many ids one LoadPreferences query asks for. SQLite's
// default limit on host parameters is 32766, so this is about statement
// size and reuse, not a hard limit.
const prefsBatch = 500

const prefsColumns = `user_id, conversation, mobile, webpush, inbox, categories, quiet_start, quiet_end, quiet_urgent, time_zone, locale, updated_at`

func selectPrefsIn(n int) string {
	return `SELECT ` + prefsColumns + ` FROM preferences WHERE user_id IN (` + placeholders(n) + `)`
}

const insertDefaultPrefsSQL = `INSERT INTO preferences (` + prefsColumns + `)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (user_id) DO NOTHING`

const upsertPrefsSQL = `INSERT INTO preferences (` + prefsColumns + `)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (user_id) DO UPDATE SET
	conversation = excluded.conversation,
	mobile = excluded.mobile,
	webpush = excluded.webpush,
	inbox = excluded.inbox,
	categories = excluded.categories,
	quiet_start = excluded.quiet_start,
	quiet_end = excluded.quiet_end,
	quiet_urgent = excluded.quiet_urgent,
	time_zone = excluded.time_zone,
	locale = excluded.locale,
	updated_at = excluded.updated_at`

// LoadPreferences returns the preferences of every user in ids. Known users
// are read in batches of 500 ids from the read pool; the unknown ones get
// the default record, inserted in one write transaction. A user created
// concurrently by another caller between the read and the write keeps the
// stored record, which is what is returned. Defaults are stamped with the
// time they were created.
func (s *Store) LoadPreferences(ctx context.Context, ids []string) (map[string]prefs.Preferences, error) {
	out := make(map[string]prefs.Preferences, len(ids))
	if len(ids) == 0 {
		return out, nil
	}
	for start := 0; start < len(ids); start += prefsBatch {
		chunk := ids[start:min(start+prefsBatch, len(ids))]
		if err := s.selectPrefs(ctx, chunk, out); err != nil {
			return nil, err
		}
	}
	missing := userids.Missing(ids, out)
	if len(missing) == 0 {
		return out, nil
	}
	if err := s.createDefaults(ctx, missing, out); err != nil {
		return nil, err
	}
	return out, nil
}

// selectPrefs reads the stored records of ids (at most prefsBatch) into out.
func (s *Store) selectPrefs(ctx context.Context, ids []string, out map[string]prefs.Preferences) error {
	args := make([]any, len(ids))
	for i, id := range ids {
		args[i] = id
	}
	var rows *sql.Rows
	var err error
	if len(ids) == prefsBatch {
		rows, err = s.prefsByIDs.QueryContext(ctx, args...)
	} else {
		rows, err = s.read.QueryContext(ctx, selectPrefsIn(len(ids)), args...)
	}
	if err != nil {
		return fmt.Errorf("sqlitestore: load preferences: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		p, err := scanPrefs(rows)
		if err != nil {
			return fmt.Errorf("sqlitestore: load preferences: %w", err)
		}
		out[p.UserID] = p
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("sqlitestore: load preferences: %w", err)
	}
	return nil
}

// createDefaults inserts the default record of each id in one transaction
// and puts what is stored into out: the default, or the record another
// writer stored first.
func (s *Store) createDefaults(ctx context.Context, ids []string, out map[string]prefs.Preferences) error {
	now := time.Now().UTC()
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		ins := tx.StmtContext(ctx, s.stmts.insertDefaultPrefs)
		var raced []string
		for _, id := range ids {
			p := prefs.Default(id)
			p.UpdatedAt = now
			res, err := ins.ExecContext(ctx, prefsArgs(p)...)
			if err != nil {
				return err
			}
			if n, err := res.RowsAffected(); err != nil {
				return err
			} else if n == 0 {
				raced = append(raced, id)
				continue
			}
			out[id] = p
		}
		for start := 0; start < len(raced); start += prefsBatch {
			chunk := raced[start:min(start+prefsBatch, len(raced))]
			args := make([]any, len(chunk))
			for i, id := range chunk {
				args[i] = id
			}
			rows, err := tx.QueryContext(ctx, selectPrefsIn(len(chunk)), args...)
			if err != nil {
				return err
			}
			for rows.Next() {
				p, err := scanPrefs(rows)
				if err != nil {
					rows.Close()
					return err
				}
				out[p.UserID] = p
			}
			if err := rows.Close(); err != nil {
				return err
			}
			if err := rows.Err(); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("sqlitestore: create default preferences for %d users: %w", len(ids), err)
	}
	return nil
}

// SavePreferences stores p, replacing the user's record. A zero UpdatedAt
// is stored as the current time.
func (s *Store) SavePreferences(ctx context.Context, p prefs.Preferences) error {
	if p.UserID == "" {
		return fmt.Errorf("sqlitestore: save preferences: empty user id")
	}
	if p.UpdatedAt.IsZero() {
		p.UpdatedAt = time.Now()
	}
	if _, err := s.stmts.upsertPrefs.ExecContext(ctx, prefsArgs(p)...); err != nil {
		return fmt.Errorf("sqlitestore: save preferences of %q: %w", p.UserID, err)
	}
	return nil
}

// prefsArgs returns p's columns in prefsColumns order.
func prefsArgs(p prefs.Preferences) []any {
	var categories any
	if len(p.Categories) > 0 {
		b, _ := json.Marshal(p.Categories) // a map[string]bool always marshals
		categories = string(b)
	}
	var start, end, urgent any
	if p.QuietHours != nil {
		start, end = p.QuietHours.Start, p.QuietHours.End
		if len(p.QuietHours.AllowUrgent) > 0 {
			b, _ := json.Marshal(p.QuietHours.AllowUrgent) // a []string always marshals
			urgent = string(b)
		}
	}
	return []any{
		p.UserID,
		p.SendNotificationToConversation,
		p.SendNotificationToMobileDevice,
		p.SendNotificationToWebPush,
		p.SendNotificationToInbox,
		categories,
		start, end, urgent,
		p.TimeZone,
		p.Locale,
		nanos(p.UpdatedAt),
	}
}

func scanPrefs(rows *sql.Rows) (prefs.Preferences, error) {
	var (
		p          prefs.Preferences
		categories sql.NullString
		start, end sql.NullString
		urgent     sql.NullString
		updated    sql.NullInt64
	)
	err := rows.Scan(&p.UserID,
		&p.SendNotificationToConversation,
		&p.SendNotificationToMobileDevice,
		&p.SendNotificationToWebPush,
		&p.SendNotificationToInbox,
		&categories, &start, &end, &urgent, &p.TimeZone, &p.Locale, &updated)
	if err != nil {
		return p, err
	}
	p.Categories = map[string]bool{}
	if categories.Valid {
		if err := json.Unmarshal([]byte(categories.String), &p.Categories); err != nil {
			return p, fmt.Errorf("categories of %q: %w", p.UserID, err)
		}
	}
	if start.Valid || end.Valid {
		p.QuietHours = &prefs.QuietHours{Start: start.String, End: end.String}
		if urgent.Valid {
			if err := json.Unmarshal([]byte(urgent.String), &p.QuietHours.AllowUrgent); err != nil {
				return p, fmt.Errorf("quiet hours of %q: %w", p.UserID, err)
			}
		}
	}
	p.UpdatedAt = fromNanos(updated)
	return p, nil
}
