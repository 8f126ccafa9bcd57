package pgstore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/herald/herald/internal/store"
)

const apiKeyColumns = `id, name, role, hash, created_at`

// CreateAPIKey stores a key. A zero CreatedAt is stored as now; an id that
// is already taken is an error wrapping store.ErrConflict.
func (s *Store) CreateAPIKey(ctx context.Context, k store.APIKey) error {
	k, err := store.PrepareAPIKey(k)
	if err != nil {
		return fmt.Errorf("pgstore: create api key: %w", err)
	}
	tag, err := s.pool.Exec(ctx,
		`INSERT INTO api_keys (`+apiKeyColumns+`) VALUES ($1, $2, $3, $4, $5) ON CONFLICT (id) DO NOTHING`,
		k.ID, k.Name, string(k.Role), k.Hash, ts(k.CreatedAt))
	if err != nil {
		return fmt.Errorf("pgstore: create api key %s: %w", k.ID, err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("pgstore: api key %s already exists: delete it first or choose another id: %w", k.ID, store.ErrConflict)
	}
	return nil
}

// APIKey returns a key by id; store.ErrNotFound if absent.
func (s *Store) APIKey(ctx context.Context, id string) (store.APIKey, error) {
	k, err := scanAPIKey(s.pool.QueryRow(ctx, `SELECT `+apiKeyColumns+` FROM api_keys WHERE id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return store.APIKey{}, fmt.Errorf("pgstore: api key %s: %w", id, store.ErrNotFound)
	}
	if err != nil {
		return store.APIKey{}, fmt.Errorf("pgstore: api key %s: %w", id, err)
	}
	return k, nil
}

// APIKeys lists every key, oldest first.
func (s *Store) APIKeys(ctx context.Context) ([]store.APIKey, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+apiKeyColumns+` FROM api_keys ORDER BY created_at, id`)
	if err != nil {
		return nil, fmt.Errorf("pgstore: list api keys: %w", err)
	}
	keys, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (store.APIKey, error) { return scanAPIKey(row) })
	if err != nil {
		return nil, fmt.Errorf("pgstore: list api keys: %w", err)
	}
	return keys, nil
}

// DeleteAPIKey removes a key; store.ErrNotFound if absent.
func (s *Store) DeleteAPIKey(ctx context.Context, id string) error {
	tag, err := s.pool.Exec(ctx, `DELETE FROM api_keys WHERE id = $1`, id)
	if err != nil {
		return fmt.Errorf("pgstore: delete api key %s: %w", id, err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("pgstore: delete api key %s: %w", id, store.ErrNotFound)
	}
	return nil
}

func scanAPIKey(row pgx.Row) (store.APIKey, error) {
	var (
		k       store.APIKey
		role    string
		created *time.Time
	)
	if err := row.Scan(&k.ID, &k.Name, &role, &k.Hash, &created); err != nil {
		return k, err
	}
	k.Role = store.Role(role)
	k.CreatedAt = fromTS(created)
	return k, nil
}
