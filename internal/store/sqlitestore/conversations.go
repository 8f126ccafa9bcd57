package sqlitestore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/herald/herald/internal/store"
)

const convColumns = `id, user_id, channel_id, conversation_id, service_url, tenant_id, account_id, account_name,
	bot_id, bot_name, locale, created_at, updated_at, retired_at, retired_reason`

// SaveConversationRef upserts r under its id.
func (s *Store) SaveConversationRef(ctx context.Context, r store.ConversationRef) (store.ConversationRef, error) {
	r, err := store.PrepareConversationRef(r)
	if err != nil {
		return store.ConversationRef{}, fmt.Errorf("sqlitestore: save conversation reference: %w", err)
	}
	var out store.ConversationRef
	err = s.inTx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO conversation_refs (`+convColumns+`)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, NULL, '')
			ON CONFLICT (id) DO UPDATE SET user_id = excluded.user_id, channel_id = excluded.channel_id,
				conversation_id = excluded.conversation_id, service_url = excluded.service_url,
				tenant_id = excluded.tenant_id, account_id = excluded.account_id, account_name = excluded.account_name,
				bot_id = excluded.bot_id, bot_name = excluded.bot_name, locale = excluded.locale,
				updated_at = excluded.updated_at, retired_at = NULL, retired_reason = ''`,
			r.ID, r.UserID, r.ChannelID, r.ConversationID, r.ServiceURL, r.TenantID, r.AccountID, r.AccountName,
			r.BotID, r.BotName, r.Locale, nanos(r.CreatedAt), nanos(r.UpdatedAt))
		if err != nil {
			return err
		}
		rows, err := tx.QueryContext(ctx, `SELECT `+convColumns+` FROM conversation_refs WHERE id = ?`, r.ID)
		if err != nil {
			return err
		}
		refs, err := scanConversationRefs(rows)
		if err != nil {
			return err
		}
		if len(refs) != 1 {
			return fmt.Errorf("reference %s vanished", r.ID)
		}
		out = refs[0]
		return nil
	})
	if err != nil {
		return store.ConversationRef{}, fmt.Errorf("sqlitestore: save conversation reference: %w", err)
	}
	return out, nil
}

// ConversationRefs returns the active references of users.
func (s *Store) ConversationRefs(ctx context.Context, userIDs []string) ([]store.ConversationRef, error) {
	var out []store.ConversationRef
	for chunk := range slices.Chunk(userIDs, deviceBatch) {
		args := make([]any, len(chunk))
		for i, u := range chunk {
			args[i] = u
		}
		rows, err := s.read.QueryContext(ctx, `SELECT `+convColumns+` FROM conversation_refs
			WHERE user_id IN (`+placeholders(len(chunk))+`) AND retired_at IS NULL
			ORDER BY user_id, created_at, id`, args...)
		if err != nil {
			return nil, fmt.Errorf("sqlitestore: conversations of %d users: %w", len(userIDs), err)
		}
		refs, err := scanConversationRefs(rows)
		if err != nil {
			return nil, fmt.Errorf("sqlitestore: conversations of %d users: %w", len(userIDs), err)
		}
		out = append(out, refs...)
	}
	slices.SortStableFunc(out, func(a, b store.ConversationRef) int { return strings.Compare(a.UserID, b.UserID) })
	return out, nil
}

// ListConversationRefs returns a user's references, oldest first.
func (s *Store) ListConversationRefs(ctx context.Context, userID string) ([]store.ConversationRef, error) {
	rows, err := s.read.QueryContext(ctx, `SELECT `+convColumns+` FROM conversation_refs
		WHERE user_id = ? ORDER BY created_at, id`, userID)
	if err != nil {
		return nil, fmt.Errorf("sqlitestore: conversations of %s: %w", userID, err)
	}
	refs, err := scanConversationRefs(rows)
	if err != nil {
		return nil, fmt.Errorf("sqlitestore: conversations of %s: %w", userID, err)
	}
	return refs, nil
}

// RetireConversationRef marks a reference retired, keeping the first reason.
func (s *Store) RetireConversationRef(ctx context.Context, id, reason string, at time.Time) error {
	return s.retire(ctx, "conversation_refs", "conversation", id, reason, at)
}

func scanConversationRefs(rows *sql.Rows) ([]store.ConversationRef, error) {
	defer rows.Close()
	var out []store.ConversationRef
	for rows.Next() {
		var (
			r                         store.ConversationRef
			created, updated, retired sql.NullInt64
		)
		if err := rows.Scan(&r.ID, &r.UserID, &r.ChannelID, &r.ConversationID, &r.ServiceURL, &r.TenantID,
			&r.AccountID, &r.AccountName, &r.BotID, &r.BotName, &r.Locale, &created, &updated, &retired,
			&r.RetiredReason); err != nil {
			return nil, err
		}
		r.CreatedAt = fromNanos(created)
		r.UpdatedAt = fromNanos(updated)
		r.RetiredAt = fromNanosPtr(retired)
		out = append(out, r)
	}
	return out, rows.Err()
}

// CreateTranscript starts a Direct Line conversation.
func (s *Store) CreateTranscript(ctx context.Context, t store.Transcript) error {
	if t.ID == "" {
		return fmt.Errorf("sqlitestore: create transcript: id is required")
	}
	if t.CreatedAt.IsZero() {
		t.CreatedAt = time.Now().UTC()
	}
	res, err := s.write.ExecContext(ctx, `INSERT INTO transcripts (id, user_id, created_at) VALUES (?, ?, ?)
		ON CONFLICT (id) DO NOTHING`, t.ID, t.UserID, nanos(t.CreatedAt))
	if err != nil {
		return fmt.Errorf("sqlitestore: create transcript %s: %w", t.ID, err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("sqlitestore: create transcript %s: %w", t.ID, err)
	} else if n == 0 {
		return fmt.Errorf("sqlitestore: create transcript %s: %w", t.ID, store.ErrConflict)
	}
	return nil
}

// Transcript returns a Direct Line conversation.
func (s *Store) Transcript(ctx context.Context, id string) (store.Transcript, error) {
	var (
		t       store.Transcript
		created sql.NullInt64
	)
	err := s.read.QueryRowContext(ctx, `SELECT id, user_id, created_at FROM transcripts WHERE id = ?`, id).
		Scan(&t.ID, &t.UserID, &created)
	if errors.Is(err, sql.ErrNoRows) {
		return store.Transcript{}, fmt.Errorf("sqlitestore: transcript %s: %w", id, store.ErrNotFound)
	}
	if err != nil {
		return store.Transcript{}, fmt.Errorf("sqlitestore: transcript %s: %w", id, err)
	}
	t.CreatedAt = fromNanos(created)
	return t, nil
}

// AppendTranscript appends activities and returns their watermarks.
func (s *Store) AppendTranscript(ctx context.Context, id string, activities []json.RawMessage, at time.Time) ([]int64, error) {
	if len(activities) == 0 {
		return nil, nil
	}
	if at.IsZero() {
		at = time.Now()
	}
	seqs := make([]int64, len(activities))
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		var last int64
		err := tx.QueryRowContext(ctx, `UPDATE transcripts SET last_seq = last_seq + ? WHERE id = ? RETURNING last_seq`,
			len(activities), id).Scan(&last)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("transcript %s: %w", id, store.ErrNotFound)
		}
		if err != nil {
			return err
		}
		first := last - int64(len(activities)) + 1
		for i, a := range activities {
			seqs[i] = first + int64(i)
			if _, err := tx.ExecContext(ctx, `INSERT INTO transcript_activities (transcript_id, seq, activity, at)
				VALUES (?, ?, ?, ?)`, id, seqs[i], string(a), at.UnixNano()); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("sqlitestore: append to transcript %s: %w", id, err)
	}
	return seqs, nil
}

// ReadTranscript returns up to limit entries after the watermark.
func (s *Store) ReadTranscript(ctx context.Context, id string, after int64, limit int) ([]store.TranscriptEntry, error) {
	if limit <= 0 {
		limit = 100
	}
	rows, err := s.read.QueryContext(ctx, `SELECT seq, activity, at FROM transcript_activities
		WHERE transcript_id = ? AND seq > ? ORDER BY seq LIMIT ?`, id, after, limit)
	if err != nil {
		return nil, fmt.Errorf("sqlitestore: read transcript %s: %w", id, err)
	}
	defer rows.Close()
	var out []store.TranscriptEntry
	for rows.Next() {
		var (
			e  store.TranscriptEntry
			a  string
			at sql.NullInt64
		)
		if err := rows.Scan(&e.Seq, &a, &at); err != nil {
			return nil, fmt.Errorf("sqlitestore: read transcript %s: %w", id, err)
		}
		e.Activity = json.RawMessage(a)
		e.At = fromNanos(at)
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlitestore: read transcript %s: %w", id, err)
	}
	return out, nil
}
