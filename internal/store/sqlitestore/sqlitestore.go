package sqlitestore

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/pressly/goose/v3"
	_ "modernc.org/sqlite" // registers the "sqlite" database/sql driver

	"github.com/herald/herald/internal/store"
	"github.com/herald/herald/internal/store/eventrows"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Synchronous is SQLite's synchronous setting, which decides when a commit
// reaches the disk.
//
// In WAL mode, SyncNormal (the default) writes each commit to the WAL without
// an fsync; the WAL is fsynced at checkpoints. A commit survives the crash or
// kill -9 of any herald process, and the database is never corrupted, but a
// power loss or an operating-system crash may roll back the transactions
// committed since the last checkpoint. SyncFull fsyncs the WAL on every
// commit, so a commit also survives a power loss, at the price of one fsync
// per transaction: milliseconds on most disks, which caps a writer at a few
// hundred transactions a second (BenchmarkRecordPlans measures both). Since
// herald batches writes, FULL costs less per row than per transaction.
type Synchronous string

// The synchronous modes Open accepts.
const (
	SyncNormal Synchronous = "NORMAL"
	SyncFull   Synchronous = "FULL"
)

// Options configures Open. The zero value is the recommended configuration.
type Options struct {
	// Synchronous is when commits are fsynced; "" means SyncNormal. See
	// Synchronous for the trade-off.
	Synchronous Synchronous
	// BusyTimeout is how long a statement waits for a lock held by another
	// process (a herald CLI command, say) before failing; 0 means 5s.
	BusyTimeout time.Duration
	// CacheMiB is the page cache of each connection in MiB; 0 means 64.
	// The cache fills only as pages are read, so idle readers cost little.
	CacheMiB int
	// ReadConns is the number of concurrent read connections; 0 means 4.
	ReadConns int
}

// withDefaults returns o with zero fields set to their defaults, or an error
// naming the first invalid field.
func (o Options) withDefaults() (Options, error) {
	if o.Synchronous == "" {
		o.Synchronous = SyncNormal
	}
	switch Synchronous(strings.ToUpper(string(o.Synchronous))) {
	case SyncNormal, SyncFull:
		o.Synchronous = Synchronous(strings.ToUpper(string(o.Synchronous)))
	default:
		return o, fmt.Errorf("sqlitestore: synchronous %q: use %q (default) or %q", o.Synchronous, SyncNormal, SyncFull)
	}
	if o.BusyTimeout == 0 {
		o.BusyTimeout = 5 * time.Second
	}
	if o.BusyTimeout < 0 {
		return o, fmt.Errorf("sqlitestore: busy timeout %v must not be negative", o.BusyTimeout)
	}
	if o.CacheMiB == 0 {
		o.CacheMiB = 64
	}
	if o.CacheMiB < 0 {
		return o, fmt.Errorf("sqlitestore: cache size %d MiB must not be negative", o.CacheMiB)
	}
	if o.ReadConns == 0 {
		o.ReadConns = 4
	}
	if o.ReadConns < 0 {
		return o, fmt.Errorf("sqlitestore: read connections %d must not be negative", o.ReadConns)
	}
	return o, nil
}

// Store is the SQLite implementation of store.Store. It is safe for
// concurrent use.
type Store struct {
	// write has exactly one connection: every write queues for it.
	write *sql.DB
	// read is a pool of query-only connections.
	read *sql.DB
	// stmts holds the writer's prepared statements, prepared once in Open.
	stmts writeStmts
	// prefsByIDs is the reader's prepared LoadPreferences query for a full
	// batch of prefsBatch ids.
	prefsByIDs *sql.Stmt
	// ckpt is the connection of the background checkpointer.
	ckpt               *sql.DB
	stopCkpt, ckptDone chan struct{}
	// shared caches broadcast notifications.
	shared eventrows.Contents
}

var _ store.Store = (*Store)(nil)

// Open opens (creating if needed) the SQLite database at path, applies any
// pending migrations and returns the store. path is a file name; an
// in-memory database is not supported because the readers would not see it.
func Open(ctx context.Context, path string, opts Options) (*Store, error) {
	if path == "" || strings.HasPrefix(path, ":memory:") || strings.Contains(path, "mode=memory") {
		return nil, fmt.Errorf("sqlitestore: path %q: give a database file name such as ./data/herald.db", path)
	}
	o, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	s := &Store{}
	ok := false
	defer func() {
		if !ok {
			s.Close()
		}
	}()

	s.write, err = sql.Open("sqlite", dsn(path, o, false))
	if err != nil {
		return nil, fmt.Errorf("sqlitestore: open %s: %w", path, err)
	}
	s.write.SetMaxOpenConns(1)
	s.write.SetMaxIdleConns(1)
	s.write.SetConnMaxLifetime(0)
	s.write.SetConnMaxIdleTime(0)
	if err := s.write.PingContext(ctx); err != nil {
		return nil, fmt.Errorf("sqlitestore: open %s: %w", path, err)
	}
	if err := migrate(ctx, s.write); err != nil {
		return nil, fmt.Errorf("sqlitestore: migrate %s: %w", path, err)
	}

	s.read, err = sql.Open("sqlite", dsn(path, o, true))
	if err != nil {
		return nil, fmt.Errorf("sqlitestore: open %s for reading: %w", path, err)
	}
	s.read.SetMaxOpenConns(o.ReadConns)
	s.read.SetMaxIdleConns(o.ReadConns)
	s.read.SetConnMaxLifetime(0)
	s.read.SetConnMaxIdleTime(0)

	if err := s.stmts.prepare(ctx, s.write); err != nil {
		return nil, fmt.Errorf("sqlitestore: prepare statements: %w", err)
	}
	if s.prefsByIDs, err = s.read.PrepareContext(ctx, selectPrefsIn(prefsBatch)); err != nil {
		return nil, fmt.Errorf("sqlitestore: prepare statements: %w", err)
	}
	if s.ckpt, err = sql.Open("sqlite", dsn(path, o, false)); err != nil {
		return nil, fmt.Errorf("sqlitestore: open %s for checkpoints: %w", path, err)
	}
	s.ckpt.SetMaxOpenConns(1)
	s.stopCkpt = make(chan struct{})
	s.ckptDone = make(chan struct{})
	go s.checkpoints()
	ok = true
	return s, nil
}

// checkpointEvery is how often the WAL is copied back into the database.
const checkpointEvery = 100 * time.Millisecond

// checkpoints copies the WAL into the database in the background with
// PASSIVE checkpoints, which never wait for or block the writer: a commit
// that triggered the checkpoint itself (SQLite's default) stalled for tens
// of milliseconds every few thousand pages, which set the p99 latency.
func (s *Store) checkpoints() {
	defer close(s.ckptDone)
	t := time.NewTicker(checkpointEvery)
	defer t.Stop()
	for {
		select {
		case <-s.stopCkpt:
			return
		case <-t.C:
			_, _ = s.ckpt.Exec(`PRAGMA wal_checkpoint(PASSIVE)`)
		}
	}
}

// dsn builds the modernc.org/sqlite data source name for path. Pragmas run on
// every new connection. The writer begins transactions IMMEDIATE, taking the
// write lock up front so that a transaction never fails to upgrade from a
// read lock; readers are query_only.
func dsn(path string, o Options, readOnly bool) string {
	q := url.Values{}
	q.Add("_pragma", "busy_timeout("+strconv.FormatInt(o.BusyTimeout.Milliseconds(), 10)+")")
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "synchronous("+string(o.Synchronous)+")")
	q.Add("_pragma", "foreign_keys(ON)")
	// A negative cache_size is in KiB.
	q.Add("_pragma", "cache_size(-"+strconv.Itoa(o.CacheMiB*1024)+")")
	q.Add("_pragma", "temp_store(MEMORY)")
	if readOnly {
		q.Set("_query_only", "1")
	} else {
		q.Set("_txlock", "immediate")
		// Commits never checkpoint: the background checkpointer does
		// (see checkpoints), so no commit stalls copying the WAL.
		q.Add("_pragma", "wal_autocheckpoint(0)")
	}
	u := url.URL{Scheme: "file", Opaque: (&url.URL{Path: path}).EscapedPath(), RawQuery: q.Encode()}
	return u.String()
}

// migrate applies the embedded migrations that db has not seen yet.
func migrate(ctx context.Context, db *sql.DB) error {
	dir, err := fs.Sub(migrations, "migrations")
	if err != nil {
		return err
	}
	p, err := goose.NewProvider(goose.DialectSQLite3, db, dir, goose.WithDisableGlobalRegistry(true))
	if err != nil {
		return err
	}
	_, err = p.Up(ctx)
	return err
}

// Ping checks that both the writer and the readers answer.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.write.PingContext(ctx); err != nil {
		return fmt.Errorf("sqlitestore: ping writer: %w", err)
	}
	if err := s.read.PingContext(ctx); err != nil {
		return fmt.Errorf("sqlitestore: ping readers: %w", err)
	}
	return nil
}

// Close closes every connection. The store must not be used afterwards.
func (s *Store) Close() error {
	var errs []error
	if s.stopCkpt != nil {
		close(s.stopCkpt)
		<-s.ckptDone
		errs = append(errs, s.ckpt.Close())
	}
	if s.prefsByIDs != nil {
		errs = append(errs, s.prefsByIDs.Close())
	}
	errs = append(errs, s.stmts.close())
	if s.read != nil {
		errs = append(errs, s.read.Close())
	}
	if s.write != nil {
		errs = append(errs, s.write.Close())
	}
	return errors.Join(errs...)
}

// writeStmts are the statements of the hot write paths, prepared once on the
// single write connection and bound to each transaction with Tx.StmtContext.
type writeStmts struct {
	insertDefaultPrefs *sql.Stmt
	upsertPrefs        *sql.Stmt
	upsertOutcome      *sql.Stmt
	insertEvents       batchInsert
	insertInbox        batchInsert
	markDelivered      batchInsert
}

func (w *writeStmts) prepare(ctx context.Context, db *sql.DB) error {
	for _, p := range []struct {
		dst   **sql.Stmt
		query string
	}{
		{&w.insertDefaultPrefs, insertDefaultPrefsSQL},
		{&w.upsertPrefs, upsertPrefsSQL},
		{&w.upsertOutcome, upsertOutcomeSQL},
	} {
		st, err := db.PrepareContext(ctx, p.query)
		if err != nil {
			return fmt.Errorf("%s: %w", p.query, err)
		}
		*p.dst = st
	}
	if err := w.insertEvents.prepare(ctx, db, insertEventsHead, insertEventsTail); err != nil {
		return err
	}
	if err := w.insertInbox.prepare(ctx, db, insertInboxHead, ""); err != nil {
		return err
	}
	return w.markDelivered.prepare(ctx, db, markDeliveredHead, markDeliveredTail)
}

func (w *writeStmts) close() error {
	var errs []error
	for _, st := range []*sql.Stmt{w.insertDefaultPrefs, w.upsertPrefs, w.upsertOutcome} {
		if st != nil {
			errs = append(errs, st.Close())
		}
	}
	errs = append(errs, w.insertEvents.close(), w.insertInbox.close(), w.markDelivered.close())
	return errors.Join(errs...)
}

// inTx runs fn in a write transaction, committing if fn succeeds.
func (s *Store) inTx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	tx, err := s.write.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if err := fn(tx); err != nil {
		_ = tx.Rollback()
		return err
	}
	return tx.Commit()
}

// Times are stored as Unix nanoseconds in UTC; the zero time is NULL.

func nanos(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UnixNano()
}

func nanosPtr(t *time.Time) any {
	if t == nil {
		return nil
	}
	return nanos(*t)
}

func fromNanos(n sql.NullInt64) time.Time {
	if !n.Valid {
		return time.Time{}
	}
	return time.Unix(0, n.Int64).UTC()
}

func fromNanosPtr(n sql.NullInt64) *time.Time {
	if !n.Valid {
		return nil
	}
	t := time.Unix(0, n.Int64).UTC()
	return &t
}

// nullString stores "" as NULL.
func nullString(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// placeholders returns "?,?,...,?" with n marks.
func placeholders(n int) string {
	if n <= 0 {
		return ""
	}
	return strings.Repeat("?,", n-1) + "?"
}
