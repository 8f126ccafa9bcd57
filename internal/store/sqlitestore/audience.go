package sqlitestore

import (
	"cmp"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/herald/herald/internal/event"
	"github.com/herald/herald/internal/prefs"
	"github.com/herald/herald/internal/store"
	"github.com/herald/herald/internal/store/eventrows"
	"github.com/herald/herald/internal/store/userids"
)

// CreateTopic creates a topic; store.ErrConflict if it exists.
func (s *Store) CreateTopic(ctx context.Context, name, description string) (store.Topic, error) {
	t := store.Topic{Name: name, Description: description, CreatedAt: time.Now().UTC()}
	res, err := s.write.ExecContext(ctx, `INSERT INTO topics (name, description, created_at) VALUES (?, ?, ?) ON CONFLICT (name) DO NOTHING`,
		name, description, nanos(t.CreatedAt))
	if err != nil {
		return t, fmt.Errorf("sqlitestore: create topic %q: %w", name, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return t, fmt.Errorf("sqlitestore: topic %q exists: %w", name, store.ErrConflict)
	}
	return t, nil
}

const topicSQL = `SELECT t.name, t.description, t.created_at, (SELECT count(*) FROM members m WHERE m.topic = t.name) FROM topics t`

// Topics lists every topic with its member count, by name.
func (s *Store) Topics(ctx context.Context) ([]store.Topic, error) {
	rows, err := s.read.QueryContext(ctx, topicSQL+` ORDER BY t.name`)
	if err != nil {
		return nil, fmt.Errorf("sqlitestore: list topics: %w", err)
	}
	defer rows.Close()
	var out []store.Topic
	for rows.Next() {
		t, err := scanTopic(rows)
		if err != nil {
			return nil, fmt.Errorf("sqlitestore: list topics: %w", err)
		}
		out = append(out, t)
	}
	return out, rows.Err()
}

// Topic returns one topic; store.ErrNotFound if absent.
func (s *Store) Topic(ctx context.Context, name string) (store.Topic, error) {
	rows, err := s.read.QueryContext(ctx, topicSQL+` WHERE t.name = ?`, name)
	if err != nil {
		return store.Topic{}, fmt.Errorf("sqlitestore: topic %q: %w", name, err)
	}
	defer rows.Close()
	if !rows.Next() {
		if err := rows.Err(); err != nil {
			return store.Topic{}, err
		}
		return store.Topic{}, fmt.Errorf("sqlitestore: topic %q: %w", name, store.ErrNotFound)
	}
	return scanTopic(rows)
}

func scanTopic(rows *sql.Rows) (store.Topic, error) {
	var t store.Topic
	var created sql.NullInt64
	err := rows.Scan(&t.Name, &t.Description, &created, &t.Members)
	t.CreatedAt = fromNanos(created)
	return t, err
}

// DeleteTopic removes a topic and its memberships.
func (s *Store) DeleteTopic(ctx context.Context, name string) error {
	var n int64
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM topics WHERE name = ?`, name)
		if err != nil {
			return err
		}
		n, _ = res.RowsAffected()
		_, err = tx.ExecContext(ctx, `DELETE FROM members WHERE topic = ?`, name)
		return err
	})
	if err != nil {
		return fmt.Errorf("sqlitestore: delete topic %q: %w", name, err)
	}
	if n == 0 {
		return fmt.Errorf("sqlitestore: topic %q: %w", name, store.ErrNotFound)
	}
	return nil
}

// AddMembers adds people to a topic, creating default preferences for
// people seen for the first time.
func (s *Store) AddMembers(ctx context.Context, topic string, users []string) (int, error) {
	if _, err := s.Topic(ctx, topic); err != nil {
		return 0, err
	}
	if _, err := s.LoadPreferences(ctx, users); err != nil {
		return 0, err
	}
	users = userids.SortedUnique(users)
	added := 0
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		added = 0
		ins, err := tx.PrepareContext(ctx, `INSERT INTO members (topic, user_id) VALUES (?, ?) ON CONFLICT DO NOTHING`)
		if err != nil {
			return err
		}
		defer ins.Close()
		for _, u := range users {
			res, err := ins.ExecContext(ctx, topic, u)
			if err != nil {
				return err
			}
			n, _ := res.RowsAffected()
			added += int(n)
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("sqlitestore: add %d members to %q: %w", len(users), topic, err)
	}
	return added, nil
}

// RemoveMembers removes people from a topic.
func (s *Store) RemoveMembers(ctx context.Context, topic string, users []string) (int, error) {
	removed := 0
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		removed = 0
		for _, u := range userids.SortedUnique(users) {
			res, err := tx.ExecContext(ctx, `DELETE FROM members WHERE topic = ? AND user_id = ?`, topic, u)
			if err != nil {
				return err
			}
			n, _ := res.RowsAffected()
			removed += int(n)
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("sqlitestore: remove members from %q: %w", topic, err)
	}
	return removed, nil
}

// Members lists a topic's members in id order after a cursor.
func (s *Store) Members(ctx context.Context, topic, after string, limit int) ([]string, error) {
	return s.membersAfter(ctx, s.read, topic, after, limit)
}

type querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

func (s *Store) membersAfter(ctx context.Context, q querier, topic, after string, limit int) ([]string, error) {
	rows, err := q.QueryContext(ctx, `SELECT user_id FROM members WHERE topic = ? AND user_id > ? ORDER BY user_id LIMIT ?`, topic, after, limit)
	if err != nil {
		return nil, fmt.Errorf("sqlitestore: members of %q: %w", topic, err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var u string
		if err := rows.Scan(&u); err != nil {
			return nil, err
		}
		out = append(out, u)
	}
	return out, rows.Err()
}

// ImportUsers upserts preferences and adds topic memberships (creating
// missing topics) in one transaction, visiting people in id order so that
// the b-trees are written sequentially.
func (s *Store) ImportUsers(ctx context.Context, users []store.UserRecord) error {
	if len(users) == 0 {
		return nil
	}
	sorted := slices.Clone(users)
	slices.SortFunc(sorted, func(a, b store.UserRecord) int { return cmp.Compare(a.Preferences.UserID, b.Preferences.UserID) })
	now := time.Now().UTC()
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		up := tx.StmtContext(ctx, s.stmts.upsertPrefs)
		topic, err := tx.PrepareContext(ctx, `INSERT INTO topics (name, description, created_at) VALUES (?, '', ?) ON CONFLICT DO NOTHING`)
		if err != nil {
			return err
		}
		defer topic.Close()
		member, err := tx.PrepareContext(ctx, `INSERT INTO members (topic, user_id) VALUES (?, ?) ON CONFLICT DO NOTHING`)
		if err != nil {
			return err
		}
		defer member.Close()
		seenTopic := map[string]bool{}
		for _, u := range sorted {
			p := u.Preferences
			if p.UpdatedAt.IsZero() {
				p.UpdatedAt = now
			}
			if _, err := up.ExecContext(ctx, prefsArgs(p)...); err != nil {
				return fmt.Errorf("user %q: %w", p.UserID, err)
			}
			for _, t := range u.Topics {
				if !seenTopic[t] {
					seenTopic[t] = true
					if _, err := topic.ExecContext(ctx, t, nanos(now)); err != nil {
						return fmt.Errorf("topic %q: %w", t, err)
					}
				}
				if _, err := member.ExecContext(ctx, t, p.UserID); err != nil {
					return fmt.Errorf("membership of %q in %q: %w", p.UserID, t, err)
				}
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("sqlitestore: import %d users: %w", len(users), err)
	}
	return nil
}

// StartBroadcast records the event and its broadcast as running, and
// creates default preferences for people listed by id.
func (s *Store) StartBroadcast(ctx context.Context, ev event.Event, at time.Time) (bool, error) {
	if len(ev.Audience.Users) > 0 {
		if _, err := s.LoadPreferences(ctx, ev.Audience.Users); err != nil {
			return false, err
		}
	}
	doc, err := json.Marshal(ev)
	if err != nil {
		return false, fmt.Errorf("sqlitestore: start broadcast %s: %w", ev.ID, err)
	}
	created := false
	err = s.inTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `INSERT INTO broadcasts (event_id, doc, state, started_at) VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING`,
			ev.ID, string(doc), store.BroadcastRunning, nanos(at))
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return nil
		}
		created = true
		_, err = tx.ExecContext(ctx, `INSERT INTO events (id, doc, targeted, recipients, planned, planned_at) VALUES (?, ?, 0, 0, '[]', ?) ON CONFLICT DO NOTHING`,
			ev.ID, string(doc), nanos(at))
		return err
	})
	if err != nil {
		return false, fmt.Errorf("sqlitestore: start broadcast %s: %w", ev.ID, err)
	}
	return created, nil
}

const broadcastColumns = `doc, state, cursor, recipients, counts, started_at, finished_at`

func scanBroadcast(row interface{ Scan(...any) error }) (store.Broadcast, error) {
	var (
		b              store.Broadcast
		doc, counts    string
		started, ended sql.NullInt64
	)
	if err := row.Scan(&doc, &b.State, &b.Cursor, &b.Recipients, &counts, &started, &ended); err != nil {
		return b, err
	}
	if err := eventrows.DecodeBroadcast(&b, []byte(doc), []byte(counts)); err != nil {
		return b, err
	}
	b.StartedAt, b.FinishedAt = fromNanos(started), fromNanos(ended)
	return b, nil
}

// Broadcast returns a broadcast's progress.
func (s *Store) Broadcast(ctx context.Context, eventID string) (store.Broadcast, error) {
	b, err := scanBroadcast(s.read.QueryRowContext(ctx, `SELECT `+broadcastColumns+` FROM broadcasts WHERE event_id = ?`, eventID))
	if errors.Is(err, sql.ErrNoRows) {
		return b, fmt.Errorf("sqlitestore: broadcast %s: %w", eventID, store.ErrNotFound)
	}
	if err != nil {
		return b, fmt.Errorf("sqlitestore: broadcast %s: %w", eventID, err)
	}
	return b, nil
}

// RunningBroadcasts lists broadcasts still running, oldest first.
func (s *Store) RunningBroadcasts(ctx context.Context) ([]store.Broadcast, error) {
	rows, err := s.read.QueryContext(ctx, `SELECT `+broadcastColumns+` FROM broadcasts WHERE state = 'running' ORDER BY started_at`)
	if err != nil {
		return nil, fmt.Errorf("sqlitestore: running broadcasts: %w", err)
	}
	defer rows.Close()
	var out []store.Broadcast
	for rows.Next() {
		b, err := scanBroadcast(rows)
		if err != nil {
			return nil, fmt.Errorf("sqlitestore: running broadcasts: %w", err)
		}
		out = append(out, b)
	}
	return out, rows.Err()
}

// AudiencePage visits up to limit candidates after a cursor. With All the
// candidates are every person with preferences; otherwise the members of
// the topics merged with the listed users. Exclusions are applied to the
// candidates visited.
func (s *Store) AudiencePage(ctx context.Context, a event.Audience, after string, limit int) ([]prefs.Preferences, string, bool, error) {
	if limit <= 0 {
		limit = 1000
	}
	var page []prefs.Preferences
	var last string
	done := true
	if a.All {
		rows, err := s.read.QueryContext(ctx, `SELECT `+prefsColumns+` FROM preferences WHERE user_id > ? ORDER BY user_id LIMIT ?`, after, limit)
		if err != nil {
			return nil, "", false, fmt.Errorf("sqlitestore: audience page: %w", err)
		}
		for rows.Next() {
			p, err := scanPrefs(rows)
			if err != nil {
				rows.Close()
				return nil, "", false, fmt.Errorf("sqlitestore: audience page: %w", err)
			}
			page = append(page, p)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, "", false, err
		}
		if len(page) > 0 {
			last = page[len(page)-1].UserID
		}
		done = len(page) < limit
	} else {
		ids, more, err := s.candidates(ctx, a, after, limit)
		if err != nil {
			return nil, "", false, err
		}
		if len(ids) > 0 {
			last = ids[len(ids)-1]
		}
		done = !more
		found := make(map[string]prefs.Preferences, len(ids))
		for start := 0; start < len(ids); start += prefsBatch {
			if err := s.selectPrefs(ctx, ids[start:min(start+prefsBatch, len(ids))], found); err != nil {
				return nil, "", false, err
			}
		}
		page = userids.Pick(ids, found)
	}
	kept, err := s.exclude(ctx, a.Exclude, page)
	return kept, last, done, err
}

// candidates merges the topics' members and the listed users after a
// cursor, in id order without duplicates, up to limit; more says whether
// candidates may remain.
func (s *Store) candidates(ctx context.Context, a event.Audience, after string, limit int) ([]string, bool, error) {
	all := make([]string, 0, limit)
	more := false
	for _, t := range a.Topics {
		m, err := s.membersAfter(ctx, s.read, t, after, limit)
		if err != nil {
			return nil, false, err
		}
		if len(m) == limit {
			more = true
		}
		all = append(all, m...)
	}
	all, more = userids.Merge(all, more, a.Users, after, limit)
	return all, more, nil
}

// exclude drops the excluded people from page.
func (s *Store) exclude(ctx context.Context, x event.Exclusion, page []prefs.Preferences) ([]prefs.Preferences, error) {
	if len(page) == 0 || (len(x.Users) == 0 && len(x.Topics) == 0) {
		return page, nil
	}
	out := make(map[string]bool, len(x.Users))
	for _, u := range x.Users {
		out[u] = true
	}
	if len(x.Topics) > 0 {
		lo, hi := page[0].UserID, page[len(page)-1].UserID
		for _, t := range x.Topics {
			rows, err := s.read.QueryContext(ctx, `SELECT user_id FROM members WHERE topic = ? AND user_id BETWEEN ? AND ?`, t, lo, hi)
			if err != nil {
				return nil, fmt.Errorf("sqlitestore: excluded topic %q: %w", t, err)
			}
			for rows.Next() {
				var u string
				if err := rows.Scan(&u); err != nil {
					rows.Close()
					return nil, err
				}
				out[u] = true
			}
			rows.Close()
		}
	}
	return userids.Drop(page, out), nil
}

// sharedInboxRows is how many inbox receipts one INSERT statement adds.
const sharedInboxRows = 100

// RecordBroadcastChunk moves the cursor, adds the counters and the inbox
// receipts in one transaction, if the broadcast is running at chunk.From.
func (s *Store) RecordBroadcastChunk(ctx context.Context, c store.BroadcastChunk) (int64, bool, error) {
	recorded := false
	var first int64
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		var cur, state, counts string
		err := tx.QueryRowContext(ctx, `SELECT cursor, state, counts FROM broadcasts WHERE event_id = ?`, c.EventID).Scan(&cur, &state, &counts)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("broadcast %s: %w", c.EventID, store.ErrNotFound)
		}
		if err != nil {
			return err
		}
		if state != store.BroadcastRunning || cur != c.From {
			return nil
		}
		total := store.Counts{}
		if err := json.Unmarshal([]byte(counts), &total); err != nil {
			return fmt.Errorf("decode counts: %w", err)
		}
		for ch, m := range c.Counts {
			for k, n := range m {
				total.Add(ch, k, n)
			}
		}
		b, err := json.Marshal(total)
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `UPDATE broadcasts SET cursor = ?, recipients = recipients + ?, counts = ? WHERE event_id = ?`,
			c.To, c.Recipients, string(b), c.EventID); err != nil {
			return err
		}
		// One writer appends rows with rowid max+1 each, so the receipts
		// get consecutive seqs; checked below rather than assumed.
		var before, after int64
		if err := tx.QueryRowContext(ctx, `SELECT coalesce(max(seq), 0) FROM inbox`).Scan(&before); err != nil {
			return err
		}
		if err := insertShared(ctx, tx, c.EventID, c.Inbox, c.At); err != nil {
			return err
		}
		if err := tx.QueryRowContext(ctx, `SELECT coalesce(max(seq), 0) FROM inbox`).Scan(&after); err != nil {
			return err
		}
		if len(c.Inbox) > 0 && after-before == int64(len(c.Inbox)) {
			first = before + 1
		}
		recorded = true
		return nil
	})
	if err != nil {
		return 0, false, fmt.Errorf("sqlitestore: record broadcast chunk of %s: %w", c.EventID, err)
	}
	return first, recorded, nil
}

// insertShared adds content-less inbox receipts for users, many rows per
// statement: per-row statements cost more than the b-tree work here.
func insertShared(ctx context.Context, tx *sql.Tx, eventID string, users []string, at time.Time) error {
	row := `(?, ?, ?, '', '', '', ?, 1)`
	key := eventKey(eventID)
	var full *sql.Stmt
	for start := 0; start < len(users); start += sharedInboxRows {
		chunk := users[start:min(start+sharedInboxRows, len(users))]
		args := make([]any, 0, 4*len(chunk))
		for _, u := range chunk {
			args = append(args, u, eventID, key, nanos(at))
		}
		q := `INSERT INTO inbox (user_id, event_id, event_key, message, urgency, title, created_at, shared) VALUES ` +
			strings.TrimSuffix(strings.Repeat(row+",", len(chunk)), ",")
		var err error
		if len(chunk) == sharedInboxRows {
			if full == nil {
				if full, err = tx.PrepareContext(ctx, q); err != nil {
					return err
				}
				defer full.Close()
			}
			_, err = full.ExecContext(ctx, args...)
		} else {
			_, err = tx.ExecContext(ctx, q, args...)
		}
		if err != nil {
			return fmt.Errorf("inbox receipts: %w", err)
		}
	}
	return nil
}

// FinishBroadcast moves a running broadcast to state.
func (s *Store) FinishBroadcast(ctx context.Context, eventID, state string, at time.Time) (bool, error) {
	res, err := s.write.ExecContext(ctx, `UPDATE broadcasts SET state = ?, finished_at = ? WHERE event_id = ? AND state = 'running'`, state, nanos(at), eventID)
	if err != nil {
		return false, fmt.Errorf("sqlitestore: finish broadcast %s: %w", eventID, err)
	}
	n, _ := res.RowsAffected()
	return n == 1, nil
}

// FinalOutcomes returns which users already have a final recorded outcome
// for (event, channel), dead letters aside (replay retries them).
func (s *Store) FinalOutcomes(ctx context.Context, eventID, channel string, users []string) (map[string]bool, error) {
	out := map[string]bool{}
	for start := 0; start < len(users); start += prefsBatch {
		chunk := users[start:min(start+prefsBatch, len(users))]
		args := make([]any, 0, len(chunk)+2)
		args = append(args, eventID, channel)
		for _, u := range chunk {
			args = append(args, u)
		}
		rows, err := s.read.QueryContext(ctx, `SELECT user_id, outcome FROM deliveries WHERE event_id = ? AND channel = ? AND user_id IN (`+placeholders(len(chunk))+`)`, args...)
		if err != nil {
			return nil, fmt.Errorf("sqlitestore: final outcomes of %s: %w", eventID, err)
		}
		for rows.Next() {
			var u, o string
			if err := rows.Scan(&u, &o); err != nil {
				rows.Close()
				return nil, err
			}
			if store.Outcome(o).Done() {
				out[u] = true
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// fillShared fills the content of the broadcast receipts at positions at of
// items from their broadcasts, which hold it once for everyone.
func (s *Store) fillShared(ctx context.Context, items []store.InboxItem, at []int) error {
	return eventrows.FillShared(items, at, func(eventID string) (event.Notification, error) {
		return s.broadcastNotification(ctx, eventID)
	})
}

// broadcastNotification returns a broadcast's notification, cached: a
// broadcast's content never changes and every recipient reads the same.
func (s *Store) broadcastNotification(ctx context.Context, eventID string) (event.Notification, error) {
	return s.shared.Get(eventID, func() ([]byte, error) {
		var doc string
		err := s.read.QueryRowContext(ctx, `SELECT doc FROM broadcasts WHERE event_id = ?`, eventID).Scan(&doc)
		return []byte(doc), err
	})
}
