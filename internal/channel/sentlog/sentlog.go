// Package sentlog records, as each send to an outside provider succeeds,
// that an (event, address) pair has it: a device for the push channels, a
// conversation for the conversation channel. A retried job reads these
// records and skips what they list, so a send is repeated only when a crash
// falls between the provider's answer and the record's commit.
//
// Two things keep that window small. The records are written in group
// commits: one writer commits whatever has accumulated as soon as its
// previous commit finished, so a record waits at most for the commit under
// way and its own, not for a tick or the end of a batch. And the sends are
// held to the store's pace: at most Config.Max sends are in flight or
// waiting for their record at any moment (Acquire), so however slow the
// store is, a crash repeats at most Max sends.
//
// It owns no other state and must not decide outcomes: the channels do.
package sentlog

import (
	"context"
	"fmt"
	"log/slog"
	"runtime/debug"
	"sync"

	"github.com/herald/herald/internal/store"
)

// Marker is the part of store.Store a Recorder writes to.
type Marker interface {
	MarkDeviceDelivered(ctx context.Context, ds []store.DeviceDelivery) error
}

// Config configures a Recorder.
type Config struct {
	// Store receives the records.
	Store Marker
	// Log receives failed commits; nil discards them.
	Log *slog.Logger
	// What names the records in log lines ("devices", "conversations").
	What string
	// Max bounds the sends in flight (between Acquire and Release) plus
	// the records not yet committed: what a crash can repeat. 0 means no
	// bound.
	Max int
}

// Recorder commits sent records in groups. It is safe for concurrent use
// by any number of delivery calls; its writer runs only while there is
// something to commit, so it needs no Start or Stop.
type Recorder struct {
	cfg Config
	log *slog.Logger

	mu       sync.Mutex
	buf      []store.DeviceDelivery
	added    uint64 // records handed to Add
	settled  uint64 // records whose commit has finished
	inFlight int    // sends between Acquire and Release
	waiting  int    // Acquire calls waiting for room
	writing  bool
	// changed is closed, and replaced, when settled grows, and when a
	// Release makes room for a waiting Acquire.
	changed chan struct{}
	commits uint64
}

// New returns a recorder.
func New(cfg Config) *Recorder {
	log := cfg.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Recorder{cfg: cfg, log: log, changed: make(chan struct{})}
}

// Acquire waits until a send may start: fewer than Max sends are in flight
// or waiting for their record. Each successful Acquire must be followed by
// one Release once the send is over (and, when it succeeded, its Add). It
// returns ctx's error, holding nothing, if ctx ends first.
func (r *Recorder) Acquire(ctx context.Context) error {
	r.mu.Lock()
	for r.cfg.Max > 0 && r.inFlight+int(r.added-r.settled) >= r.cfg.Max {
		ch := r.changed
		r.waiting++
		r.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			r.mu.Lock()
			r.waiting--
			r.mu.Unlock()
			return ctx.Err()
		}
		r.mu.Lock()
		r.waiting--
	}
	r.inFlight++
	r.mu.Unlock()
	return nil
}

// Release ends a send that Acquire admitted.
func (r *Recorder) Release() {
	r.mu.Lock()
	r.inFlight--
	if r.waiting > 0 {
		r.signal()
	}
	r.mu.Unlock()
}

// Add queues d for the next commit, starting the writer if it is idle.
func (r *Recorder) Add(d store.DeviceDelivery) {
	r.mu.Lock()
	r.buf = append(r.buf, d)
	r.added++
	start := !r.writing
	r.writing = true
	r.mu.Unlock()
	if start {
		go r.write()
	}
}

// Flush waits until every record added before the call has been committed,
// or its commit failed and was logged. A delivery call flushes before it
// returns its results, so a job reported delivered is recorded.
func (r *Recorder) Flush() {
	r.mu.Lock()
	target := r.added
	for r.settled < target {
		ch := r.changed
		r.mu.Unlock()
		<-ch
		r.mu.Lock()
	}
	r.mu.Unlock()
}

// Commits is how many commits the recorder has made, for tests.
func (r *Recorder) Commits() uint64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.commits
}

// signal wakes whoever waits on changed; r.mu is held.
func (r *Recorder) signal() {
	close(r.changed)
	r.changed = make(chan struct{})
}

// write commits what has accumulated until nothing is left.
func (r *Recorder) write() {
	for {
		r.mu.Lock()
		buf := r.buf
		if len(buf) == 0 {
			r.writing = false
			r.mu.Unlock()
			return
		}
		r.buf = nil
		r.mu.Unlock()

		r.commit(buf)

		r.mu.Lock()
		r.settled += uint64(len(buf))
		r.commits++
		r.signal()
		r.mu.Unlock()
	}
}

// commit writes one group. A failure is logged, not returned: the sends
// happened and their jobs' results stand; only a retry of the same jobs
// could then repeat them. A panic in the store is contained the same way,
// so that waiting delivery calls are released.
func (r *Recorder) commit(buf []store.DeviceDelivery) {
	defer func() {
		if p := recover(); p != nil {
			r.log.Error("recording sent "+r.cfg.What+" panicked; a retry may send them again",
				"records", len(buf), "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
		}
	}()
	if err := r.cfg.Store.MarkDeviceDelivered(context.Background(), buf); err != nil {
		r.log.Error("recording sent "+r.cfg.What+" failed; a retry may send them again", "records", len(buf), "err", err)
	}
}
