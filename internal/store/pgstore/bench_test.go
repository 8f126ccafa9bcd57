package pgstore

import (
	"net/url"
	"testing"
	"time"

	"github.com/herald/herald/internal/event"
	"github.com/herald/herald/internal/prefs"
	"github.com/herald/herald/internal/store"
	"github.com/herald/herald/internal/store/pgstore/pgtest"
	"github.com/herald/herald/internal/store/storetest"
)

// The benchmarks mirror sqlitestore's (same batch sizes, populations and
// id shapes), so BENCHMARKS.md can put the drivers side by side.

// benchConns is the pool of a benchmark's store; the benchmarks call the
// store from one goroutine, so it only bounds what pgx keeps open.
const benchConns = 4

// openBench opens a store in a fresh schema; extra are runtime parameters
// added to the URL (synchronous_commit=off, say).
func openBench(b *testing.B, extra url.Values) *Store {
	b.Helper()
	schema, raw := pgtest.Schema(b)
	u, err := url.Parse(raw)
	if err != nil {
		b.Fatal(err)
	}
	q := u.Query()
	for k, vs := range extra {
		for _, v := range vs {
			q.Add(k, v)
		}
	}
	u.RawQuery = q.Encode()
	s, err := Open(b.Context(), u.String(), Options{Schema: schema, MaxConns: benchConns})
	if err != nil {
		b.Fatalf("Open: %v", err)
	}
	b.Cleanup(func() { s.Close() })
	return s
}

// BenchmarkLoadPreferences loads batches of 500 ids from a store holding
// 200,000 users: "mostly-existing" has 5% first-time users per batch (the
// handler's steady state), "all-new" only first-time users (a first
// broadcast).
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
			s := openBench(b, nil)
			// Populate with one import per 10,000 people rather than
			// LoadPreferences calls: the same rows, faster.
			for i := 0; i < existing; i += 10_000 {
				recs := make([]store.UserRecord, 10_000)
				for j := range recs {
					recs[j].Preferences = prefs.Default(storetest.BenchUser(i + j))
				}
				if err := s.ImportUsers(b.Context(), recs); err != nil {
					b.Fatal(err)
				}
			}
			if _, err := s.pool.Exec(b.Context(), `ANALYZE preferences`); err != nil {
				b.Fatal(err)
			}
			storetest.BenchLoadPreferences(b, s, existing, bc.newShare)
		})
	}
}

// BenchmarkRecordPlans measures the handler's hot write path: each op is
// one RecordPlans call (through storetest.DeliverInbox) of 500 single-user
// events, each with its outcome and one inbox item; event ids are random
// and recipients drawn from 200,000 users. rows/s counts events, which here
// equal inbox items. It runs with synchronous_commit on (PostgreSQL's
// default: a commit waits for its WAL to reach the disk) and off (a crash
// of the server may lose the last commits, never corrupt), the counterpart
// of sqlitestore's sync=FULL and sync=NORMAL. The schema starts empty and
// grows by 500 events an op, so the figure depends on -benchtime.
func BenchmarkRecordPlans(b *testing.B) {
	for _, sync := range []string{"on", "off"} {
		b.Run("synchronous_commit="+sync, func(b *testing.B) {
			storetest.BenchRecordPlans(b, openBench(b, url.Values{"synchronous_commit": {sync}}))
		})
	}
}

// BenchmarkRecordOutcomes upserts batches of 500 outcomes of single-user
// events (random event ids), half new and half replacing a recorded one:
// the delivery workers' hot path.
func BenchmarkRecordOutcomes(b *testing.B) {
	storetest.BenchRecordOutcomes(b, openBench(b, nil))
}

// BenchmarkRecordBroadcastChunk records chunks of 1,000 inbox receipts (the
// broadcast's bulk write, one COPY each) with their counters and cursor.
func BenchmarkRecordBroadcastChunk(b *testing.B) {
	const chunk = 1000
	s := openBench(b, nil)
	ev := event.Event{ID: "bc-bench", Audience: event.Audience{All: true}, Notification: event.Notification{Message: "New policy"}}
	if _, err := s.StartBroadcast(b.Context(), ev, time.Now()); err != nil {
		b.Fatal(err)
	}
	cursor := ""
	next := 0
	users := make([]string, chunk)
	for b.Loop() {
		for i := range users {
			users[i] = storetest.BenchUser(next)
			next++
		}
		c := store.BroadcastChunk{EventID: ev.ID, From: cursor, To: users[chunk-1], Recipients: chunk,
			Counts: store.Counts{prefs.Inbox: {"delivered": chunk}}, Inbox: users, At: time.Now()}
		if _, ok, err := s.RecordBroadcastChunk(b.Context(), c); err != nil || !ok {
			b.Fatalf("RecordBroadcastChunk = %v, %v", ok, err)
		}
		cursor = c.To
	}
	storetest.ReportRows(b, chunk)
}
