package sqlitestore

import (
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/herald/herald/internal/prefs"
	"github.com/herald/herald/internal/store"
	"github.com/herald/herald/internal/store/storetest"
)

// openTest opens a store on a new database file in a temporary directory,
// closed when the test ends.
func openTest(tb testing.TB, opts Options) *Store {
	tb.Helper()
	s, err := Open(tb.Context(), filepath.Join(tb.TempDir(), "herald.db"), opts)
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
	storetest.Run(t, func(t *testing.T) store.Store { return openTest(t, Options{}) })
}

func TestReopenKeepsDataAndAppliesMigrationsOnce(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "herald.db")
	saved := prefs.Default("ada")
	saved.SendNotificationToMobileDevice = false
	saved.Locale = "fr-FR"
	saved.UpdatedAt = time.Date(2025, 3, 14, 9, 0, 0, 123456789, time.UTC)

	for round := range 3 {
		s, err := Open(t.Context(), path, Options{})
		if err != nil {
			t.Fatalf("round %d: Open: %v", round, err)
		}
		if round == 0 {
			storetest.ReopenSeed(t, s, saved)
		}
		var applied, version int
		err = s.read.QueryRowContext(t.Context(), `SELECT count(*), max(version_id) FROM goose_db_version WHERE version_id > 0`).Scan(&applied, &version)
		if err != nil {
			t.Fatalf("round %d: read goose_db_version: %v", round, err)
		}
		if applied != version {
			t.Errorf("round %d: %d migrations recorded for version %d, want each applied once", round, applied, version)
		}
		storetest.ReopenCheck(t, s, round, saved)
		if err := s.Close(); err != nil {
			t.Fatalf("round %d: Close: %v", round, err)
		}
	}
}

func TestOpenConfiguresConnections(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		opts     Options
		wantSync int // PRAGMA synchronous: 1 NORMAL, 2 FULL
	}{
		{Options{}, 1},
		{Options{Synchronous: SyncFull}, 2},
		{Options{Synchronous: "full"}, 2},
	} {
		t.Run(fmt.Sprintf("synchronous=%q", tc.opts.Synchronous), func(t *testing.T) {
			t.Parallel()
			s := openTest(t, tc.opts)
			ctx := t.Context()
			pragma := func(name string) string {
				t.Helper()
				var v string
				if err := s.write.QueryRowContext(ctx, "PRAGMA "+name).Scan(&v); err != nil {
					t.Fatalf("PRAGMA %s: %v", name, err)
				}
				return v
			}
			for name, want := range map[string]string{
				"journal_mode": "wal",
				"synchronous":  fmt.Sprint(tc.wantSync),
				"foreign_keys": "1",
				"cache_size":   "-65536",
				"busy_timeout": "5000",
			} {
				if got := pragma(name); got != want {
					t.Errorf("PRAGMA %s = %s, want %s", name, got, want)
				}
			}
			_, err := s.read.ExecContext(ctx, `DELETE FROM api_keys`)
			if err == nil || !strings.Contains(err.Error(), "readonly") {
				t.Errorf("write through the read pool: error = %v, want a read-only error", err)
			}
		})
	}
}

func TestOpenRejectsBadConfiguration(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	for _, tc := range []struct {
		name string
		path string
		opts Options
	}{
		{"empty path", "", Options{}},
		{"in-memory", ":memory:", Options{}},
		{"synchronous OFF", filepath.Join(dir, "a.db"), Options{Synchronous: "OFF"}},
		{"negative busy timeout", filepath.Join(dir, "b.db"), Options{BusyTimeout: -time.Second}},
		{"negative cache", filepath.Join(dir, "c.db"), Options{CacheMiB: -1}},
		{"negative read connections", filepath.Join(dir, "d.db"), Options{ReadConns: -1}},
		{"missing directory", filepath.Join(dir, "no", "such", "dir", "e.db"), Options{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := Open(t.Context(), tc.path, tc.opts)
			if err == nil {
				s.Close()
				t.Fatalf("Open(%q, %+v) succeeded, want an error", tc.path, tc.opts)
			}
		})
	}
}

// TestConcurrentWritersQueue checks that writers from many goroutines queue
// for the single write connection instead of failing with SQLITE_BUSY.
func TestConcurrentWritersQueue(t *testing.T) {
	t.Parallel()
	s := openTest(t, Options{})
	const writers, batches, size = 8, 10, 50
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for b := range batches {
				items := make([]store.InboxItem, size)
				for i := range items {
					items[i] = store.InboxItem{UserID: fmt.Sprintf("u%d", i), EventID: fmt.Sprintf("w%d-b%d", w, b), Message: "m"}
				}
				if _, err := storetest.DeliverInbox(t.Context(), s, items); err != nil {
					t.Errorf("writer %d batch %d: %v", w, b, err)
					return
				}
				if _, err := s.LoadPreferences(t.Context(), []string{fmt.Sprintf("w%d-b%d", w, b), "shared"}); err != nil {
					t.Errorf("writer %d batch %d: LoadPreferences: %v", w, b, err)
					return
				}
			}
		})
	}
	wg.Wait()
	n, err := s.UnreadCount(t.Context(), "u0")
	if err != nil || n != writers*batches {
		t.Errorf("UnreadCount(u0) = %d, %v; want %d", n, err, writers*batches)
	}
}

// ---------------------------------------------------------------- benchmarks

// The benchmark bodies are storetest's, shared with pgstore.

// BenchmarkLoadPreferences loads batches of 500 ids from a store holding
// 200,000 users: "mostly-existing" has 5% first-time users per batch (the
// handler's steady state), "all-new" only first-time users (a first
// broadcast). New ids are random, as real user ids are.
func BenchmarkLoadPreferences(b *testing.B) {
	const existing = 200_000
	for _, bc := range []struct {
		name     string
		newShare float64
	}{
		{"mostly-existing", 0.05},
		{"all-new", 1},
	} {
		b.Run(bc.name, func(b *testing.B) {
			s := openTest(b, Options{})
			ids := make([]string, storetest.BenchBatch)
			for i := 0; i < existing; i += storetest.BenchBatch {
				for j := range ids {
					ids[j] = storetest.BenchUser(i + j)
				}
				if _, err := s.LoadPreferences(b.Context(), ids); err != nil {
					b.Fatal(err)
				}
			}
			storetest.BenchLoadPreferences(b, s, existing, bc.newShare)
		})
	}
}

// BenchmarkRecordPlans measures the handler's hot write path (see
// storetest.BenchRecordPlans): 500 single-user events an op, recipients
// drawn from 200,000 users (the throughput target's shape). It runs with
// each synchronous mode, so the cost of FULL shows. The database starts
// empty and grows by 500 events an op, so the figure depends on
// -benchtime: the ratio to another run with the same -benchtime is what to
// compare.
func BenchmarkRecordPlans(b *testing.B) {
	for _, sync := range []Synchronous{SyncNormal, SyncFull} {
		b.Run("sync="+string(sync), func(b *testing.B) {
			storetest.BenchRecordPlans(b, openTest(b, Options{Synchronous: sync}))
		})
	}
}

// BenchmarkRecordOutcomes upserts batches of 500 outcomes of single-user
// events (random event ids), half new and half replacing a recorded one:
// the delivery workers' hot path.
func BenchmarkRecordOutcomes(b *testing.B) {
	storetest.BenchRecordOutcomes(b, openTest(b, Options{}))
}
