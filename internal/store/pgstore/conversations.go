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
)

const convColumns = `id, user_id, channel_id, conversation_id, service_url, tenant_id, account_id, account_name,
	bot_id, bot_name, locale, created_at, updated_at, retired_at, retired_reason`

// saveConvSQL upserts a reference and returns the stored row: saving it
// again refreshes its fields, makes it active and keeps its created_at.
const saveConvSQL = `INSERT INTO conversation_refs (` + convColumns + `)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, NULL, '')
ON CONFLICT (id) DO UPDATE SET user_id = excluded.user_id, channel_id = excluded.channel_id,
	conversation_id = excluded.conversation_id, service_url = excluded.service_url,
	tenant_id = excluded.tenant_id, account_id = excluded.account_id, account_name = excluded.account_name,
	bot_id = excluded.bot_id, bot_name = excluded.bot_name, locale = excluded.locale,
	updated_at = excluded.updated_at, retired_at = NULL, retired_reason = ''
RETURNING ` + convColumns

// SaveConversationRef upserts r under its id (derived when empty) in one
// statement. User, channel, conversation and service URL are required.
func (s *Store) SaveConversationRef(ctx context.Context, r store.ConversationRef) (store.ConversationRef, error) {
	r, err := store.PrepareConversationRef(r)
	if err != nil {
		return store.ConversationRef{}, fmt.Errorf("pgstore: save conversation reference: %w", err)
	}
	out, err := scanConversationRef(s.pool.QueryRow(ctx, saveConvSQL,
		r.ID, r.UserID, r.ChannelID, r.ConversationID, r.ServiceURL, r.TenantID, r.AccountID, r.AccountName,
		r.BotID, r.BotName, r.Locale, r.CreatedAt, r.UpdatedAt))
	if err != nil {
		return store.ConversationRef{}, fmt.Errorf("pgstore: save conversation reference: %w", err)
	}
	return out, nil
}

// ConversationRefs returns the active references of users, ordered by user
// then creation, one query per deviceBatch users.
func (s *Store) ConversationRefs(ctx context.Context, userIDs []string) ([]store.ConversationRef, error) {
	var out []store.ConversationRef
	for chunk := range slices.Chunk(userIDs, deviceBatch) {
		refs, err := s.queryConversationRefs(ctx, `SELECT `+convColumns+` FROM conversation_refs
			WHERE user_id = ANY($1) AND retired_at IS NULL
			ORDER BY user_id, created_at, id`, chunk)
		if err != nil {
			return nil, fmt.Errorf("pgstore: conversations of %d users: %w", len(userIDs), err)
		}
		out = append(out, refs...)
	}
	if len(userIDs) > deviceBatch {
		// Chunks are each in order; users of several chunks interleave.
		slices.SortStableFunc(out, func(a, b store.ConversationRef) int { return cmp.Compare(a.UserID, b.UserID) })
	}
	return out, nil
}

// ListConversationRefs returns a user's references, active and retired,
// oldest first.
func (s *Store) ListConversationRefs(ctx context.Context, userID string) ([]store.ConversationRef, error) {
	refs, err := s.queryConversationRefs(ctx, `SELECT `+convColumns+` FROM conversation_refs
		WHERE user_id = $1 ORDER BY created_at, id`, userID)
	if err != nil {
		return nil, fmt.Errorf("pgstore: conversations of %s: %w", userID, err)
	}
	return refs, nil
}

// RetireConversationRef marks a reference retired, keeping the first
// reason; store.ErrNotFound if it does not exist.
func (s *Store) RetireConversationRef(ctx context.Context, id, reason string, at time.Time) error {
	return s.retire(ctx, "conversation_refs", "conversation", id, reason, at)
}

func (s *Store) queryConversationRefs(ctx context.Context, sql string, args ...any) ([]store.ConversationRef, error) {
	rows, err := s.pool.Query(ctx, sql, args...)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (store.ConversationRef, error) { return scanConversationRef(row) })
}

func scanConversationRef(row pgx.Row) (store.ConversationRef, error) {
	var (
		r                store.ConversationRef
		created, updated time.Time
		retired          *time.Time
	)
	if err := row.Scan(&r.ID, &r.UserID, &r.ChannelID, &r.ConversationID, &r.ServiceURL, &r.TenantID,
		&r.AccountID, &r.AccountName, &r.BotID, &r.BotName, &r.Locale, &created, &updated, &retired,
		&r.RetiredReason); err != nil {
		return r, err
	}
	r.CreatedAt = created.UTC()
	r.UpdatedAt = updated.UTC()
	r.RetiredAt = fromTSPtr(retired)
	return r, nil
}

// CreateTranscript starts a Direct Line conversation; store.ErrConflict if
// one with the id exists.
func (s *Store) CreateTranscript(ctx context.Context, t store.Transcript) error {
	if t.ID == "" {
		return fmt.Errorf("pgstore: create transcript: id is required")
	}
	if t.CreatedAt.IsZero() {
		t.CreatedAt = time.Now().UTC()
	}
	tag, err := s.pool.Exec(ctx, `INSERT INTO transcripts (id, user_id, created_at) VALUES ($1, $2, $3)
		ON CONFLICT (id) DO NOTHING`, t.ID, t.UserID, t.CreatedAt)
	if err != nil {
		return fmt.Errorf("pgstore: create transcript %s: %w", t.ID, err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("pgstore: create transcript %s: %w", t.ID, store.ErrConflict)
	}
	return nil
}

// Transcript returns a Direct Line conversation; store.ErrNotFound if
// absent.
func (s *Store) Transcript(ctx context.Context, id string) (store.Transcript, error) {
	var (
		t       store.Transcript
		created time.Time
	)
	err := s.pool.QueryRow(ctx, `SELECT id, user_id, created_at FROM transcripts WHERE id = $1`, id).
		Scan(&t.ID, &t.UserID, &created)
	if errors.Is(err, pgx.ErrNoRows) {
		return store.Transcript{}, fmt.Errorf("pgstore: transcript %s: %w", id, store.ErrNotFound)
	}
	if err != nil {
		return store.Transcript{}, fmt.Errorf("pgstore: transcript %s: %w", id, err)
	}
	t.CreatedAt = created.UTC()
	return t, nil
}

// appendTranscriptSQL moves the watermark (locking the conversation's row
// until commit, so appends to one conversation queue) and adds the
// activities with the seqs that follow the old watermark, in one
// statement; it returns the new watermark, and no row if the conversation
// does not exist.
const appendTranscriptSQL = `WITH t AS (
	UPDATE transcripts SET last_seq = last_seq + cardinality($2::text[]) WHERE id = $1 RETURNING last_seq
), a AS (
	INSERT INTO transcript_activities (transcript_id, seq, activity, at)
	SELECT $1, t.last_seq - cardinality($2::text[]) + a.ord, a.activity, $3
	FROM t, unnest($2::text[]) WITH ORDINALITY AS a(activity, ord)
)
SELECT last_seq FROM t`

// AppendTranscript appends activities, in order, in one statement and
// returns their watermarks; store.ErrNotFound if the conversation does not
// exist. A zero at means now.
func (s *Store) AppendTranscript(ctx context.Context, id string, activities []json.RawMessage, at time.Time) ([]int64, error) {
	if len(activities) == 0 {
		return nil, nil
	}
	if at.IsZero() {
		at = time.Now()
	}
	texts := make([]string, len(activities))
	for i, a := range activities {
		texts[i] = string(a)
	}
	var last int64
	err := s.pool.QueryRow(ctx, appendTranscriptSQL, id, texts, at).Scan(&last)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("pgstore: append to transcript %s: %w", id, store.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("pgstore: append to transcript %s: %w", id, err)
	}
	seqs := make([]int64, len(activities))
	for i := range seqs {
		seqs[i] = last - int64(len(activities)) + 1 + int64(i)
	}
	return seqs, nil
}

// ReadTranscript returns up to limit entries (100 when limit is not
// positive) with Seq > after, in order.
func (s *Store) ReadTranscript(ctx context.Context, id string, after int64, limit int) ([]store.TranscriptEntry, error) {
	if limit <= 0 {
		limit = 100
	}
	rows, err := s.pool.Query(ctx, `SELECT seq, activity, at FROM transcript_activities
		WHERE transcript_id = $1 AND seq > $2 ORDER BY seq LIMIT $3`, id, after, limit)
	if err != nil {
		return nil, fmt.Errorf("pgstore: read transcript %s: %w", id, err)
	}
	var (
		out []store.TranscriptEntry
		e   store.TranscriptEntry
		a   string
		ts  time.Time
	)
	_, err = pgx.ForEachRow(rows, []any{&e.Seq, &a, &ts}, func() error {
		out = append(out, store.TranscriptEntry{Seq: e.Seq, Activity: json.RawMessage(a), At: ts.UTC()})
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("pgstore: read transcript %s: %w", id, err)
	}
	return out, nil
}
