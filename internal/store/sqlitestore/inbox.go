package sqlitestore

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"time"

	"github.com/herald/herald/internal/event"
	"github.com/herald/herald/internal/store"
	"github.com/herald/herald/internal/store/eventrows"
)

// DefaultInboxLimit is the page size ListInbox uses when the query's Limit
// is not positive.
const DefaultInboxLimit = 50

const inboxColumns = `seq, user_id, event_id, title, message, category, urgency, actions, data, locale, expires_at, created_at, read_at, shared`

// insertInboxHead makes the batch INSERT of inbox items (see batchInsert).
// There is no unique (user, event) index to keep inserts cheap: RecordPlans
// adds an event's items only in the transaction that stores the event's
// row, which is what makes them idempotent. OR FAIL: see insertEventsHead.
const insertInboxHead = `INSERT OR FAIL INTO inbox (user_id, event_id, event_key, title, message, category, urgency, actions, data, locale, expires_at, created_at)`

const maxSeqSQL = `SELECT coalesce(max(seq), 0) FROM inbox`

// eventKey is the inbox.event_key of an event id: its 32-bit FNV-1a hash
// shifted to 31 bits, which SQLite stores in 4 bytes. The inbox index holds
// this key rather than the id (32 characters), which makes index entries
// about half as large, so that adding items dirties fewer index pages
// (RecordPlans ~1.15x faster in BenchmarkRecordPlans, ~1.2x on a database
// of 1M items);
// MarkRead finds an item by key in the index and compares the id on the
// row, so two ids with the same key cost one more row read, nothing else.
// The function is part of the file format: changing it needs a migration.
func eventKey(id string) int64 {
	h := uint32(2166136261)
	for i := 0; i < len(id); i++ {
		h ^= uint32(id[i])
		h *= 16777619
	}
	return int64(h >> 1)
}

// insertInbox adds rows within tx and returns their items with Seq set.
//
// Seqs are not read back row by row: SQLite gives a row inserted without a
// rowid the largest rowid plus one (https://sqlite.org/autoinc.html) and
// inserts the rows of a VALUES list in order, so on the single write
// connection the rows take the seqs that follow the largest one before
// them. The rowid of the last row confirms it.
func (s *Store) insertInbox(ctx context.Context, tx *sql.Tx, rows []eventrows.InboxRow) ([]store.InboxItem, error) {
	if len(rows) == 0 {
		return nil, nil
	}
	var before, last int64
	if err := tx.QueryRowContext(ctx, maxSeqSQL).Scan(&before); err != nil {
		return nil, fmt.Errorf("inbox: %w", err)
	}
	ins := &s.stmts.insertInbox
	args := make([]any, 0, batchRows*ins.cols)
	for start := 0; start < len(rows); {
		st, n := ins.next(len(rows) - start)
		args = args[:0]
		for i := start; i < start+n; i++ {
			r := &rows[i]
			it := &r.Item
			args = append(args, it.UserID, it.EventID, eventKey(it.EventID), it.Title, it.Message, it.Category, string(it.Urgency),
				text(r.Actions), text(r.Data), it.Locale, nanosPtr(it.ExpiresAt), nanos(it.CreatedAt))
		}
		res, err := tx.StmtContext(ctx, st).ExecContext(ctx, args...)
		if err == nil {
			last, err = res.LastInsertId()
		}
		if err != nil {
			return nil, fmt.Errorf("inbox items %d to %d: %w", start, start+n-1, err)
		}
		start += n
	}
	if want := before + int64(len(rows)); last != want {
		return nil, fmt.Errorf("inbox: %d items added after seq %d end at seq %d, want %d", len(rows), before, last, want)
	}
	added := make([]store.InboxItem, len(rows))
	for i := range rows {
		added[i] = rows[i].Item
		added[i].Seq = before + 1 + int64(i)
	}
	return added, nil
}

// text is a JSON column's value: b as text, or NULL when b is nil.
func text(b []byte) any {
	if b == nil {
		return nil
	}
	return string(b)
}

// listInboxSQL is the page query: its parameters are the user, the cursor
// when paged, and the limit.
func listInboxSQL(paged, unreadOnly bool) string {
	q := `SELECT ` + inboxColumns + ` FROM inbox WHERE user_id = ?`
	if paged {
		q += ` AND seq < ?`
	}
	if unreadOnly {
		q += ` AND read_at IS NULL`
	}
	return q + ` ORDER BY seq DESC LIMIT ?`
}

const unreadCountSQL = `SELECT count(*) FROM inbox WHERE user_id = ? AND read_at IS NULL`

// markReadSQL finds the item by event_key in the index, then checks the
// event id on the row (see eventKey).
const markReadSQL = `UPDATE inbox SET read_at = coalesce(read_at, ?) WHERE user_id = ? AND event_key = ? AND event_id = ? RETURNING ` + inboxColumns

// ListInbox returns a page of an inbox, newest first. A Limit that is not
// positive means DefaultInboxLimit.
func (s *Store) ListInbox(ctx context.Context, q store.InboxQuery) ([]store.InboxItem, error) {
	limit, args := eventrows.InboxPageArgs(q, DefaultInboxLimit)
	rows, err := s.read.QueryContext(ctx, listInboxSQL(q.Before > 0, q.UnreadOnly), args...)
	if err != nil {
		return nil, fmt.Errorf("sqlitestore: list inbox of %q: %w", q.UserID, err)
	}
	defer rows.Close()
	out, err := eventrows.CollectInbox(rows, limit, scanInbox,
		func(eventID string) (event.Notification, error) { return s.broadcastNotification(ctx, eventID) })
	if err != nil {
		return nil, fmt.Errorf("sqlitestore: list inbox of %q: %w", q.UserID, err)
	}
	return out, nil
}

// UnreadCount counts a person's unread notifications from the unread index.
func (s *Store) UnreadCount(ctx context.Context, userID string) (int, error) {
	var n int
	err := s.read.QueryRowContext(ctx, unreadCountSQL, userID).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("sqlitestore: unread count of %q: %w", userID, err)
	}
	return n, nil
}

// MarkRead marks one notification read and returns it. Marking twice keeps
// the first time; a zero at means now.
func (s *Store) MarkRead(ctx context.Context, userID, notificationID string, at time.Time) (store.InboxItem, error) {
	if at.IsZero() {
		at = time.Now()
	}
	rows, err := s.write.QueryContext(ctx, markReadSQL, at.UnixNano(), userID, eventKey(notificationID), notificationID)
	if err != nil {
		return store.InboxItem{}, fmt.Errorf("sqlitestore: mark %s read for %q: %w", notificationID, userID, err)
	}
	defer rows.Close()
	if !rows.Next() {
		if err := rows.Err(); err != nil {
			return store.InboxItem{}, fmt.Errorf("sqlitestore: mark %s read for %q: %w", notificationID, userID, err)
		}
		return store.InboxItem{}, fmt.Errorf("sqlitestore: notification %s is not in the inbox of %q: %w", notificationID, userID, store.ErrNotFound)
	}
	it, shared, err := scanInbox(rows)
	if err != nil {
		return store.InboxItem{}, fmt.Errorf("sqlitestore: mark %s read for %q: %w", notificationID, userID, err)
	}
	if err := rows.Close(); err != nil {
		return store.InboxItem{}, fmt.Errorf("sqlitestore: mark %s read for %q: %w", notificationID, userID, err)
	}
	if shared {
		items := []store.InboxItem{it}
		if err := s.fillShared(ctx, items, []int{0}); err != nil {
			return store.InboxItem{}, fmt.Errorf("sqlitestore: mark %s read for %q: %w", notificationID, userID, err)
		}
		it = items[0]
	}
	return it, nil
}

// scanInbox reads one inbox row; shared reports a broadcast receipt whose
// content is still to be filled in from its broadcast.
func scanInbox(rows *sql.Rows) (it store.InboxItem, shared bool, err error) {
	var (
		urgency                string
		actions, data          sql.NullString
		expires, created, read sql.NullInt64
		sharedCol              int
	)
	err = rows.Scan(&it.Seq, &it.UserID, &it.EventID, &it.Title, &it.Message, &it.Category, &urgency,
		&actions, &data, &it.Locale, &expires, &created, &read, &sharedCol)
	if err != nil {
		return it, false, err
	}
	shared = sharedCol == 1
	it.ID = it.EventID
	it.Urgency = event.Urgency(urgency)
	if actions.Valid {
		if err := json.Unmarshal([]byte(actions.String), &it.Actions); err != nil {
			return it, false, fmt.Errorf("actions of (%s, %s): %w", it.UserID, it.EventID, err)
		}
	}
	if data.Valid {
		it.Data = json.RawMessage(data.String)
	}
	it.ExpiresAt = fromNanosPtr(expires)
	it.CreatedAt = fromNanos(created)
	it.ReadAt = fromNanosPtr(read)
	return it, shared, nil
}
