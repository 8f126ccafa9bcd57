package pgstore

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/herald/herald/internal/prefs"
	"github.com/herald/herald/internal/store/userids"
)

// prefsBatch is how many ids one LoadPreferences query asks for.
const prefsBatch = 1000

const prefsColumns = `user_id, conversation, mobile, webpush, inbox, categories, quiet_start, quiet_end, quiet_urgent, time_zone, locale, updated_at`

const selectPrefsSQL = `SELECT ` + prefsColumns + ` FROM preferences WHERE user_id = ANY($1)`

// insertPrefsSQL adds many records in one statement from column arrays (see
// prefsArrays); onConflict finishes it.
const insertPrefsSQL = `INSERT INTO preferences (` + prefsColumns + `)
SELECT u, c, m, w, i, cat::jsonb, qs, qe, qu, tz, loc, at
FROM unnest($1::text[], $2::boolean[], $3::boolean[], $4::boolean[], $5::boolean[], $6::text[], $7::text[], $8::text[], $9::text[], $10::text[], $11::text[], $12::timestamptz[])
	AS r(u, c, m, w, i, cat, qs, qe, qu, tz, loc, at)
`

// insertDefaultPrefsSQL adds records unless the user has one, and returns
// the users it added.
const insertDefaultPrefsSQL = insertPrefsSQL + `ON CONFLICT (user_id) DO NOTHING RETURNING user_id`

// upsertPrefsSQL adds or replaces records.
const upsertPrefsSQL = insertPrefsSQL + `ON CONFLICT (user_id) DO UPDATE SET
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

// prefsArrays holds records column by column, the parameters of
// insertPrefsSQL.
type prefsArrays struct {
	users                                []string
	conversation, mobile, webpush, inbox []bool
	categories, quietStart, quietEnd     []*string
	quietUrgent                          []*string
	timeZone, locale                     []string
	updatedAt                            []*time.Time
}

func newPrefsArrays(ps []prefs.Preferences) prefsArrays {
	n := len(ps)
	a := prefsArrays{
		users: make([]string, n), conversation: make([]bool, n), mobile: make([]bool, n), webpush: make([]bool, n),
		inbox: make([]bool, n), categories: make([]*string, n), quietStart: make([]*string, n), quietEnd: make([]*string, n),
		quietUrgent: make([]*string, n), timeZone: make([]string, n), locale: make([]string, n), updatedAt: make([]*time.Time, n),
	}
	for i, p := range ps {
		a.users[i] = p.UserID
		a.conversation[i] = p.SendNotificationToConversation
		a.mobile[i] = p.SendNotificationToMobileDevice
		a.webpush[i] = p.SendNotificationToWebPush
		a.inbox[i] = p.SendNotificationToInbox
		if len(p.Categories) > 0 {
			b, _ := json.Marshal(p.Categories) // a map[string]bool always marshals
			c := string(b)
			a.categories[i] = &c
		}
		if p.QuietHours != nil {
			a.quietStart[i], a.quietEnd[i] = &p.QuietHours.Start, &p.QuietHours.End
			if len(p.QuietHours.AllowUrgent) > 0 {
				b, _ := json.Marshal(p.QuietHours.AllowUrgent) // a []string always marshals
				u := string(b)
				a.quietUrgent[i] = &u
			}
		}
		a.timeZone[i] = p.TimeZone
		a.locale[i] = p.Locale
		a.updatedAt[i] = ts(p.UpdatedAt)
	}
	return a
}

func (a prefsArrays) args() []any {
	return []any{a.users, a.conversation, a.mobile, a.webpush, a.inbox, a.categories, a.quietStart, a.quietEnd, a.quietUrgent, a.timeZone, a.locale, a.updatedAt}
}

// sortPrefs returns ps sorted by user id with one record per user, the last
// one given. Writers that lock rows in key order cannot deadlock each other,
// and an upsert may not touch a row twice.
func sortPrefs(ps []prefs.Preferences) []prefs.Preferences {
	out := slices.Clone(ps)
	slices.SortStableFunc(out, func(a, b prefs.Preferences) int { return cmp.Compare(a.UserID, b.UserID) })
	j := 0
	for i := range out {
		if j > 0 && out[j-1].UserID == out[i].UserID {
			out[j-1] = out[i]
			continue
		}
		out[j] = out[i]
		j++
	}
	return out[:j]
}

// LoadPreferences returns the preferences of every user in ids. Known users
// are read in batches of prefsBatch ids; the unknown ones get the default
// record, inserted in one statement. A user created concurrently by another
// caller between the read and the write keeps the stored record, which is
// what is returned. Defaults are stamped with the time they were created.
func (s *Store) LoadPreferences(ctx context.Context, ids []string) (map[string]prefs.Preferences, error) {
	out := make(map[string]prefs.Preferences, len(ids))
	if len(ids) == 0 {
		return out, nil
	}
	for chunk := range slices.Chunk(ids, prefsBatch) {
		if err := s.selectPrefs(ctx, s.pool, chunk, out); err != nil {
			return nil, fmt.Errorf("pgstore: load preferences: %w", err)
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

// querier is a pool or a transaction.
type querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
}

// selectPrefs reads the stored records of ids into out.
func (s *Store) selectPrefs(ctx context.Context, q querier, ids []string, out map[string]prefs.Preferences) error {
	rows, err := q.Query(ctx, selectPrefsSQL, ids)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		p, err := scanPrefs(rows)
		if err != nil {
			return err
		}
		out[p.UserID] = p
	}
	return rows.Err()
}

// createDefaults inserts the default record of each id (sorted, unique) in
// one statement and puts what is stored into out: the default, or the
// record another writer stored first.
func (s *Store) createDefaults(ctx context.Context, ids []string, out map[string]prefs.Preferences) error {
	now := time.Now().UTC().Truncate(time.Microsecond)
	defaults := make([]prefs.Preferences, len(ids))
	for i, id := range ids {
		defaults[i] = prefs.Default(id)
		defaults[i].UpdatedAt = now
	}
	rows, err := s.pool.Query(ctx, insertDefaultPrefsSQL, newPrefsArrays(defaults).args()...)
	if err != nil {
		return fmt.Errorf("pgstore: create default preferences for %d users: %w", len(ids), err)
	}
	added, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return fmt.Errorf("pgstore: create default preferences for %d users: %w", len(ids), err)
	}
	for _, id := range added {
		p := prefs.Default(id)
		p.UpdatedAt = now
		out[id] = p
	}
	if len(added) == len(ids) {
		return nil
	}
	var raced []string
	for _, id := range ids {
		if _, ok := out[id]; !ok {
			raced = append(raced, id)
		}
	}
	if err := s.selectPrefs(ctx, s.pool, raced, out); err != nil {
		return fmt.Errorf("pgstore: read preferences created concurrently: %w", err)
	}
	return nil
}

// SavePreferences stores p, replacing the user's record. A zero UpdatedAt
// is stored as the current time.
func (s *Store) SavePreferences(ctx context.Context, p prefs.Preferences) error {
	if p.UserID == "" {
		return fmt.Errorf("pgstore: save preferences: empty user id")
	}
	if p.UpdatedAt.IsZero() {
		p.UpdatedAt = time.Now()
	}
	if _, err := s.pool.Exec(ctx, upsertPrefsSQL, newPrefsArrays([]prefs.Preferences{p}).args()...); err != nil {
		return fmt.Errorf("pgstore: save preferences of %q: %w", p.UserID, err)
	}
	return nil
}

func scanPrefs(row pgx.Row) (prefs.Preferences, error) {
	var (
		p          prefs.Preferences
		categories []byte
		start, end *string
		urgent     *string
		updated    *time.Time
	)
	err := row.Scan(&p.UserID,
		&p.SendNotificationToConversation,
		&p.SendNotificationToMobileDevice,
		&p.SendNotificationToWebPush,
		&p.SendNotificationToInbox,
		&categories, &start, &end, &urgent, &p.TimeZone, &p.Locale, &updated)
	if err != nil {
		return p, err
	}
	p.Categories = map[string]bool{}
	if categories != nil {
		if err := json.Unmarshal(categories, &p.Categories); err != nil {
			return p, fmt.Errorf("categories of %q: %w", p.UserID, err)
		}
	}
	if start != nil || end != nil {
		p.QuietHours = &prefs.QuietHours{}
		if start != nil {
			p.QuietHours.Start = *start
		}
		if end != nil {
			p.QuietHours.End = *end
		}
		if urgent != nil {
			if err := json.Unmarshal([]byte(*urgent), &p.QuietHours.AllowUrgent); err != nil {
				return p, fmt.Errorf("quiet hours of %q: %w", p.UserID, err)
			}
		}
	}
	p.UpdatedAt = fromTS(updated)
	return p, nil
}
