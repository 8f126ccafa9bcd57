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

	"github.com/herald/herald/internal/event"
	"github.com/herald/herald/internal/prefs"
	"github.com/herald/herald/internal/store"
	"github.com/herald/herald/internal/store/eventrows"
	"github.com/herald/herald/internal/store/userids"
)

// importBatch is the most rows one statement of ImportUsers writes.
const importBatch = 5000

// CreateTopic creates a topic; store.ErrConflict if it exists.
func (s *Store) CreateTopic(ctx context.Context, name, description string) (store.Topic, error) {
	t := store.Topic{Name: name, Description: description, CreatedAt: time.Now().UTC().Truncate(time.Microsecond)}
	tag, err := s.pool.Exec(ctx, `INSERT INTO topics (name, description, created_at) VALUES ($1, $2, $3) ON CONFLICT (name) DO NOTHING`,
		name, description, t.CreatedAt)
	if err != nil {
		return t, fmt.Errorf("pgstore: create topic %q: %w", name, err)
	}
	if tag.RowsAffected() == 0 {
		return t, fmt.Errorf("pgstore: topic %q exists: %w", name, store.ErrConflict)
	}
	return t, nil
}

const topicSQL = `SELECT t.name, t.description, t.created_at, (SELECT count(*) FROM members m WHERE m.topic = t.name) FROM topics t`

// Topics lists every topic with its member count, by name.
func (s *Store) Topics(ctx context.Context) ([]store.Topic, error) {
	rows, err := s.pool.Query(ctx, topicSQL+` ORDER BY t.name`)
	if err != nil {
		return nil, fmt.Errorf("pgstore: list topics: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (store.Topic, error) { return scanTopic(row) })
	if err != nil {
		return nil, fmt.Errorf("pgstore: list topics: %w", err)
	}
	return out, nil
}

// Topic returns one topic; store.ErrNotFound if absent.
func (s *Store) Topic(ctx context.Context, name string) (store.Topic, error) {
	t, err := scanTopic(s.pool.QueryRow(ctx, topicSQL+` WHERE t.name = $1`, name))
	if errors.Is(err, pgx.ErrNoRows) {
		return store.Topic{}, fmt.Errorf("pgstore: topic %q: %w", name, store.ErrNotFound)
	}
	if err != nil {
		return store.Topic{}, fmt.Errorf("pgstore: topic %q: %w", name, err)
	}
	return t, nil
}

func scanTopic(row pgx.Row) (store.Topic, error) {
	var t store.Topic
	var created *time.Time
	err := row.Scan(&t.Name, &t.Description, &created, &t.Members)
	t.CreatedAt = fromTS(created)
	return t, err
}

// DeleteTopic removes a topic and its memberships in one statement.
func (s *Store) DeleteTopic(ctx context.Context, name string) error {
	var n int
	err := s.pool.QueryRow(ctx, `WITH t AS (DELETE FROM topics WHERE name = $1 RETURNING 1),
		m AS (DELETE FROM members WHERE topic = $1)
		SELECT count(*) FROM t`, name).Scan(&n)
	if err != nil {
		return fmt.Errorf("pgstore: delete topic %q: %w", name, err)
	}
	if n == 0 {
		return fmt.Errorf("pgstore: topic %q: %w", name, store.ErrNotFound)
	}
	return nil
}

// AddMembers adds people to a topic, creating default preferences for
// people seen for the first time, with one INSERT over an array.
func (s *Store) AddMembers(ctx context.Context, topic string, users []string) (int, error) {
	var exists bool
	if err := s.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM topics WHERE name = $1)`, topic).Scan(&exists); err != nil {
		return 0, fmt.Errorf("pgstore: topic %q: %w", topic, err)
	}
	if !exists {
		return 0, fmt.Errorf("pgstore: topic %q: %w", topic, store.ErrNotFound)
	}
	if _, err := s.LoadPreferences(ctx, users); err != nil {
		return 0, err
	}
	users = userids.SortedUnique(users)
	if len(users) == 0 {
		return 0, nil
	}
	tag, err := s.pool.Exec(ctx, `INSERT INTO members (topic, user_id) SELECT $1, u FROM unnest($2::text[]) AS u ON CONFLICT DO NOTHING`, topic, users)
	if err != nil {
		return 0, fmt.Errorf("pgstore: add %d members to %q: %w", len(users), topic, err)
	}
	return int(tag.RowsAffected()), nil
}

// RemoveMembers removes people from a topic.
func (s *Store) RemoveMembers(ctx context.Context, topic string, users []string) (int, error) {
	users = userids.SortedUnique(users)
	if len(users) == 0 {
		return 0, nil
	}
	tag, err := s.pool.Exec(ctx, `DELETE FROM members WHERE topic = $1 AND user_id = ANY($2)`, topic, users)
	if err != nil {
		return 0, fmt.Errorf("pgstore: remove members from %q: %w", topic, err)
	}
	return int(tag.RowsAffected()), nil
}

// Members lists a topic's members in id order after a cursor; a negative
// limit means all of them.
func (s *Store) Members(ctx context.Context, topic, after string, limit int) ([]string, error) {
	var lim *int
	if limit >= 0 {
		lim = &limit
	}
	rows, err := s.pool.Query(ctx, `SELECT user_id FROM members WHERE topic = $1 AND user_id > $2 ORDER BY user_id LIMIT $3`, topic, after, lim)
	if err != nil {
		return nil, fmt.Errorf("pgstore: members of %q: %w", topic, err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("pgstore: members of %q: %w", topic, err)
	}
	return out, nil
}

// ImportUsers upserts preferences and adds topic memberships (creating
// missing topics) in one transaction, a few statements over arrays of up
// to importBatch rows each, in key order. A person listed twice keeps the
// last record given, and the topics of both.
func (s *Store) ImportUsers(ctx context.Context, users []store.UserRecord) error {
	if len(users) == 0 {
		return nil
	}
	now := time.Now().UTC().Truncate(time.Microsecond)
	ps := make([]prefs.Preferences, len(users))
	type membership struct{ topic, user string }
	var members []membership
	var topics []string
	for i, u := range users {
		ps[i] = u.Preferences
		if ps[i].UpdatedAt.IsZero() {
			ps[i].UpdatedAt = now
		}
		for _, t := range u.Topics {
			members = append(members, membership{t, u.Preferences.UserID})
			topics = append(topics, t)
		}
	}
	ps = sortPrefs(ps)
	topics = userids.SortedUnique(topics)
	slices.SortFunc(members, func(a, b membership) int { return cmp.Or(cmp.Compare(a.topic, b.topic), cmp.Compare(a.user, b.user)) })
	members = slices.Compact(members)

	err := s.inTx(ctx, func(tx pgx.Tx) error {
		for chunk := range slices.Chunk(ps, importBatch) {
			if _, err := tx.Exec(ctx, upsertPrefsSQL, newPrefsArrays(chunk).args()...); err != nil {
				return fmt.Errorf("preferences: %w", err)
			}
		}
		if len(topics) > 0 {
			if _, err := tx.Exec(ctx, `INSERT INTO topics (name, description, created_at) SELECT n, '', $2 FROM unnest($1::text[]) AS n ON CONFLICT DO NOTHING`,
				topics, now); err != nil {
				return fmt.Errorf("topics: %w", err)
			}
		}
		for chunk := range slices.Chunk(members, importBatch) {
			tps, us := make([]string, len(chunk)), make([]string, len(chunk))
			for i, m := range chunk {
				tps[i], us[i] = m.topic, m.user
			}
			if _, err := tx.Exec(ctx, `INSERT INTO members (topic, user_id) SELECT * FROM unnest($1::text[], $2::text[]) ON CONFLICT DO NOTHING`, tps, us); err != nil {
				return fmt.Errorf("memberships: %w", err)
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("pgstore: import %d users: %w", len(users), err)
	}
	return nil
}

// startBroadcastSQL records a broadcast and, if it is new, its event, in
// one statement; it returns 1 if the broadcast is new.
const startBroadcastSQL = `WITH b AS (
	INSERT INTO broadcasts (event_id, doc, state, started_at) VALUES ($1, $2::json, $3, $4)
	ON CONFLICT DO NOTHING RETURNING event_id
), e AS (
	INSERT INTO events (id, doc, targeted, recipients, planned, planned_at)
	SELECT event_id, $2::json, 0, 0, '[]', $4 FROM b
	ON CONFLICT DO NOTHING
)
SELECT count(*) FROM b`

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
		return false, fmt.Errorf("pgstore: start broadcast %s: %w", ev.ID, err)
	}
	var n int
	if err := s.pool.QueryRow(ctx, startBroadcastSQL, ev.ID, string(doc), store.BroadcastRunning, ts(at)).Scan(&n); err != nil {
		return false, fmt.Errorf("pgstore: start broadcast %s: %w", ev.ID, err)
	}
	return n == 1, nil
}

const broadcastColumns = `doc, state, cursor, recipients, counts, started_at, finished_at`

func scanBroadcast(row pgx.Row) (store.Broadcast, error) {
	var (
		b              store.Broadcast
		doc, counts    []byte
		started, ended *time.Time
	)
	if err := row.Scan(&doc, &b.State, &b.Cursor, &b.Recipients, &counts, &started, &ended); err != nil {
		return b, err
	}
	if err := eventrows.DecodeBroadcast(&b, doc, counts); err != nil {
		return b, err
	}
	b.StartedAt, b.FinishedAt = fromTS(started), fromTS(ended)
	return b, nil
}

// Broadcast returns a broadcast's progress.
func (s *Store) Broadcast(ctx context.Context, eventID string) (store.Broadcast, error) {
	b, err := scanBroadcast(s.pool.QueryRow(ctx, `SELECT `+broadcastColumns+` FROM broadcasts WHERE event_id = $1`, eventID))
	if errors.Is(err, pgx.ErrNoRows) {
		return b, fmt.Errorf("pgstore: broadcast %s: %w", eventID, store.ErrNotFound)
	}
	if err != nil {
		return b, fmt.Errorf("pgstore: broadcast %s: %w", eventID, err)
	}
	return b, nil
}

// RunningBroadcasts lists broadcasts still running, oldest first.
func (s *Store) RunningBroadcasts(ctx context.Context) ([]store.Broadcast, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+broadcastColumns+` FROM broadcasts WHERE state = 'running' ORDER BY started_at`)
	if err != nil {
		return nil, fmt.Errorf("pgstore: running broadcasts: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (store.Broadcast, error) { return scanBroadcast(row) })
	if err != nil {
		return nil, fmt.Errorf("pgstore: running broadcasts: %w", err)
	}
	return out, nil
}

// AudiencePage visits up to limit candidates after a cursor (1000 when
// limit is not positive). With All the candidates are every person with
// preferences, and done means the page was short; otherwise they are the
// members of the topics merged with the listed users, and done means no
// topic filled the page and the merge did not overflow it. Exclusions are
// applied to the candidates visited.
func (s *Store) AudiencePage(ctx context.Context, a event.Audience, after string, limit int) ([]prefs.Preferences, string, bool, error) {
	if limit <= 0 {
		limit = 1000
	}
	var page []prefs.Preferences
	var last string
	done := true
	if a.All {
		rows, err := s.pool.Query(ctx, `SELECT `+prefsColumns+` FROM preferences WHERE user_id > $1 ORDER BY user_id LIMIT $2`, after, limit)
		if err != nil {
			return nil, "", false, fmt.Errorf("pgstore: audience page: %w", err)
		}
		page, err = pgx.CollectRows(rows, func(row pgx.CollectableRow) (prefs.Preferences, error) { return scanPrefs(row) })
		if err != nil {
			return nil, "", false, fmt.Errorf("pgstore: audience page: %w", err)
		}
		if len(page) > 0 {
			last = page[len(page)-1].UserID
		}
		done = len(page) < limit
	} else {
		ids, more, err := s.candidates(ctx, a, after, limit)
		if err != nil {
			return nil, "", false, fmt.Errorf("pgstore: audience page: %w", err)
		}
		if len(ids) > 0 {
			last = ids[len(ids)-1]
		}
		done = !more
		found := make(map[string]prefs.Preferences, len(ids))
		for chunk := range slices.Chunk(ids, prefsBatch) {
			if err := s.selectPrefs(ctx, s.pool, chunk, found); err != nil {
				return nil, "", false, fmt.Errorf("pgstore: audience page: %w", err)
			}
		}
		page = userids.Pick(ids, found)
	}
	kept, err := s.exclude(ctx, a.Exclude, page)
	if err != nil {
		return nil, "", false, fmt.Errorf("pgstore: audience page: %w", err)
	}
	return kept, last, done, nil
}

// candidatesSQL reads up to $3 members of each topic in $1 after $2, with
// the topic's position, in one statement.
const candidatesSQL = `SELECT t.ord, m.user_id
FROM unnest($1::text[]) WITH ORDINALITY AS t(name, ord)
CROSS JOIN LATERAL (
	SELECT user_id FROM members WHERE topic = t.name AND user_id > $2 ORDER BY user_id LIMIT $3
) AS m`

// candidates merges the topics' members and the listed users after a
// cursor, in id order without duplicates, up to limit; more says whether
// candidates may remain.
func (s *Store) candidates(ctx context.Context, a event.Audience, after string, limit int) ([]string, bool, error) {
	all := make([]string, 0, limit)
	more := false
	if len(a.Topics) > 0 {
		rows, err := s.pool.Query(ctx, candidatesSQL, a.Topics, after, limit)
		if err != nil {
			return nil, false, err
		}
		perTopic := make(map[int64]int, len(a.Topics))
		var (
			ord int64
			u   string
		)
		_, err = pgx.ForEachRow(rows, []any{&ord, &u}, func() error {
			perTopic[ord]++
			all = append(all, u)
			return nil
		})
		if err != nil {
			return nil, false, err
		}
		for _, n := range perTopic {
			if n == limit {
				more = true
			}
		}
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
		ids := make([]string, len(page))
		for i, p := range page {
			ids[i] = p.UserID
		}
		rows, err := s.pool.Query(ctx, `SELECT DISTINCT user_id FROM members WHERE topic = ANY($1) AND user_id = ANY($2)`, x.Topics, ids)
		if err != nil {
			return nil, fmt.Errorf("excluded topics %q: %w", x.Topics, err)
		}
		var u string
		if _, err := pgx.ForEachRow(rows, []any{&u}, func() error { out[u] = true; return nil }); err != nil {
			return nil, fmt.Errorf("excluded topics %q: %w", x.Topics, err)
		}
	}
	return userids.Drop(page, out), nil
}

// receiptColumns are the columns of a broadcast's content-less inbox
// receipts.
var receiptColumns = []string{"user_id", "seq", "event_id", "message", "created_at", "shared"}

// RecordBroadcastChunk moves the cursor, adds the counters and the inbox
// receipts in one transaction, if the broadcast is running at chunk.From.
// The broadcast's row is locked first, so of processes recording the same
// chunk one wins and the others find the cursor moved. The receipts are
// added with one COPY and get consecutive seqs reserved beforehand.
func (s *Store) RecordBroadcastChunk(ctx context.Context, c store.BroadcastChunk) (int64, bool, error) {
	var first int64
	if len(c.Inbox) > 0 {
		var err error
		if first, err = s.reserveSeqs(ctx, len(c.Inbox)); err != nil {
			return 0, false, fmt.Errorf("pgstore: record broadcast chunk of %s: %w", c.EventID, err)
		}
	}
	recorded := false
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		var cur, state string
		var counts []byte
		err := tx.QueryRow(ctx, `SELECT cursor, state, counts FROM broadcasts WHERE event_id = $1 FOR UPDATE`, c.EventID).Scan(&cur, &state, &counts)
		if errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("broadcast %s: %w", c.EventID, store.ErrNotFound)
		}
		if err != nil {
			return err
		}
		if state != store.BroadcastRunning || cur != c.From {
			return nil
		}
		total := store.Counts{}
		if err := json.Unmarshal(counts, &total); err != nil {
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
		if _, err := tx.Exec(ctx, `UPDATE broadcasts SET cursor = $1, recipients = recipients + $2, counts = $3::jsonb WHERE event_id = $4`,
			c.To, c.Recipients, string(b), c.EventID); err != nil {
			return err
		}
		if len(c.Inbox) > 0 {
			at := ts(c.At)
			_, err := tx.CopyFrom(ctx, pgx.Identifier{"inbox"}, receiptColumns, pgx.CopyFromSlice(len(c.Inbox), func(i int) ([]any, error) {
				return []any{c.Inbox[i], first + int64(i), c.EventID, "", at, true}, nil
			}))
			if err != nil {
				return fmt.Errorf("inbox receipts: %w", err)
			}
		}
		recorded = true
		return nil
	})
	if err != nil {
		return 0, false, fmt.Errorf("pgstore: record broadcast chunk of %s: %w", c.EventID, err)
	}
	if !recorded {
		return 0, false, nil
	}
	return first, true, nil
}

// FinishBroadcast moves a running broadcast to state.
func (s *Store) FinishBroadcast(ctx context.Context, eventID, state string, at time.Time) (bool, error) {
	tag, err := s.pool.Exec(ctx, `UPDATE broadcasts SET state = $1, finished_at = $2 WHERE event_id = $3 AND state = 'running'`, state, ts(at), eventID)
	if err != nil {
		return false, fmt.Errorf("pgstore: finish broadcast %s: %w", eventID, err)
	}
	return tag.RowsAffected() == 1, nil
}
