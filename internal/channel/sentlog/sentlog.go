// Package sentlog records, as each send to an outside provider succeeds,
// that an (event, address) pair has it: a device for the push channels, a
// conversation for the conversation channel. A retried job reads these
// records and skips what they list, so a send is repeated only when a crash
// falls between the provider's answer and the record's commit.
//
// The records are written in group commits: one writer commits whatever
// has accumulated as soon as its previous commit finished, so a crash
// repeats at most the sends answered during one commit (and the one before
// it was started), not a fixed interval's or a whole batch's worth. It owns
// no other state and must not decide outcomes: the channels do.
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

// Recorder commits sent records in groups. It is safe for concurrent use
// by any number of delivery calls; its writer runs only while there is
// something to commit, so it needs no Start or Stop.
type Recorder struct {
	st   Marker
	log  *slog.Logger
	what string

	mu      sync.Mutex
	buf     []store.DeviceDelivery
	added   uint64 // records handed to Add
	settled uint64 // records whose commit has finished
	writing bool
	// changed is closed, and replaced, each time settled grows.
	changed chan struct{}
	commits uint64
}

// New returns a recorder writing to st. what names the records in log
// lines ("devices", "conversations").
func New(st Marker, log *slog.Logger, what string) *Recorder {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Recorder{st: st, log: log, what: what, changed: make(chan struct{})}
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
		close(r.changed)
		r.changed = make(chan struct{})
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
			r.log.Error("recording sent "+r.what+" panicked; a retry may send them again",
				"records", len(buf), "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
		}
	}()
	if err := r.st.MarkDeviceDelivered(context.Background(), buf); err != nil {
		r.log.Error("recording sent "+r.what+" failed; a retry may send them again", "records", len(buf), "err", err)
	}
}
