package pgstore

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"

	"github.com/herald/herald/internal/event"
	"github.com/herald/herald/internal/prefs"
	"github.com/herald/herald/internal/store"
	"github.com/herald/herald/internal/store/pgstore/pgtest"
	"github.com/herald/herald/internal/store/storetest"
)

// testConns is the pool size of a test's store: storetest runs many stores
// at once against one server.
const testConns = 4

// openTest opens a store in a new schema of the test server, closed and
// dropped when the test ends.
func openTest(tb testing.TB) *Store {
	tb.Helper()
	schema, url := pgtest.Schema(tb)
	return openIn(tb, url, schema)
}

// openIn opens a store on url in schema, closed when the test ends.
func openIn(tb testing.TB, url, schema string) *Store {
	tb.Helper()
	s, err := Open(context.Background(), url, Options{Schema: schema, MaxConns: testConns})
	if err != nil {
		tb.Fatalf("Open: %v", err)
	}
	tb.Cleanup(func() {
		if err := s.Close(); err != nil {
			tb.Errorf("Close: %v", err)
		}
	})
	return s
}

func TestStore(t *testing.T) {
	t.Parallel()
	storetest.Run(t, func(t *testing.T) store.Store { return openTest(t) })
}

func TestReopenKeepsDataAndAppliesMigrationsOnce(t *testing.T) {
	t.Parallel()
	schema, url := pgtest.Schema(t)
	saved := prefs.Default("ada")
	saved.SendNotificationToMobileDevice = false
	saved.Locale = "fr-FR"
	saved.UpdatedAt = time.Date(2025, 3, 14, 9, 0, 0, 123456000, time.UTC)

	for round := range 3 {
		s, err := Open(t.Context(), url, Options{Schema: schema, MaxConns: 2})
		if err != nil {
			t.Fatalf("round %d: Open: %v", round, err)
		}
		if round == 0 {
			storetest.ReopenSeed(t, s, saved)
		}
		var applied, version int
		err = s.pool.QueryRow(t.Context(), `SELECT count(*), max(version_id) FROM goose_db_version WHERE version_id > 0`).Scan(&applied, &version)
		if err != nil {
			t.Fatalf("round %d: read goose_db_version: %v", round, err)
		}
		if applied != version || version < 4 {
			t.Errorf("round %d: %d migrations recorded for version %d, want each of at least 4 applied once", round, applied, version)
		}
		storetest.ReopenCheck(t, s, round, saved)
		if err := s.Close(); err != nil {
			t.Fatalf("round %d: Close: %v", round, err)
		}
	}
}

// TestProcessesStartingTogetherMigrateOnce opens several stores on one
// fresh schema at once, as several herald processes starting together do.
func TestProcessesStartingTogetherMigrateOnce(t *testing.T) {
	t.Parallel()
	schema, url := pgtest.Schema(t)
	const procs = 4
	stores := make([]*Store, procs)
	var wg sync.WaitGroup
	for i := range procs {
		wg.Go(func() {
			s, err := Open(t.Context(), url, Options{Schema: schema, MaxConns: 2})
			if err != nil {
				t.Errorf("process %d: Open: %v", i, err)
				return
			}
			stores[i] = s
		})
	}
	wg.Wait()
	for _, s := range stores {
		if s != nil {
			t.Cleanup(func() { s.Close() })
		}
	}
	if t.Failed() {
		return
	}
	var applied, version int
	if err := stores[0].pool.QueryRow(t.Context(), `SELECT count(*), max(version_id) FROM goose_db_version WHERE version_id > 0`).Scan(&applied, &version); err != nil {
		t.Fatal(err)
	}
	if applied != version {
		t.Errorf("%d migrations recorded for version %d, want each applied once", applied, version)
	}
}

func TestOpenRejectsBadConfiguration(t *testing.T) {
	t.Parallel()
	url := pgtest.URL(t)
	for _, tc := range []struct {
		name string
		url  string
		opts Options
	}{
		{"not a URL", "postgres://[::1", Options{}},
		{"negative pool", url, Options{MaxConns: -1}},
		{"nobody listening", "postgres://postgres@127.0.0.1:1/test?sslmode=disable&connect_timeout=2", Options{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := Open(t.Context(), tc.url, tc.opts)
			if err == nil {
				s.Close()
				t.Fatalf("Open(%q, %+v) succeeded, want an error", tc.url, tc.opts)
			}
		})
	}
}

func TestOpenKeepsThePasswordOutOfErrors(t *testing.T) {
	t.Parallel()
	pgtest.URL(t)
	_, err := Open(t.Context(), "postgres://herald:s3cret-pw@127.0.0.1:1/test?sslmode=disable&connect_timeout=2", Options{})
	if err == nil {
		t.Fatal("Open succeeded against a closed port")
	}
	if msg := err.Error(); strings.Contains(msg, "s3cret-pw") {
		t.Errorf("error %q shows the password", msg)
	}
}

// TestRecordPlansReturnsTheStoredSeqs checks that the seqs RecordPlans
// returns (reserved, not read back) are the ones stored, consecutive, and
// that events planned before, in the batch or earlier, add nothing.
func TestRecordPlansReturnsTheStoredSeqs(t *testing.T) {
	t.Parallel()
	for _, n := range []int{1, 64, 500, 777} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			t.Parallel()
			storetest.RecordPlansReturnsTheStoredSeqs(t, openTest(t), n)
		})
	}
}

// TestConcurrentWritersGetDistinctConsecutiveSeqs runs RecordPlans and
// broadcast chunks from many goroutines (as several processes would) and
// checks that every write's items have consecutive seqs of their own and
// that concurrent plans of one event add its items once.
func TestConcurrentWritersGetDistinctConsecutiveSeqs(t *testing.T) {
	t.Parallel()
	s := openTest(t)
	ctx := t.Context()
	bc := event.Event{ID: "bc", Audience: event.Audience{All: true}, Notification: event.Notification{Message: "all hands"}}
	if ok, err := s.StartBroadcast(ctx, bc, time.Now()); err != nil || !ok {
		t.Fatalf("StartBroadcast = %v, %v", ok, err)
	}
	const writers, batches, size = 6, 8, 40
	var mu sync.Mutex
	seen := map[int64]string{}
	claim := func(seq int64, what string) {
		mu.Lock()
		defer mu.Unlock()
		if prev, ok := seen[seq]; ok {
			t.Errorf("seq %d given to %s and %s", seq, prev, what)
		}
		seen[seq] = what
	}
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for b := range batches {
				items := make([]store.InboxItem, size)
				for i := range items {
					// Writers share events pairwise: w and w^1 plan the
					// same ones, so half of the plans are replays.
					items[i] = store.InboxItem{UserID: fmt.Sprintf("u%d", i), EventID: fmt.Sprintf("w%d-b%d", w/2, b), Message: "m"}
				}
				added, err := storetest.DeliverInbox(ctx, s, items)
				if err != nil {
					t.Errorf("writer %d batch %d: %v", w, b, err)
					return
				}
				for i, it := range added {
					claim(it.Seq, "plan "+it.EventID+"/"+it.UserID)
					if i > 0 && it.Seq != added[i-1].Seq+1 {
						t.Errorf("writer %d batch %d: seq %d after %d", w, b, it.Seq, added[i-1].Seq)
					}
				}
			}
		})
	}
	wg.Go(func() {
		cursor := ""
		for c := range 20 {
			var users []string
			for i := range 50 {
				users = append(users, fmt.Sprintf("b%02d-%02d", c, i))
			}
			first, ok, err := s.RecordBroadcastChunk(ctx, store.BroadcastChunk{EventID: bc.ID, From: cursor, To: users[len(users)-1],
				Recipients: len(users), Counts: store.Counts{}, Inbox: users, At: time.Now()})
			if err != nil || !ok || first <= 0 {
				t.Errorf("chunk %d: first %d, recorded %v, %v", c, first, ok, err)
				return
			}
			for i, u := range users {
				claim(first+int64(i), "receipt of "+u)
				items, err := s.ListInbox(ctx, store.InboxQuery{UserID: u})
				if err != nil || len(items) != 1 || items[0].Seq != first+int64(i) || items[0].Message != "all hands" {
					t.Errorf("inbox of %s = %+v, %v; want the broadcast at seq %d", u, items, err, first+int64(i))
				}
			}
			cursor = users[len(users)-1]
		}
	})
	wg.Wait()
	for u := range size {
		n, err := s.UnreadCount(ctx, fmt.Sprintf("u%d", u))
		if err != nil || n != writers/2*batches {
			t.Errorf("UnreadCount(u%d) = %d, %v; want %d", u, n, err, writers/2*batches)
		}
	}
}

// TestRecordBroadcastChunkMovesTheCursorOnce races processes recording the
// same chunk: one records it, the others find the cursor moved.
func TestRecordBroadcastChunkMovesTheCursorOnce(t *testing.T) {
	t.Parallel()
	s := openTest(t)
	ctx := t.Context()
	ev := event.Event{ID: "bc", Audience: event.Audience{All: true}}
	if _, err := s.StartBroadcast(ctx, ev, time.Now()); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	wins := 0
	for range 6 {
		wg.Go(func() {
			_, ok, err := s.RecordBroadcastChunk(ctx, store.BroadcastChunk{EventID: ev.ID, From: "", To: "m", Recipients: 2,
				Counts: store.Counts{"inbox": {"delivered": 2}}, Inbox: []string{"a", "b"}, At: time.Now()})
			if err != nil {
				t.Errorf("RecordBroadcastChunk: %v", err)
			}
			if ok {
				mu.Lock()
				wins++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	b, err := s.Broadcast(ctx, ev.ID)
	if err != nil {
		t.Fatal(err)
	}
	if wins != 1 || b.Cursor != "m" || b.Recipients != 2 || b.Counts["inbox"]["delivered"] != 2 {
		t.Errorf("%d chunks recorded, broadcast %+v; want one", wins, b)
	}
	if _, _, err := s.RecordBroadcastChunk(ctx, store.BroadcastChunk{EventID: "nope", At: time.Now()}); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("RecordBroadcastChunk(unknown) = %v, want ErrNotFound", err)
	}
}

// TestSchemaKeepsStoresApart checks that two stores in two schemas of one
// database see nothing of each other.
// TestOpenCreatesAMissingSchema opens a store in a schema that does not
// exist yet, twice.
func TestOpenCreatesAMissingSchema(t *testing.T) {
	t.Parallel()
	existing, url := pgtest.Schema(t)
	schema := existing + "_made"
	t.Cleanup(func() {
		conn, err := pgx.Connect(context.Background(), url)
		if err != nil {
			t.Error(err)
			return
		}
		defer conn.Close(context.Background())
		if _, err := conn.Exec(context.Background(), `DROP SCHEMA IF EXISTS `+pgx.Identifier{schema}.Sanitize()+` CASCADE`); err != nil {
			t.Error(err)
		}
	})
	for range 2 {
		s := openIn(t, url, schema)
		var current string
		if err := s.pool.QueryRow(t.Context(), `SELECT current_schema()`).Scan(&current); err != nil || current != schema {
			t.Fatalf("current_schema() = %q, %v; want %q", current, err, schema)
		}
	}
}

func TestSchemaKeepsStoresApart(t *testing.T) {
	t.Parallel()
	a, b := openTest(t), openTest(t)
	if _, err := storetest.DeliverInbox(t.Context(), a, []store.InboxItem{{UserID: "ada", EventID: "e1", Message: "hi"}}); err != nil {
		t.Fatal(err)
	}
	if n, err := b.UnreadCount(t.Context(), "ada"); err != nil || n != 0 {
		t.Errorf("the other schema's UnreadCount(ada) = %d, %v; want 0", n, err)
	}
}

// TestMigrationsGoDownAndUpAgain checks that every migration's Down undoes
// its Up, so that the schema can be rolled back version by version.
func TestMigrationsGoDownAndUpAgain(t *testing.T) {
	t.Parallel()
	s := openTest(t)
	ctx := t.Context()
	var n int
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		return tx.QueryRow(ctx, `SELECT count(*) FROM information_schema.tables WHERE table_schema = current_schema()`).Scan(&n)
	})
	if err != nil || n < 10 {
		t.Fatalf("%d tables after migrating, %v", n, err)
	}
	if err := migrateDown(ctx, s.pool); err != nil {
		t.Fatalf("down: %v", err)
	}
	if err := s.pool.QueryRow(ctx, `SELECT count(*) FROM information_schema.tables WHERE table_schema = current_schema() AND table_name <> 'goose_db_version'`).Scan(&n); err != nil || n != 0 {
		t.Errorf("%d tables left after migrating down, %v; want 0", n, err)
	}
	if err := migrate(ctx, s.pool); err != nil {
		t.Fatalf("up again: %v", err)
	}
	if err := s.Ping(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := storetest.DeliverInbox(ctx, s, []store.InboxItem{{UserID: "ada", EventID: "e1", Message: "hi"}}); err != nil {
		t.Fatalf("DeliverInbox after migrating down and up: %v", err)
	}
}

// migrateDown undoes every migration.
func migrateDown(ctx context.Context, pool *pgxpool.Pool) error {
	dir, err := fs.Sub(migrations, "migrations")
	if err != nil {
		return err
	}
	db := stdlib.OpenDBFromPool(pool)
	defer db.Close()
	p, err := goose.NewProvider(goose.DialectPostgres, db, dir, goose.WithDisableGlobalRegistry(true))
	if err != nil {
		return err
	}
	_, err = p.DownTo(ctx, 0)
	return err
}
