package kafkahub

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/herald/herald/internal/hub"
)

const (
	// stopTimeout bounds how long a stopping partition waits for the
	// produce of a Retry or AckWait copy still in flight, and its final
	// commit.
	stopTimeout = 10 * time.Second
	// sessionTimeout is how long the group waits for a silent member.
	sessionTimeout = 10 * time.Second
	// settleTimeout bounds the produce of a Retry or AckWait copy and the
	// dead letters the hub writes itself.
	settleTimeout = 30 * time.Second
	// pollBackoff is the pause after a poll that returned only errors.
	pollBackoff = 250 * time.Millisecond
	// fetchMaxWait is how long a broker holds a fetch open when none of
	// its partitions has new records. A partition resumed after a pause
	// (see pauseBytes) waits for the fetch in flight, so this is short:
	// 100ms made a backlog drain ~3x faster than the client's default 5s
	// (BenchmarkConsume), for a few idle fetches a second.
	fetchMaxWait = 100 * time.Millisecond
)

// errStopped is what a commit request gets once its partition stopped.
var errStopped = errors.New("kafkahub: partition stopped")

// Consume runs handler over topic as group until ctx ends. The group is the
// Kafka consumer group <prefix>.<topic>.<group>: Consume calls with the same
// group, in this or other processes, share the partitions and rebalance when
// one joins or leaves.
//
// Each assigned partition has a goroutine that hands the handler batches of
// up to opts.BatchSize records that were already fetched, without waiting
// for more, in offset order; a partition's next batch follows when the
// handler returns. Offsets are committed up to the lowest record not yet
// settled (Ack, Retry or DeadLetter), so a crash delivers everything
// unsettled again. Before a batch is handed out the driver records in the
// commit metadata that its records were delivered, so the next consumer
// counts them in Attempt.
//
// Retry publishes a copy of the message to the topic (same key) with the
// attempt count and a not-before time, and settles the original once the
// copy is stored. A copy that is not due yet waits in memory while the
// partition goes on with later records. A delivery left unsettled for
// opts.AckWait is retried the same way by the hub (or dead-lettered when it
// was the last attempt), while Consume runs. A record delivered more than
// opts.MaxAttempts times is dead-lettered without calling handler.
//
// When a partition is revoked, its handler call in progress finishes first
// and what was settled is committed before the partition moves. When ctx
// ends, Consume stops fetching, waits for the handler calls in progress to
// return (they get ctx, so they see it end), commits what was settled, leaves
// the group and returns nil. It returns an error when it cannot start or the
// cluster refuses the group for good (authorization).
func (h *Hub) Consume(ctx context.Context, topicName, group string, opts hub.ConsumeOptions, handler hub.Handler) error {
	opts = opts.WithDefaults()
	if handler == nil {
		return errors.New("kafkahub: Consume needs a handler")
	}
	if !validPart.MatchString(group) {
		return fmt.Errorf("kafkahub: invalid group %q: use letters, digits, '_' and '-'", group)
	}
	t, err := h.topic(ctx, topicName)
	if err != nil {
		if ctx.Err() != nil && !errors.Is(err, hub.ErrClosed) {
			return nil
		}
		return err
	}
	ctx, cancel := context.WithCancel(ctx) // also ends handlers on a fatal error
	defer cancel()
	c := &consumer{
		h:        h,
		topic:    topicName,
		kTopic:   t,
		group:    group,
		groupID:  h.groupID(topicName, group),
		opts:     opts,
		handler:  handler,
		ctx:      ctx,
		parts:    make(map[int32]*partition),
		kick:     make(chan struct{}, 1),
		waiters:  make(map[*partition][]chan error),
		loopStop: make(chan struct{}),
		loopEnd:  make(chan struct{}),
	}
	c.log = h.log.With("topic", topicName, "group", group)
	c.cl, err = kgo.NewClient(append(slices.Clone(h.base),
		kgo.ConsumerGroup(c.groupID),
		kgo.ConsumeTopics(t),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.DisableAutoCommit(),
		kgo.FetchMaxWait(fetchMaxWait),
		kgo.BlockRebalanceOnPoll(),
		// A worker that dies (SIGKILL, a lost machine) keeps its
		// partitions until the broker misses its heartbeats for the
		// session timeout: 45 s by default, 10 s here. Brokers accept
		// 6 s to 300 s by default (Event Hubs too).
		kgo.SessionTimeout(sessionTimeout),
		kgo.HeartbeatInterval(sessionTimeout/10),
		kgo.OnPartitionsAssigned(c.assigned),
		kgo.OnOffsetsFetched(c.fetched),
		kgo.OnPartitionsRevoked(c.revoked),
		kgo.OnPartitionsLost(c.lost),
	)...)
	if err != nil {
		return fmt.Errorf("kafkahub: consumer client for %s: %w", c.groupID, err)
	}
	c.log.Debug("consuming", "group_id", c.groupID, "batch", opts.BatchSize,
		"ack_wait", opts.AckWait, "max_attempts", opts.MaxAttempts)
	go c.commitLoop()
	fatal := c.poll(ctx)
	cancel()

	// Stop: the handler calls in progress finish, settled offsets are
	// committed, then the client leaves the group.
	c.mu.Lock()
	c.closing = true
	parts := make([]*partition, 0, len(c.parts))
	for _, p := range c.parts {
		parts = append(parts, p)
	}
	clear(c.parts)
	c.mu.Unlock()
	c.stop(parts, true)
	close(c.loopStop)
	<-c.loopEnd
	c.cl.Close()
	return fatal
}

// consumer is one running Consume call.
type consumer struct {
	h       *Hub
	topic   string // hub topic
	kTopic  string // Kafka topic
	group   string // hub group
	groupID string // Kafka group id
	opts    hub.ConsumeOptions
	handler hub.Handler
	ctx     context.Context // Consume's: handed to the handler
	log     *slog.Logger
	cl      *kgo.Client

	mu      sync.Mutex
	parts   map[int32]*partition // assigned partitions
	closing bool

	// commitMu orders commits: a partition's state is read and committed
	// under it, so an older state never lands after a newer one.
	commitMu sync.Mutex

	cmu      sync.Mutex // guards the commit requests below
	requests map[*partition]bool
	waiters  map[*partition][]chan error
	kick     chan struct{}
	loopStop chan struct{} // closed to end the commit loop
	loopEnd  chan struct{} // closed when it ended
}

// poll fetches records and hands them to their partitions until ctx ends or
// the group fails for good. Rebalances wait while a poll's records are being
// handed over (BlockRebalanceOnPoll), so a revoked partition never receives
// records after its revocation.
func (c *consumer) poll(ctx context.Context) error {
	maxRecords := min(max(2*c.opts.BatchSize, 100), 10000)
	for {
		fetches := c.cl.PollRecords(ctx, maxRecords)
		if ctx.Err() != nil || fetches.IsClientClosed() {
			c.cl.AllowRebalance()
			return nil
		}
		var fatal error
		for _, fe := range fetches.Errors() {
			if errors.Is(fe.Err, context.Canceled) || errors.Is(fe.Err, context.DeadlineExceeded) {
				continue
			}
			if errors.Is(fe.Err, kerr.GroupAuthorizationFailed) || errors.Is(fe.Err, kerr.TopicAuthorizationFailed) ||
				errors.Is(fe.Err, kerr.SaslAuthenticationFailed) {
				fatal = fmt.Errorf("kafkahub: consume %s as %s: %w", c.kTopic, c.groupID, fe.Err)
			}
			c.log.Warn("fetch error", "partition", fe.Partition, "err", fe.Err)
		}
		records := 0
		fetches.EachPartition(func(ftp kgo.FetchTopicPartition) {
			if ftp.Topic != c.kTopic || len(ftp.Records) == 0 {
				return
			}
			records += len(ftp.Records)
			c.mu.Lock()
			p := c.parts[ftp.Partition]
			c.mu.Unlock()
			if p != nil {
				p.push(ftp.Records)
			}
		})
		c.cl.AllowRebalance()
		if fatal != nil {
			return fatal
		}
		if records == 0 && len(fetches.Errors()) > 0 {
			select {
			case <-ctx.Done():
			case <-time.After(pollBackoff):
			}
		}
	}
}

// assigned starts the partitions the group gave this member.
func (c *consumer) assigned(_ context.Context, _ *kgo.Client, assigned map[string][]int32) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closing {
		return
	}
	for _, idx := range assigned[c.kTopic] {
		if c.parts[idx] != nil {
			continue
		}
		p := newPartition(c, idx)
		c.parts[idx] = p
		p.start()
	}
	c.log.Debug("partitions assigned", "partitions", assigned[c.kTopic])
}

// fetched reads the delivery counts from the metadata of the offsets the
// group committed for newly assigned partitions. It runs before their
// records are fetched.
func (c *consumer) fetched(_ context.Context, _ *kgo.Client, resp *kmsg.OffsetFetchResponse) error {
	set := func(idx int32, offset int64, meta *string) {
		if meta == nil || offset < 0 {
			return
		}
		cs := decodeCounts(*meta)
		if len(cs) == 0 {
			return
		}
		c.mu.Lock()
		p := c.parts[idx]
		c.mu.Unlock()
		if p != nil {
			p.setPrior(cs.after(offset - 1))
		}
	}
	// The client consumes one topic, so every partition listed is ours
	// (v10 responses name topics by id only).
	for _, t := range resp.Topics {
		for _, pt := range t.Partitions {
			set(pt.Partition, pt.Offset, pt.Metadata)
		}
	}
	for _, g := range resp.Groups {
		for _, t := range g.Topics {
			for _, pt := range t.Partitions {
				set(pt.Partition, pt.Offset, pt.Metadata)
			}
		}
	}
	return nil
}

// revoked stops the partitions the group takes away: their handler calls
// finish and what they settled is committed before the callback returns.
func (c *consumer) revoked(_ context.Context, _ *kgo.Client, revoked map[string][]int32) {
	if parts := c.take(revoked[c.kTopic]); len(parts) > 0 {
		c.log.Debug("partitions revoked", "partitions", revoked[c.kTopic])
		c.stop(parts, true)
	}
}

// lost stops partitions that the group already gave to somebody else:
// committing for them would fail, so nothing is committed.
func (c *consumer) lost(_ context.Context, _ *kgo.Client, lost map[string][]int32) {
	if parts := c.take(lost[c.kTopic]); len(parts) > 0 {
		c.log.Warn("partitions lost; their unsettled records will be delivered again", "partitions", lost[c.kTopic])
		c.stop(parts, false)
	}
}

// take removes the partitions idx from the running ones.
func (c *consumer) take(idx []int32) []*partition {
	c.mu.Lock()
	defer c.mu.Unlock()
	var parts []*partition
	for _, i := range idx {
		if p := c.parts[i]; p != nil {
			parts = append(parts, p)
			delete(c.parts, i)
		}
	}
	return parts
}

// stop halts parts: their handler calls return, the copies they are
// producing are stored, and, when commit is set, their settled offsets are
// committed. A stopped partition commits nothing more.
func (c *consumer) stop(parts []*partition, commit bool) {
	var wg sync.WaitGroup
	for _, p := range parts {
		wg.Go(p.halt)
	}
	wg.Wait()
	if commit {
		ctx, cancel := context.WithTimeout(context.Background(), stopTimeout)
		defer cancel()
		for p, err := range c.commit(ctx, parts, true) {
			if err != nil {
				c.log.Warn("final commit failed; records settled since the last commit will be delivered again",
					"partition", p.index, "err", err)
			}
		}
	} else {
		c.commitMu.Lock()
		for _, p := range parts {
			p.markStopped()
		}
		c.commitMu.Unlock()
	}
	c.cl.ResumeFetchPartitions(map[string][]int32{c.kTopic: indexes(parts)})
}

func indexes(parts []*partition) []int32 {
	out := make([]int32, len(parts))
	for i, p := range parts {
		out[i] = p.index
	}
	return out
}

// requestCommit asks the commit loop to commit p's state. With wait it
// returns a channel that gets the result of a commit that read p's state
// after the request.
func (c *consumer) requestCommit(p *partition, wait bool) <-chan error {
	var ch chan error
	c.cmu.Lock()
	if c.requests == nil {
		c.requests = make(map[*partition]bool)
	}
	c.requests[p] = true
	if wait {
		ch = make(chan error, 1)
		c.waiters[p] = append(c.waiters[p], ch)
	}
	c.cmu.Unlock()
	select {
	case c.kick <- struct{}{}:
	default:
	}
	return ch
}

// commitLoop commits the partitions asked for, many in one request: while a
// commit is in flight, new requests gather for the next one.
func (c *consumer) commitLoop() {
	defer close(c.loopEnd)
	for {
		select {
		case <-c.loopStop:
			c.cmu.Lock()
			for _, ws := range c.waiters {
				for _, w := range ws {
					w <- errStopped
				}
			}
			clear(c.waiters)
			c.cmu.Unlock()
			return
		case <-c.kick:
		}
		c.cmu.Lock()
		requests, waiters := c.requests, c.waiters
		c.requests, c.waiters = nil, make(map[*partition][]chan error)
		c.cmu.Unlock()
		if len(requests) == 0 {
			continue
		}
		parts := make([]*partition, 0, len(requests))
		for p := range requests {
			parts = append(parts, p)
		}
		ctx, cancel := context.WithTimeout(context.Background(), settleTimeout)
		results := c.commit(ctx, parts, false)
		cancel()
		for p, ws := range waiters {
			for _, w := range ws {
				w <- results[p]
			}
		}
	}
}

// commit commits the settled offset and the delivery counts of parts in one
// request and returns the outcome per partition. With final it is the last
// commit of parts, which then commit nothing more.
func (c *consumer) commit(ctx context.Context, parts []*partition, final bool) map[*partition]error {
	c.commitMu.Lock()
	defer c.commitMu.Unlock()
	results := make(map[*partition]error, len(parts))
	offsets := make(map[int32]kgo.EpochOffset, len(parts))
	metas := make(map[int32]string, len(parts))
	byIndex := make(map[int32]*partition, len(parts))
	for _, p := range parts {
		offset, meta, changed, ok := p.commitState(final)
		if !ok {
			results[p] = errStopped
			continue
		}
		results[p] = nil
		if changed {
			offsets[p.index] = kgo.EpochOffset{Epoch: -1, Offset: offset}
			metas[p.index] = meta
			byIndex[p.index] = p
		}
	}
	if len(offsets) > 0 {
		ctx = kgo.PreCommitFnContext(ctx, func(req *kmsg.OffsetCommitRequest) error {
			for i := range req.Topics {
				for j := range req.Topics[i].Partitions {
					pt := &req.Topics[i].Partitions[j]
					if m, ok := metas[pt.Partition]; ok {
						pt.Metadata = &m
					}
				}
			}
			return nil
		})
		c.cl.CommitOffsetsSync(ctx, map[string]map[int32]kgo.EpochOffset{c.kTopic: offsets},
			func(_ *kgo.Client, _ *kmsg.OffsetCommitRequest, resp *kmsg.OffsetCommitResponse, err error) {
				if err != nil {
					for _, p := range byIndex {
						results[p] = err
					}
					return
				}
				for _, t := range resp.Topics {
					for _, pt := range t.Partitions {
						if p := byIndex[pt.Partition]; p != nil {
							results[p] = kerr.ErrorForCode(pt.ErrorCode)
						}
					}
				}
			})
		for idx, p := range byIndex {
			if results[p] == nil {
				p.committed(offsets[idx].Offset, metas[idx])
			}
		}
	}
	if final {
		for _, p := range parts {
			p.markStopped()
		}
	}
	return results
}
