package kafkahub

import (
	"container/heap"
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/herald/herald/internal/hub"
)

const (
	// minPauseRecords and pauseBytes bound what a partition holds fetched
	// and not yet handed out: above either, fetching for it pauses until
	// it is down to a quarter. A pause drops what the client buffered for
	// the partition and costs a new fetch, so the bounds hold several
	// fetches (a fetch brings up to 1 MiB per partition).
	minPauseRecords = 8192
	pauseBytes      = 8 << 20
	// retryDeadLetterAfter is how long a record the hub failed to
	// dead-letter waits before the hub tries again.
	retryDeadLetterAfter = time.Second
	// maxCommitBackoff bounds the pause between failed commits before a
	// batch is handed out.
	maxCommitBackoff = 2 * time.Second
	// compactAfter is how many settled records may stay in memory behind
	// an unsettled one before they are dropped.
	compactAfter = 4096
)

// partition is one assigned partition of a running Consume: a goroutine
// handing batches to the handler, one redelivering what outlives AckWait,
// and the records from the lowest unsettled offset on.
type partition struct {
	c       *consumer
	index   int32
	wake    chan struct{} // records arrived or a retry became due
	expWake chan struct{} // a batch was handed out
	stopCh  chan struct{}
	stopped sync.Once
	done    sync.WaitGroup // the two goroutines

	mu   sync.Mutex
	cond *sync.Cond // inflight dropped
	// entries holds the records from the lowest unsettled offset on, in
	// offset order, except settled ones dropped by settle; entries[:next]
	// were picked for delivery, settledBehind of them are settled.
	entries       []*delivery
	next          int
	settledBehind int
	end           int64  // the offset after the last record received, -1 before any
	picked        int64  // the offset of the last record picked, -1 before any
	prior         counts // deliveries before this owner, from the commit metadata
	delayed       delayQueue
	handed        []handout // handed out, by AckWait deadline
	paused        bool
	// queuedBytes is the size of the records fetched and not yet picked.
	queuedBytes int
	// inflight counts settlements that wait for the brokers (Retry and
	// AckWait copies, dead letters).
	inflight int
	closed   bool // halted: Retry and DeadLetter refuse
	final    bool // committed for the last time: nothing more is committed

	hasLast    bool
	lastOffset int64
	lastMeta   string
}

// handout is a delivery handed to the handler with its AckWait deadline.
type handout struct {
	d        *delivery
	deadline time.Time
}

func newPartition(c *consumer, index int32) *partition {
	p := &partition{
		c:       c,
		index:   index,
		wake:    make(chan struct{}, 1),
		expWake: make(chan struct{}, 1),
		stopCh:  make(chan struct{}),
		end:     -1,
		picked:  -1,
	}
	p.cond = sync.NewCond(&p.mu)
	return p
}

// start runs the partition's goroutines.
func (p *partition) start() {
	p.done.Add(2)
	go p.run()
	go p.expireLoop()
}

func signal(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

// pauseRecords is the number of fetched, not yet picked records above which
// fetching for the partition pauses.
func (p *partition) pauseRecords() int { return max(16*p.c.opts.BatchSize, minPauseRecords) }

// setPrior sets the delivery counts read from the committed metadata.
func (p *partition) setPrior(cs counts) {
	p.mu.Lock()
	p.prior = cs
	p.mu.Unlock()
}

// push adds fetched records and pauses fetching for the partition when too
// many wait.
func (p *partition) push(recs []*kgo.Record) {
	p.mu.Lock()
	for _, r := range recs {
		if r.Offset < p.end {
			continue // already held
		}
		p.entries = append(p.entries, newDelivery(p, r, p.prior.at(r.Offset)))
		p.end = r.Offset + 1
		p.queuedBytes += p.entries[len(p.entries)-1].size()
	}
	if !p.paused && (len(p.entries)-p.next > p.pauseRecords() || p.queuedBytes > pauseBytes) {
		p.paused = true
		p.c.cl.PauseFetchPartitions(map[string][]int32{p.c.kTopic: {p.index}})
	}
	p.mu.Unlock()
	signal(p.wake)
}

// picking is what one pick took: the batch for the handler, the records
// the hub must dead-letter (claimed), and the records newly picked from the
// log, whose counts grew.
type picking struct {
	batch, exhausted, fresh []*delivery
	prevPicked              int64
	wait                    time.Duration // until the next retry is due, when nothing is ready
}

// pick takes the next batch: due retries first, then records in offset
// order. Records past MaxAttempts are claimed for the hub to dead-letter,
// and retries not yet due wait in the delay queue. Called with p.mu held.
func (p *partition) pick(now time.Time) picking {
	pk := picking{prevPicked: p.picked}
	limit, maxAttempts := p.c.opts.BatchSize, p.c.opts.MaxAttempts
	classify := func(d *delivery) {
		switch {
		case d.hdrAttempts+d.count > maxAttempts:
			d.state, d.how = stateSettling, howExhausted
			p.inflight++
			pk.exhausted = append(pk.exhausted, d)
		case d.notBefore.After(now):
			heap.Push(&p.delayed, d)
		default:
			pk.batch = append(pk.batch, d)
		}
	}
	for len(pk.batch) < limit && len(p.delayed) > 0 && !p.delayed[0].notBefore.After(now) {
		if d := heap.Pop(&p.delayed).(*delivery); d.state == statePending {
			classify(d)
		}
	}
	for len(pk.batch) < limit && p.next < len(p.entries) {
		d := p.entries[p.next]
		p.next++
		p.queuedBytes -= d.size()
		p.picked = d.rec.Offset
		d.count++
		pk.fresh = append(pk.fresh, d)
		classify(d)
	}
	if len(pk.batch) == 0 && len(p.delayed) > 0 {
		pk.wait = max(p.delayed[0].notBefore.Sub(now), time.Millisecond)
	}
	if p.paused && len(p.entries)-p.next <= p.pauseRecords()/4 && p.queuedBytes <= pauseBytes/4 {
		p.paused = false
		p.c.cl.ResumeFetchPartitions(map[string][]int32{p.c.kTopic: {p.index}})
	}
	return pk
}

// unpick undoes a pick whose batch will not be handed out because the
// partition stops: the records go back as they were, so the final commit
// does not count them as delivered.
func (p *partition) unpick(pk picking) {
	p.mu.Lock()
	defer p.mu.Unlock()
	fresh := make(map[*delivery]bool, len(pk.fresh))
	for _, d := range pk.fresh {
		fresh[d] = true
		d.count--
		p.queuedBytes += d.size()
	}
	// Fresh records are the last of entries[:next]: nothing settled them
	// and compaction keeps the order of what it keeps.
	p.next -= len(pk.fresh)
	p.picked = pk.prevPicked
	kept := p.delayed[:0]
	for _, d := range p.delayed {
		if !fresh[d] {
			kept = append(kept, d)
		}
	}
	clear(p.delayed[len(kept):])
	p.delayed = kept
	for _, d := range pk.exhausted {
		d.state, d.how = statePending, howNone
		p.inflight--
	}
	for _, d := range slices.Concat(pk.batch, pk.exhausted) {
		if !fresh[d] { // a due retry: it waits again
			p.delayed = append(p.delayed, d)
		}
	}
	heap.Init(&p.delayed)
	p.cond.Broadcast()
}

// run hands batches to the handler until the partition stops or Consume's
// context ends.
func (p *partition) run() {
	defer p.done.Done()
	ctx := p.c.ctx
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	for {
		if p.halting() || ctx.Err() != nil {
			return
		}
		p.mu.Lock()
		pk := p.pick(time.Now())
		p.mu.Unlock()
		// Count the deliveries in the committed metadata before the
		// handler sees them, so a crash in the handler counts.
		if len(pk.fresh) > 0 && !p.precommit() || p.halting() || ctx.Err() != nil {
			p.unpick(pk)
			return
		}
		if len(pk.batch) > 0 {
			p.hand(pk.batch)
		}
		for _, d := range pk.exhausted {
			p.exhaust(d)
		}
		if len(pk.batch) > 0 || len(pk.fresh) > 0 {
			continue
		}
		if pk.wait > 0 {
			timer.Reset(pk.wait)
		}
		select {
		case <-p.wake:
		case <-timer.C:
		case <-p.stopCh:
			return
		case <-ctx.Done():
			return
		}
		timer.Stop()
	}
}

// halting says the partition was asked to stop.
func (p *partition) halting() bool {
	select {
	case <-p.stopCh:
		return true
	default:
		return false
	}
}

// precommit commits the delivery counts, retrying until it works or the
// partition stops (false).
func (p *partition) precommit() bool {
	backoff := 100 * time.Millisecond
	for {
		select {
		case err := <-p.c.requestCommit(p, true):
			if err == nil {
				return true
			}
			if errors.Is(err, errStopped) {
				return false
			}
			p.c.log.Warn("cannot record deliveries before handing them out; retrying",
				"partition", p.index, "err", err, "backoff", backoff)
		case <-p.stopCh:
			return false
		case <-p.c.ctx.Done():
			return false
		}
		select {
		case <-time.After(backoff):
		case <-p.stopCh:
			return false
		case <-p.c.ctx.Done():
			return false
		}
		backoff = min(2*backoff, maxCommitBackoff)
	}
}

// hand gives batch to the handler.
func (p *partition) hand(batch []*delivery) {
	deadline := time.Now().Add(p.c.opts.AckWait)
	out := make([]hub.Delivery, len(batch))
	p.mu.Lock()
	for i, d := range batch {
		d.attempt = d.hdrAttempts + d.count
		d.handed, d.deadline = true, deadline
		p.handed = append(p.handed, handout{d: d, deadline: deadline})
		out[i] = d
	}
	p.mu.Unlock()
	signal(p.expWake)
	p.c.handler(p.c.ctx, out)
}

// exhaust dead-letters a record delivered more than MaxAttempts times,
// without the handler.
func (p *partition) exhaust(d *delivery) {
	deliveries := d.hdrAttempts + d.count - 1
	reason := fmt.Sprintf("attempts exhausted: delivered %d times without being settled "+
		"(consumer crashed, AckWait passed or Retry asked again); MaxAttempts is %d", deliveries, p.c.opts.MaxAttempts)
	ctx, cancel := context.WithTimeout(context.Background(), settleTimeout)
	err := p.c.h.storeDeadLetter(ctx, p.c.topic, p.c.group, d.m, reason, deliveries, d.origin)
	cancel()
	if err == nil {
		p.c.log.Warn("message dead-lettered after exhausting its attempts",
			"partition", p.index, "origin", d.origin, "attempts", deliveries)
	}
	p.finish(d, err)
	if err == nil {
		p.exhausted(d, reason)
	}
}

// expireLoop redelivers deliveries left unsettled for AckWait: it publishes
// a copy with the next attempt, or dead-letters the last attempt, and settles
// the original.
func (p *partition) expireLoop() {
	defer p.done.Done()
	ctx := p.c.ctx
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	for {
		now := time.Now()
		var due []*delivery
		wait := time.Duration(-1)
		p.mu.Lock()
		for len(p.handed) > 0 {
			h := p.handed[0]
			if h.d.state != statePending || !h.d.deadline.Equal(h.deadline) {
				p.handed[0] = handout{}
				p.handed = p.handed[1:]
				continue
			}
			if h.deadline.After(now) {
				wait = h.deadline.Sub(now)
				break
			}
			p.handed[0] = handout{}
			p.handed = p.handed[1:]
			h.d.state, h.d.how = stateSettling, howExpired
			p.inflight++
			due = append(due, h.d)
		}
		p.mu.Unlock()
		for _, d := range due {
			p.expire(d)
		}
		if len(due) > 0 {
			continue
		}
		if wait >= 0 {
			timer.Reset(wait)
		}
		select {
		case <-p.expWake:
		case <-timer.C:
		case <-p.stopCh:
			return
		case <-ctx.Done():
			return
		}
		timer.Stop()
	}
}

// expire redelivers a delivery that outlived AckWait.
func (p *partition) expire(d *delivery) {
	if d.attempt < p.c.opts.MaxAttempts {
		p.c.log.Debug("delivery not settled within AckWait; delivering it again",
			"partition", p.index, "origin", d.origin, "attempt", d.attempt, "ack_wait", p.c.opts.AckWait)
		p.republish(d, d.attempt, time.Time{})
		return
	}
	reason := fmt.Sprintf("attempts exhausted: attempt %d of %d not settled within AckWait %s",
		d.attempt, p.c.opts.MaxAttempts, p.c.opts.AckWait)
	ctx, cancel := context.WithTimeout(context.Background(), settleTimeout)
	err := p.c.h.storeDeadLetter(ctx, p.c.topic, p.c.group, d.m, reason, d.attempt, d.origin)
	cancel()
	if err == nil {
		p.c.log.Warn("message dead-lettered: its last attempt was not settled within AckWait",
			"partition", p.index, "origin", d.origin, "attempts", d.attempt)
	}
	p.finish(d, err)
	if err == nil {
		p.exhausted(d, reason)
	}
}

// exhausted tells the consumer, when it asked, that the hub dead-lettered
// d itself.
func (p *partition) exhausted(d *delivery, reason string) {
	if p.c.opts.OnExhausted != nil {
		p.c.opts.OnExhausted(p.c.ctx, d.m, reason)
	}
}

// republish stores a copy of d for another attempt and settles d once the
// copy is stored. It does not wait.
func (p *partition) republish(d *delivery, attempts int, notBefore time.Time) {
	ctx, cancel := context.WithTimeout(context.Background(), settleTimeout)
	p.c.h.cl.Produce(ctx, retryRecord(d, attempts, notBefore), func(_ *kgo.Record, err error) {
		cancel()
		if err != nil && p.c.h.closed.Load() {
			err = errors.Join(hub.ErrClosed, err)
		}
		p.finish(d, err)
	})
}

// finish completes a settlement that waited for the brokers. On error the
// delivery is unsettled again: a handed one comes back after another
// AckWait, an exhausted one is dead-lettered again after a pause.
func (p *partition) finish(d *delivery, err error) {
	p.mu.Lock()
	p.inflight--
	p.cond.Broadcast()
	advanced := false
	if err != nil {
		how := d.how
		d.state, d.how = statePending, 0
		if d.handed {
			d.deadline = time.Now().Add(p.c.opts.AckWait)
			p.handed = append(p.handed, handout{d: d, deadline: d.deadline})
		} else {
			d.notBefore = time.Now().Add(retryDeadLetterAfter)
			heap.Push(&p.delayed, d)
		}
		p.mu.Unlock()
		p.c.log.Warn("settling a delivery failed; it stays unsettled", "how", how.String(),
			"partition", p.index, "origin", d.origin, "err", err)
		signal(p.wake)
		signal(p.expWake)
		return
	}
	advanced = p.settle(d)
	final := p.final
	p.mu.Unlock()
	if advanced && !final {
		p.c.requestCommit(p, false)
	}
}

// settle marks d settled and drops the settled records at the front; it
// says whether the lowest unsettled offset moved. Settled records behind an
// unsettled one (a retry waiting for its time, a slow delivery) are dropped
// from memory once they are many: only their count matters. Called with p.mu
// held.
func (p *partition) settle(d *delivery) bool {
	d.state = stateSettled
	p.settledBehind++
	n := 0
	for n < p.next && p.entries[n].state == stateSettled {
		n++
	}
	if n > 0 {
		clear(p.entries[:n])
		p.entries = p.entries[n:]
		p.next -= n
		p.settledBehind -= n
	}
	if p.settledBehind > compactAfter && p.settledBehind > p.next/2 {
		kept := p.entries[:0]
		for _, e := range p.entries[:p.next] {
			if e.state != stateSettled {
				kept = append(kept, e)
			}
		}
		rest := copy(p.entries[len(kept):], p.entries[p.next:])
		clear(p.entries[len(kept)+rest:])
		p.entries = p.entries[:len(kept)+rest]
		p.next = len(kept)
		p.settledBehind = 0
	}
	return n > 0
}

// halt stops the goroutines (the handler call in progress returns first)
// and waits a while for settlements still talking to the brokers.
func (p *partition) halt() {
	p.stopped.Do(func() { close(p.stopCh) })
	p.done.Wait()
	timeout := time.AfterFunc(stopTimeout, func() {
		p.mu.Lock()
		p.closed = true
		p.cond.Broadcast()
		p.mu.Unlock()
	})
	defer timeout.Stop()
	p.mu.Lock()
	for p.inflight > 0 && !p.closed {
		p.cond.Wait()
	}
	if p.inflight > 0 {
		p.c.log.Warn("stopping with settlements in flight; their messages may be delivered twice",
			"partition", p.index, "in_flight", p.inflight)
	}
	p.closed = true
	p.mu.Unlock()
}

// commitState is what to commit: the lowest unsettled offset and the
// delivery counts from it on. changed says it differs from the last commit;
// ok is false once the partition committed for the last time. With final
// this is the last commit.
func (p *partition) commitState(final bool) (offset int64, meta string, changed, ok bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.final {
		return 0, "", false, false
	}
	if final {
		p.closed = true
	}
	switch {
	case len(p.entries) > 0:
		offset = p.entries[0].rec.Offset
	case p.end >= 0:
		offset = p.end
	default:
		return 0, "", false, true // nothing received: the group's commit stands
	}
	if cs := p.prior.picked(offset, p.picked); len(cs) > 0 {
		meta = cs.encode()
	}
	changed = !p.hasLast || offset != p.lastOffset || meta != p.lastMeta
	return offset, meta, changed, true
}

// committed records a successful commit.
func (p *partition) committed(offset int64, meta string) {
	p.mu.Lock()
	p.hasLast, p.lastOffset, p.lastMeta = true, offset, meta
	p.mu.Unlock()
}

// markStopped ends the partition's commits.
func (p *partition) markStopped() {
	p.mu.Lock()
	p.final, p.closed = true, true
	p.mu.Unlock()
}

// delayQueue orders retried records by their not-before time.
type delayQueue []*delivery

func (q delayQueue) Len() int           { return len(q) }
func (q delayQueue) Less(i, j int) bool { return q[i].notBefore.Before(q[j].notBefore) }
func (q delayQueue) Swap(i, j int)      { q[i], q[j] = q[j], q[i] }
func (q *delayQueue) Push(x any)        { *q = append(*q, x.(*delivery)) }
func (q *delayQueue) Pop() any {
	old := *q
	d := old[len(old)-1]
	old[len(old)-1] = nil
	*q = old[:len(old)-1]
	return d
}
