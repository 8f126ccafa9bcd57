package app

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/herald/herald/internal/store"
	"github.com/herald/herald/internal/store/pgstore"
	"github.com/herald/herald/internal/store/sqlitestore"
)

// StoreSQLite is the Options.Store value of the SQLite store under the
// data directory, the default.
const StoreSQLite = "sqlite"

// OpenStore opens the store opts name: "" or "sqlite" for SQLite in
// DataDir/herald.db, or a postgres:// (postgresql://) URL for PostgreSQL,
// which several herald processes may share. SyncAlways makes SQLite fsync
// every commit; PostgreSQL commits are durable by default
// (synchronous_commit=on), so it changes nothing there.
func OpenStore(ctx context.Context, opts Options) (store.Store, error) {
	switch {
	case opts.Store == "" || opts.Store == StoreSQLite:
		if opts.DataDir == "" {
			return nil, fmt.Errorf("open store: the SQLite store needs a data directory")
		}
		if err := os.MkdirAll(opts.DataDir, 0o750); err != nil {
			return nil, fmt.Errorf("create data directory: %w", err)
		}
		o := sqlitestore.Options{}
		if opts.SyncAlways {
			o.Synchronous = sqlitestore.SyncFull
		}
		st, err := sqlitestore.Open(ctx, filepath.Join(opts.DataDir, "herald.db"), o)
		if err != nil {
			return nil, fmt.Errorf("open store: %w", err)
		}
		return st, nil
	case isPostgresURL(opts.Store):
		st, err := pgstore.Open(ctx, opts.Store, pgstore.Options{})
		if err != nil {
			return nil, fmt.Errorf("open store: %w", err)
		}
		return st, nil
	}
	return nil, fmt.Errorf("--store: %s is neither %q nor a postgres:// URL", redactURL(opts.Store), StoreSQLite)
}

// isPostgresURL reports whether s names a PostgreSQL database.
func isPostgresURL(s string) bool {
	scheme, _, ok := strings.Cut(s, "://")
	return ok && (scheme == "postgres" || scheme == "postgresql")
}
