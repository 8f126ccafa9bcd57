package storetest

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/herald/herald/internal/prefs"
	"github.com/herald/herald/internal/store"
)

// The benchmark bodies every driver runs, so that the drivers' figures
// (same batch sizes, populations and id shapes) can be put side by side. A
// driver's Benchmark function opens a fresh store, configured as the case
// needs, and passes it in.

// BenchBatch is how many rows one op of the shared benchmarks writes or
// reads.
const BenchBatch = 500

// ReportRows reports the benchmark's throughput in rows per second.
func ReportRows(b *testing.B, rowsPerOp int) {
	b.ReportMetric(float64(b.N*rowsPerOp)/b.Elapsed().Seconds(), "rows/s")
}

// BenchUser names the i-th user of a benchmark population.
func BenchUser(i int) string { return fmt.Sprintf("user-%07d", i) }

// BenchEventID returns a random event id shaped like event.IDFor's.
func BenchEventID(rng *rand.Rand) string {
	return fmt.Sprintf("%016x%016x", rng.Uint64(), rng.Uint64())
}

// BenchLoadPreferences loads batches of BenchBatch ids from s, which holds
// the users BenchUser(0) to BenchUser(existing-1); a share newShare of each
// batch are first-time users with random ids, as real user ids are.
func BenchLoadPreferences(b *testing.B, s store.Store, existing int, newShare float64) {
	ids := make([]string, BenchBatch)
	rng := rand.New(rand.NewPCG(1, 2))
	for b.Loop() {
		for j := range ids {
			if rng.Float64() < newShare {
				ids[j] = fmt.Sprintf("new-%016x", rng.Uint64())
			} else {
				ids[j] = BenchUser(rng.IntN(existing))
			}
		}
		got, err := s.LoadPreferences(b.Context(), ids)
		if err != nil {
			b.Fatal(err)
		}
		if len(got) == 0 {
			b.Fatal("no preferences loaded")
		}
	}
	ReportRows(b, BenchBatch)
}

// BenchRecordPlans measures the handler's hot write path on s, a fresh
// store: each op is one RecordPlans call (through DeliverInbox) of
// BenchBatch single-user events, each with its outcome and one inbox item;
// event ids are random and recipients drawn from 200,000 users. rows/s
// counts events, which here equal inbox items.
func BenchRecordPlans(b *testing.B, s store.Store) {
	rng := rand.New(rand.NewPCG(1, 2))
	items := make([]store.InboxItem, BenchBatch)
	for i := range items {
		items[i] = store.InboxItem{
			Title:   "Training due",
			Message: "Your safety training is due on Friday.",
			Urgency: "normal",
		}
	}
	for b.Loop() {
		for i := range items {
			items[i].UserID = BenchUser(rng.IntN(200_000))
			items[i].EventID = BenchEventID(rng)
		}
		added, err := DeliverInbox(b.Context(), s, items)
		if err != nil {
			b.Fatal(err)
		}
		if len(added) != BenchBatch {
			b.Fatalf("added %d items, want %d", len(added), BenchBatch)
		}
	}
	ReportRows(b, BenchBatch)
}

// BenchRecordOutcomes upserts into s batches of BenchBatch outcomes of
// single-user events (random event ids), half new and half replacing a
// recorded one: the delivery workers' hot path.
func BenchRecordOutcomes(b *testing.B, s store.Store) {
	rng := rand.New(rand.NewPCG(1, 2))
	recs := make([]store.DeliveryRecord, BenchBatch)
	at := time.Now()
	for b.Loop() {
		for i := range recs {
			if i%2 == 0 || recs[i].EventID == "" {
				recs[i] = store.DeliveryRecord{
					EventID: BenchEventID(rng), UserID: BenchUser(rng.IntN(200_000)),
					Channel: prefs.Mobile, Outcome: store.Delivered, Attempts: 1, At: at,
				}
			} else {
				recs[i].Attempts++
			}
		}
		if err := s.RecordOutcomes(b.Context(), recs); err != nil {
			b.Fatal(err)
		}
	}
	ReportRows(b, BenchBatch)
}
