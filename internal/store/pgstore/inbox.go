package pgstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/herald/herald/internal/event"
	"github.com/herald/herald/internal/store"
	"github.com/herald/herald/internal/store/eventrows"
)

// DefaultInboxLimit is the page size ListInbox uses when the query's Limit
// is not positive.
const DefaultInboxLimit = 50

const inboxColumns = `seq, user_id, event_id, title, message, category, urgency, actions, data, locale, expires_at, created_at, read_at, shared`

// inboxCopyColumns are the columns RecordPlans copies into the inbox.
var inboxCopyColumns = []string{"user_id", "seq", "event_id", "title", "message", "category", "urgency", "actions", "data", "locale", "expires_at", "created_at"}

// copyInbox adds rows, whose seqs are set, with one COPY.
func copyInbox(ctx context.Context, tx pgx.Tx, rows []eventrows.InboxRow) error {
	if len(rows) == 0 {
		return nil
	}
	_, err := tx.CopyFrom(ctx, pgx.Identifier{"inbox"}, inboxCopyColumns, pgx.CopyFromSlice(len(rows), func(i int) ([]any, error) {
		r := &rows[i]
		it := &r.Item
		return []any{it.UserID, it.Seq, it.EventID, it.Title, it.Message, it.Category, string(it.Urgency),
			r.Actions, r.Data, it.Locale, it.ExpiresAt, it.CreatedAt}, nil
	}))
	if err != nil {
		return fmt.Errorf("inbox: %w", err)
	}
	return nil
}

// listInboxSQL is the page query: its parameters are the user, the cursor
// when paged, and the limit.
func listInboxSQL(paged, unreadOnly bool) string {
	q := `SELECT ` + inboxColumns + ` FROM inbox WHERE user_id = $1`
	limit := "$2"
	if paged {
		q += ` AND seq < $2`
		limit = "$3"
	}
	if unreadOnly {
		q += ` AND read_at IS NULL`
	}
	return q + ` ORDER BY seq DESC LIMIT ` + limit
}

const unreadCountSQL = `SELECT count(*) FROM inbox WHERE user_id = $1 AND read_at IS NULL`

const markReadSQL = `UPDATE inbox SET read_at = coalesce(read_at, $1) WHERE user_id = $2 AND event_id = $3 RETURNING ` + inboxColumns

// ListInbox returns a page of an inbox, newest first. A Limit that is not
// positive means DefaultInboxLimit.
func (s *Store) ListInbox(ctx context.Context, q store.InboxQuery) ([]store.InboxItem, error) {
	limit, args := eventrows.InboxPageArgs(q, DefaultInboxLimit)
	rows, err := s.pool.Query(ctx, listInboxSQL(q.Before > 0, q.UnreadOnly), args...)
	if err != nil {
		return nil, fmt.Errorf("pgstore: list inbox of %q: %w", q.UserID, err)
	}
	defer rows.Close()
	out, err := eventrows.CollectInbox(rows, limit, func(r pgx.Rows) (store.InboxItem, bool, error) { return scanInbox(r) },
		func(eventID string) (event.Notification, error) { return s.broadcastNotification(ctx, eventID) })
	if err != nil {
		return nil, fmt.Errorf("pgstore: list inbox of %q: %w", q.UserID, err)
	}
	return out, nil
}

// UnreadCount counts a person's unread notifications.
func (s *Store) UnreadCount(ctx context.Context, userID string) (int, error) {
	var n int
	if err := s.pool.QueryRow(ctx, unreadCountSQL, userID).Scan(&n); err != nil {
		return 0, fmt.Errorf("pgstore: unread count of %q: %w", userID, err)
	}
	return n, nil
}

// MarkRead marks one notification read and returns it. Marking twice keeps
// the first time; a zero at means now.
func (s *Store) MarkRead(ctx context.Context, userID, notificationID string, at time.Time) (store.InboxItem, error) {
	if at.IsZero() {
		at = time.Now()
	}
	it, shared, err := scanInbox(s.pool.QueryRow(ctx, markReadSQL, at, userID, notificationID))
	if errors.Is(err, pgx.ErrNoRows) {
		return store.InboxItem{}, fmt.Errorf("pgstore: notification %s is not in the inbox of %q: %w", notificationID, userID, store.ErrNotFound)
	}
	if err != nil {
		return store.InboxItem{}, fmt.Errorf("pgstore: mark %s read for %q: %w", notificationID, userID, err)
	}
	if shared {
		items := []store.InboxItem{it}
		if err := s.fillShared(ctx, items, []int{0}); err != nil {
			return store.InboxItem{}, fmt.Errorf("pgstore: mark %s read for %q: %w", notificationID, userID, err)
		}
		it = items[0]
	}
	return it, nil
}

// scanInbox reads one inbox row; shared reports a broadcast receipt whose
// content is still to be filled in from its broadcast.
func scanInbox(row pgx.Row) (it store.InboxItem, shared bool, err error) {
	var (
		urgency          string
		actions, data    []byte
		expires, created *time.Time
		read             *time.Time
	)
	err = row.Scan(&it.Seq, &it.UserID, &it.EventID, &it.Title, &it.Message, &it.Category, &urgency,
		&actions, &data, &it.Locale, &expires, &created, &read, &shared)
	if err != nil {
		return it, false, err
	}
	it.ID = it.EventID
	it.Urgency = event.Urgency(urgency)
	if actions != nil {
		if err := json.Unmarshal(actions, &it.Actions); err != nil {
			return it, false, fmt.Errorf("actions of (%s, %s): %w", it.UserID, it.EventID, err)
		}
	}
	if data != nil {
		it.Data = json.RawMessage(data)
	}
	it.ExpiresAt = fromTSPtr(expires)
	it.CreatedAt = fromTS(created)
	it.ReadAt = fromTSPtr(read)
	return it, shared, nil
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
		var doc []byte
		err := s.pool.QueryRow(ctx, `SELECT doc FROM broadcasts WHERE event_id = $1`, eventID).Scan(&doc)
		return doc, err
	})
}
