package sentlog_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/herald/herald/internal/channel/sentlog"
	"github.com/herald/herald/internal/store"
)

// gatedStore records commits; while gate is set, each commit waits for a
// value on it, so a test can hold a commit open.
type gatedStore struct {
	mu      sync.Mutex
	commits [][]string
	gate    chan struct{}
	started chan int // the size of each commit as it starts
	fail    error
	panics  bool
}

func (s *gatedStore) MarkDeviceDelivered(_ context.Context, ds []store.DeviceDelivery) error {
	if s.started != nil {
		s.started <- len(ds)
	}
	if s.gate != nil {
		<-s.gate
	}
	if s.panics {
		panic("store bug")
	}
	ids := make([]string, len(ds))
	for i, d := range ds {
		ids[i] = d.EventID + "/" + d.DeviceID
	}
	s.mu.Lock()
	s.commits = append(s.commits, ids)
	s.mu.Unlock()
	return s.fail
}

func (s *gatedStore) all() [][]string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([][]string(nil), s.commits...)
}

func rec(i int) store.DeviceDelivery {
	return store.DeviceDelivery{EventID: "e", DeviceID: fmt.Sprint(i)}
}

// flushed runs Flush and fails the test if it does not return in time.
func flushed(t *testing.T, r *sentlog.Recorder) {
	t.Helper()
	done := make(chan struct{})
	go func() { r.Flush(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Flush did not return")
	}
}

func TestWhatAccumulatesDuringACommitIsTheNextCommit(t *testing.T) {
	st := &gatedStore{gate: make(chan struct{}), started: make(chan int, 10)}
	r := sentlog.New(sentlog.Config{Store: st, What: "devices"})

	r.Add(rec(1))
	if n := <-st.started; n != 1 {
		t.Fatalf("first commit has %d records, want 1 (committed at once, no waiting for a tick)", n)
	}
	// While the first commit runs, three more sends succeed.
	for i := 2; i <= 4; i++ {
		r.Add(rec(i))
	}
	st.gate <- struct{}{} // the first commit ends
	if n := <-st.started; n != 3 {
		t.Fatalf("second commit has %d records, want the 3 that accumulated", n)
	}
	st.gate <- struct{}{}
	flushed(t, r)
	got := st.all()
	if len(got) != 2 || len(got[0]) != 1 || len(got[1]) != 3 || got[1][0] != "e/2" || got[1][2] != "e/4" {
		t.Fatalf("commits = %v, want [[e/1] [e/2 e/3 e/4]]", got)
	}
	if r.Commits() != 2 {
		t.Errorf("Commits() = %d, want 2", r.Commits())
	}
}

func TestFlushWaitsForWhatWasAddedBeforeIt(t *testing.T) {
	st := &gatedStore{gate: make(chan struct{}), started: make(chan int, 10)}
	r := sentlog.New(sentlog.Config{Store: st, What: "devices"})
	r.Add(rec(1))
	<-st.started
	done := make(chan struct{})
	go func() { r.Flush(); close(done) }()
	select {
	case <-done:
		t.Fatal("Flush returned while the record's commit was still running")
	case <-time.After(50 * time.Millisecond):
	}
	st.gate <- struct{}{}
	<-done
	if got := st.all(); len(got) != 1 {
		t.Fatalf("commits = %v", got)
	}
	flushed(t, r) // nothing pending: returns at once
}

func TestAFailedOrPanickingCommitIsLoggedAndReleasesFlush(t *testing.T) {
	for _, st := range []*gatedStore{{fail: errors.New("disk full")}, {panics: true}} {
		r := sentlog.New(sentlog.Config{Store: st, What: "devices"})
		r.Add(rec(1))
		flushed(t, r)
		r.Add(rec(2)) // the recorder still works after the failure
		flushed(t, r)
		if r.Commits() != 2 {
			t.Errorf("Commits() = %d, want 2", r.Commits())
		}
	}
}

func TestConcurrentAddsAreEachCommittedOnce(t *testing.T) {
	st := &gatedStore{}
	r := sentlog.New(sentlog.Config{Store: st, What: "devices"})
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Go(func() {
			for i := range 500 {
				r.Add(rec(w*1000 + i))
				if i%100 == 0 {
					r.Flush()
				}
			}
			r.Flush()
		})
	}
	wg.Wait()
	seen := map[string]int{}
	for _, c := range st.all() {
		for _, id := range c {
			seen[id]++
		}
	}
	if len(seen) != 4000 {
		t.Fatalf("%d distinct records committed, want 4000", len(seen))
	}
	for id, n := range seen {
		if n != 1 {
			t.Fatalf("%s committed %d times", id, n)
		}
	}
	t.Logf("4000 records in %d commits", r.Commits())
}

// However slow the store, at most Max sends are in flight or unrecorded:
// what a crash can repeat.
func TestAcquireHoldsSendsToTheStoresPace(t *testing.T) {
	st := &gatedStore{gate: make(chan struct{}), started: make(chan int, 10)}
	r := sentlog.New(sentlog.Config{Store: st, What: "devices", Max: 3})
	ctx := t.Context()
	// Two sends succeed and are recorded; their commit is held open.
	for i := range 2 {
		if err := r.Acquire(ctx); err != nil {
			t.Fatal(err)
		}
		r.Add(rec(i))
		r.Release()
	}
	<-st.started
	// One more send may start; a fourth must wait.
	if err := r.Acquire(ctx); err != nil {
		t.Fatal(err)
	}
	admitted := make(chan struct{})
	go func() {
		if err := r.Acquire(ctx); err == nil {
			close(admitted)
		}
	}()
	select {
	case <-admitted:
		t.Fatal("a fourth send started while 2 were unrecorded and 1 in flight (Max 3)")
	case <-time.After(50 * time.Millisecond):
	}
	r.Release() // the third send failed: room for the fourth
	<-admitted
	// A waiting send gives up when its context ends.
	short, cancel := context.WithCancel(ctx)
	cancel()
	if err := r.Acquire(short); !errors.Is(err, context.Canceled) {
		t.Fatalf("Acquire with room for none and a cancelled context = %v, want context.Canceled", err)
	}
	// The commits end: room again.
	go func() {
		st.gate <- struct{}{} // the commit held open
		for range st.started {
			st.gate <- struct{}{}
		}
	}()
	if err := r.Acquire(ctx); err != nil {
		t.Fatal(err)
	}
	r.Release()
	r.Release()
	flushed(t, r)
	close(st.started)
}
