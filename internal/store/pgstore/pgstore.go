package pgstore

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"hash/fnv"
	"io/fs"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"

	"github.com/herald/herald/internal/store"
	"github.com/herald/herald/internal/store/eventrows"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Options configures Open. The zero value is the recommended configuration.
type Options struct {
	// Schema is the PostgreSQL schema that holds herald's tables; Open
	// creates it if it is missing and puts it alone on every connection's
	// search_path. "" uses the URL's search_path (a search_path parameter
	// in the URL), or the server's default, usually public.
	Schema string
	// MaxConns bounds the connection pool; 0 means the URL's pool_max_conns
	// or, without one, pgx's default (the larger of 4 and the number of
	// CPUs).
	MaxConns int32
}

// Store is the PostgreSQL implementation of store.Store. It is safe for
// concurrent use, by several processes sharing one database too.
type Store struct {
	pool *pgxpool.Pool
	// shared caches broadcast notifications.
	shared eventrows.Contents
}

var _ store.Store = (*Store)(nil)

// Open connects to the database at url (postgres://user:password@host:5432/db?sslmode=...,
// or any form pgx accepts), applies any pending migrations and returns the
// store.
func Open(ctx context.Context, url string, opts Options) (*Store, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		// pgx redacts the password from its parse errors.
		return nil, fmt.Errorf("pgstore: parse the database URL: %w", err)
	}
	if opts.MaxConns < 0 {
		return nil, fmt.Errorf("pgstore: max connections %d must not be negative", opts.MaxConns)
	}
	if opts.MaxConns > 0 {
		cfg.MaxConns = opts.MaxConns
		cfg.MinConns = min(cfg.MinConns, cfg.MaxConns)
	}
	if opts.Schema != "" {
		cfg.ConnConfig.RuntimeParams["search_path"] = pgx.Identifier{opts.Schema}.Sanitize()
	}
	where := fmt.Sprintf("%s:%d/%s", cfg.ConnConfig.Host, cfg.ConnConfig.Port, cfg.ConnConfig.Database)
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("pgstore: connect to %s: %w", where, err)
	}
	s := &Store{pool: pool}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("pgstore: connect to %s: %w", where, err)
	}
	if opts.Schema != "" {
		if err := createSchema(ctx, pool, opts.Schema); err != nil {
			pool.Close()
			return nil, fmt.Errorf("pgstore: create schema %q in %s: %w", opts.Schema, where, err)
		}
	}
	if err := migrate(ctx, pool); err != nil {
		pool.Close()
		return nil, fmt.Errorf("pgstore: migrate %s: %w", where, err)
	}
	return s, nil
}

// createSchema creates schema unless it exists. It looks first, so that a
// role without the CREATE privilege on the database can use a schema made
// for it. Two processes creating it at once may both pass IF NOT EXISTS;
// the loser's unique violation means the schema is there.
func createSchema(ctx context.Context, pool *pgxpool.Pool, schema string) error {
	var exists bool
	if err := pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1)`, schema).Scan(&exists); err != nil {
		return err
	}
	if exists {
		return nil
	}
	_, err := pool.Exec(ctx, `CREATE SCHEMA IF NOT EXISTS `+pgx.Identifier{schema}.Sanitize())
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "23505" {
		return nil
	}
	return err
}

// migrate applies the embedded migrations the database has not seen yet,
// under a session advisory lock named after the schema, so that processes
// starting together apply each migration once while stores in other
// schemas of the same database migrate in parallel.
func migrate(ctx context.Context, pool *pgxpool.Pool) error {
	var schema string
	if err := pool.QueryRow(ctx, `SELECT coalesce(current_schema(), '')`).Scan(&schema); err != nil {
		return err
	}
	if schema == "" {
		return errors.New("no schema on the search_path exists: create it, or set pgstore.Options.Schema")
	}
	dir, err := fs.Sub(migrations, "migrations")
	if err != nil {
		return err
	}
	h := fnv.New64a()
	h.Write([]byte("herald migrations\x00" + schema))
	locker, err := lock.NewPostgresSessionLocker(lock.WithLockID(int64(h.Sum64())), lock.WithLockTimeout(1, 300))
	if err != nil {
		return err
	}
	db := stdlib.OpenDBFromPool(pool)
	defer db.Close()
	p, err := goose.NewProvider(goose.DialectPostgres, db, dir,
		goose.WithDisableGlobalRegistry(true), goose.WithSessionLocker(locker))
	if err != nil {
		return err
	}
	_, err = p.Up(ctx)
	return err
}

// Ping checks that the database answers.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.pool.Ping(ctx); err != nil {
		return fmt.Errorf("pgstore: ping: %w", err)
	}
	return nil
}

// Close closes every connection, waiting for those in use to be released.
// The store must not be used afterwards.
func (s *Store) Close() error {
	s.pool.Close()
	return nil
}

// inTx runs fn in a transaction, committing if fn succeeds.
func (s *Store) inTx(ctx context.Context, fn func(tx pgx.Tx) error) error {
	return pgx.BeginFunc(ctx, s.pool, fn)
}

// reserveSeqs reserves n consecutive inbox seqs and returns the first.
//
// The reservation is a transaction of its own, so the counter's row is
// locked only while it is updated, not while the write that uses the seqs
// runs; it commits without waiting for the WAL to reach the disk, because a
// write that uses the seqs commits after it and waits for the WAL up to its
// own commit, the reservation included. A reservation whose write fails
// leaves a gap, as a sequence would.
func (s *Store) reserveSeqs(ctx context.Context, n int) (int64, error) {
	var last int64
	b := &pgx.Batch{}
	b.Queue(`BEGIN`)
	b.Queue(`SET LOCAL synchronous_commit TO OFF`)
	b.Queue(`UPDATE inbox_seq SET last = last + $1 RETURNING last`, n).QueryRow(func(row pgx.Row) error {
		return row.Scan(&last)
	})
	b.Queue(`COMMIT`)
	if err := s.pool.SendBatch(ctx, b).Close(); err != nil {
		return 0, fmt.Errorf("reserve %d inbox seqs: %w", n, err)
	}
	return last - int64(n) + 1, nil
}

// ts stores the zero time as NULL.
func ts(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

// fromTS returns a scanned timestamptz in UTC; NULL is the zero time.
func fromTS(t *time.Time) time.Time {
	if t == nil {
		return time.Time{}
	}
	return t.UTC()
}

// fromTSPtr returns a scanned timestamptz in UTC; NULL is nil.
func fromTSPtr(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := t.UTC()
	return &u
}

// nullString stores "" as NULL.
func nullString(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}
