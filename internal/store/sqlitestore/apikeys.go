package sqlitestore

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/herald/herald/internal/store"
)

// CreateAPIKey stores a key. A zero CreatedAt is stored as now; an id that
// is already taken is an error.
func (s *Store) CreateAPIKey(ctx context.Context, k store.APIKey) error {
	k, err := store.PrepareAPIKey(k)
	if err != nil {
		return fmt.Errorf("sqlitestore: create api key: %w", err)
	}
	res, err := s.write.ExecContext(ctx,
		`INSERT INTO api_keys (id, name, role, hash, created_at) VALUES (?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING`,
		k.ID, k.Name, string(k.Role), k.Hash, nanos(k.CreatedAt))
	if err != nil {
		return fmt.Errorf("sqlitestore: create api key %s: %w", k.ID, err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("sqlitestore: create api key %s: %w", k.ID, err)
	} else if n == 0 {
		return fmt.Errorf("sqlitestore: api key %s already exists: delete it first or choose another id", k.ID)
	}
	return nil
}

// APIKey returns a key by id; ErrNotFound if absent.
func (s *Store) APIKey(ctx context.Context, id string) (store.APIKey, error) {
	rows, err := s.read.QueryContext(ctx, `SELECT id, name, role, hash, created_at FROM api_keys WHERE id = ?`, id)
	if err != nil {
		return store.APIKey{}, fmt.Errorf("sqlitestore: api key %s: %w", id, err)
	}
	keys, err := scanAPIKeys(rows)
	if err != nil {
		return store.APIKey{}, fmt.Errorf("sqlitestore: api key %s: %w", id, err)
	}
	if len(keys) == 0 {
		return store.APIKey{}, fmt.Errorf("sqlitestore: api key %s: %w", id, store.ErrNotFound)
	}
	return keys[0], nil
}

// APIKeys lists every key, oldest first.
func (s *Store) APIKeys(ctx context.Context) ([]store.APIKey, error) {
	rows, err := s.read.QueryContext(ctx, `SELECT id, name, role, hash, created_at FROM api_keys ORDER BY created_at, id`)
	if err != nil {
		return nil, fmt.Errorf("sqlitestore: list api keys: %w", err)
	}
	keys, err := scanAPIKeys(rows)
	if err != nil {
		return nil, fmt.Errorf("sqlitestore: list api keys: %w", err)
	}
	return keys, nil
}

// DeleteAPIKey removes a key; ErrNotFound if absent.
func (s *Store) DeleteAPIKey(ctx context.Context, id string) error {
	res, err := s.write.ExecContext(ctx, `DELETE FROM api_keys WHERE id = ?`, id)
	if err != nil {
		return fmt.Errorf("sqlitestore: delete api key %s: %w", id, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("sqlitestore: delete api key %s: %w", id, err)
	}
	if n == 0 {
		return fmt.Errorf("sqlitestore: delete api key %s: %w", id, store.ErrNotFound)
	}
	return nil
}

func scanAPIKeys(rows *sql.Rows) ([]store.APIKey, error) {
	defer rows.Close()
	var keys []store.APIKey
	for rows.Next() {
		var (
			k       store.APIKey
			created sql.NullInt64
		)
		if err := rows.Scan(&k.ID, &k.Name, &k.Role, &k.Hash, &created); err != nil {
			return nil, err
		}
		k.CreatedAt = fromNanos(created)
		keys = append(keys, k)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	return keys, nil
}
