package push

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/herald/herald/internal/channel"
	"github.com/herald/herald/internal/channel/sentlog"
	"github.com/herald/herald/internal/store"
)

// Config configures a Fanout.
type Config struct {
	// Name is the channel's name ("mobile", "webpush").
	Name string
	// Senders are the configured providers by platform; devices on other
	// platforms are not looked up.
	Senders map[store.Platform]Sender
	// Store holds the devices and the per-device delivery records.
	Store store.Store
	// Workers bounds the sends in flight across all providers of the
	// channel; 0 means DefaultWorkers. Each provider bounds its own share
	// too. At most 2 x Workers sends are in flight or waiting for their
	// record at any moment, which bounds what a crash repeats.
	Workers int
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Log receives warnings; nil discards them.
	Log *slog.Logger
	// Retention is how long per-device delivery records are kept; they
	// only matter while an event may still be retried. 0 means 7 days.
	Retention time.Duration
}

// DefaultWorkers is Config.Workers's default.
const DefaultWorkers = 256

// Pruning of per-device delivery records: at most once a minute, in
// chunks, about twice as many as were added since the last time, so the
// table stays bounded without a long write lock.
const (
	pruneEvery = time.Minute
	pruneChunk = 10_000
)

// Fanout is a channel.Channel that delivers each (event, person) job to
// every active device the person has on the configured platforms.
//
// Per person, the outcome is:
//   - delivered when every device that can still be reached has the event
//     (now or on an earlier attempt); a device retired on the way does not
//     count against it, and neither does a device that failed permanently
//     (413, say) as long as another device got the event;
//   - a retry (the largest Retry-After any device asked for) while any
//     device failed in a way worth retrying, or its send panicked; the
//     devices that already have the event are skipped on the retry, so no
//     device gets it twice;
//   - permanent when no device got it and some failed permanently;
//   - unreachable (wrapping channel.ErrNoAddress) when the person has no
//     active device, or when every device was retired just now, with the
//     providers' reasons.
//
// Each device a provider accepted the event for is recorded at once, in
// group commits shared by every call (package sentlog), not per stage; and
// at most 2 x Workers sends are in flight or unrecorded at any moment, so
// a crash repeats at most that many.
type Fanout struct {
	cfg       Config
	platforms []store.Platform
	log       *slog.Logger
	sent      *sentlog.Recorder

	pruning   sync.Mutex
	lastPrune time.Time
	added     atomic.Int64
}

var _ channel.Channel = (*Fanout)(nil)

// New returns a Fanout; it needs a store and at least one sender.
func New(cfg Config) (*Fanout, error) {
	if cfg.Store == nil {
		return nil, errors.New("push: a store is required")
	}
	if len(cfg.Senders) == 0 {
		return nil, fmt.Errorf("push: channel %s has no provider configured", cfg.Name)
	}
	if cfg.Workers <= 0 {
		cfg.Workers = DefaultWorkers
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Retention <= 0 {
		cfg.Retention = 7 * 24 * time.Hour
	}
	log := cfg.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	log = log.With("component", "channel", "channel", cfg.Name)
	f := &Fanout{cfg: cfg, log: log, sent: sentlog.New(sentlog.Config{Store: cfg.Store, Log: log, What: "devices", Max: 2 * cfg.Workers})}
	for p := range cfg.Senders {
		f.platforms = append(f.platforms, p)
	}
	slices.Sort(f.platforms)
	return f, nil
}

// Name is the channel's name.
func (f *Fanout) Name() string { return f.cfg.Name }

// Reachable implements channel.Addresser: people with an active device on
// the channel's platforms.
func (f *Fanout) Reachable(ctx context.Context, users []string) (map[string]bool, string, error) {
	ds, err := f.cfg.Store.DevicesFor(ctx, users, f.platforms...)
	if err != nil {
		return nil, "", fmt.Errorf("push: look up devices: %w", err)
	}
	out := make(map[string]bool, len(ds))
	for _, d := range ds {
		out[d.UserID] = true
	}
	return out, "no active device on " + f.platformList() + ": " + channel.ErrNoAddress.Error(), nil
}

// task is one (job, device) send.
type task struct {
	job int
	msg Message
	err error
	// skipped marks a device that already had the event.
	skipped bool
	// done is its stage's count of sends under way.
	done *sync.WaitGroup
}

// stageJobs is how many jobs one pipeline stage handles: the next stage's
// store lookups run while this one's messages are sent, and its verdicts
// and retirements are settled while the next one's are sent. (Sends are
// recorded one by one as they succeed, not per stage.)
const stageJobs = 1000

// stage is a slice of a Deliver call's jobs going through the pipeline.
type stage struct {
	jobs  []int // indices into the call's jobs
	tasks []task
	err   error // the store lookups failed: every job of the stage retries
	sends sync.WaitGroup
}

// Deliver sends every job to its person's devices and returns one result
// per job. Large calls are pipelined in stages of stageJobs: looking up
// devices, sending, and recording overlap.
func (f *Fanout) Deliver(ctx context.Context, jobs []channel.Job) []channel.Result {
	results := make([]channel.Result, len(jobs))
	if len(jobs) == 0 {
		return results
	}
	// A job repeated in one call is sent once and shares the first's result.
	type jobKey struct{ event, user string }
	first := make(map[jobKey]int, len(jobs))
	dup := map[int]int{}
	uniq := make([]int, 0, len(jobs))
	for i, j := range jobs {
		k := jobKey{j.Event.ID, j.UserID}
		if at, ok := first[k]; ok {
			dup[i] = at
			continue
		}
		first[k] = i
		uniq = append(uniq, i)
	}

	// Stages are prepared one ahead; their sends share one pool of
	// workers, so no worker idles at a stage's end; each stage is settled,
	// in order, once all its sends are done.
	prepared := make(chan *stage, 1)
	queued := make(chan *stage, 4)
	todo := make(chan *task)
	var wg sync.WaitGroup
	wg.Go(func() {
		defer close(prepared)
		for lo := 0; lo < len(uniq); lo += stageJobs {
			st := &stage{jobs: uniq[lo:min(lo+stageJobs, len(uniq))]}
			// A panic here fails the stage's jobs (retried), not the process.
			st.err = channel.Contain(f.log, jobs[st.jobs[0]].Event.ID, "device lookup", func() (err error) {
				st.tasks, err = f.prepare(ctx, jobs, st.jobs)
				return err
			})
			prepared <- st
		}
	})
	for range min(f.cfg.Workers, len(uniq)*len(f.platforms)+1) {
		wg.Go(func() {
			for t := range todo {
				f.send(ctx, t)
				t.done.Done()
			}
		})
	}
	wg.Go(func() {
		for st := range queued {
			st.sends.Wait()
			if st.err == nil {
				// Retire what the providers gave up on even when ctx ended.
				// A panic while retiring is logged; the verdicts stand.
				_ = channel.Contain(f.log, jobs[st.jobs[0]].Event.ID, "device retirement", func() error {
					f.settle(context.WithoutCancel(ctx), st.tasks)
					return nil
				})
			}
			f.verdicts(jobs, st, results)
		}
	})
	for st := range prepared {
		for i := range st.tasks {
			if t := &st.tasks[i]; !t.skipped {
				t.done = &st.sends
				st.sends.Add(1)
				todo <- t
			}
		}
		queued <- st
	}
	close(todo)
	close(queued)
	wg.Wait()
	// What did get through is recorded (even when ctx ended, so that a
	// redelivered batch skips it) before the results say so.
	f.sent.Flush()
	if err := ctx.Err(); err != nil {
		for i := range results {
			results[i].Err = err
		}
		return results
	}
	for i, at := range dup {
		results[i] = results[at]
	}
	return results
}

// send makes one task's send and records the device at once when the
// provider accepted it; it waits first if too many sends are unrecorded
// (see package sentlog). A panic in the provider's client fails this task
// only (retried with the job), not the process.
func (f *Fanout) send(ctx context.Context, t *task) {
	if err := ctx.Err(); err != nil {
		t.err = err
		return
	}
	if err := f.sent.Acquire(ctx); err != nil {
		t.err = err
		return
	}
	defer f.sent.Release()
	t.err = channel.Contain(f.log, t.msg.Event.ID, t.msg.Device.ID, func() error {
		return f.cfg.Senders[t.msg.Device.Platform].Send(ctx, t.msg)
	})
	if t.err == nil {
		f.sent.Add(store.DeviceDelivery{EventID: t.msg.Event.ID, DeviceID: t.msg.Device.ID, At: f.cfg.Now()})
		f.added.Add(1)
	}
}

// prepare looks up the devices of the jobs at idx and which of them
// already have their event, and returns the sends to make.
func (f *Fanout) prepare(ctx context.Context, jobs []channel.Job, idx []int) ([]task, error) {
	users := make([]string, 0, len(idx))
	seen := make(map[string]bool, len(idx))
	for _, i := range idx {
		if u := jobs[i].UserID; !seen[u] {
			seen[u] = true
			users = append(users, u)
		}
	}
	devices, err := f.cfg.Store.DevicesFor(ctx, users, f.platforms...)
	if err != nil {
		return nil, fmt.Errorf("look up devices: %w", err)
	}
	byUser := make(map[string][]store.Device, len(users))
	for _, d := range devices {
		byUser[d.UserID] = append(byUser[d.UserID], d)
	}
	tasks := make([]task, 0, len(devices))
	keys := make([]store.DeviceDeliveryKey, 0, len(devices))
	for _, i := range idx {
		j := jobs[i]
		for _, d := range byUser[j.UserID] {
			tasks = append(tasks, task{job: i, msg: Message{Event: j.Event, Device: d, ID: MessageID(j.Event.ID, d.ID), Attempt: j.Attempt}})
			keys = append(keys, store.DeviceDeliveryKey{EventID: j.Event.ID, DeviceID: d.ID})
		}
	}
	if len(tasks) == 0 {
		return tasks, nil
	}
	done, err := f.cfg.Store.DeviceDelivered(ctx, keys)
	if err != nil {
		return nil, fmt.Errorf("look up device deliveries: %w", err)
	}
	for i := range tasks {
		tasks[i].skipped = done[keys[i]]
	}
	return tasks, nil
}

// verdicts sets the result of each job of a stage from its devices'.
func (f *Fanout) verdicts(jobs []channel.Job, st *stage, results []channel.Result) {
	if st.err != nil {
		for _, i := range st.jobs {
			results[i].Err = st.err
		}
		return
	}
	type tally struct {
		delivered, retired int
		reasons            []string
		retryErr           error
		wait               time.Duration
		permErr            error
	}
	tallies := make(map[int]*tally, len(st.jobs))
	for _, i := range st.jobs {
		tallies[i] = &tally{}
	}
	for _, t := range st.tasks {
		tl := tallies[t.job]
		switch reason, retired := IsRetire(t.err); {
		case t.skipped || t.err == nil:
			tl.delivered++
		case retired:
			tl.retired++
			tl.reasons = append(tl.reasons, fmt.Sprintf("%s device %s retired: %s", t.msg.Device.Platform, t.msg.Device.ID, reason))
		case channel.IsPermanent(t.err):
			tl.permErr = fmt.Errorf("%s device %s: %w", t.msg.Device.Platform, t.msg.Device.ID, t.err)
		default:
			var ra *channel.RetryAfterError
			if errors.As(t.err, &ra) && ra.After > tl.wait {
				tl.wait = ra.After
			}
			tl.retryErr = fmt.Errorf("%s device %s: %w", t.msg.Device.Platform, t.msg.Device.ID, t.err)
		}
	}
	for _, i := range st.jobs {
		tl := tallies[i]
		switch {
		case tl.retryErr != nil:
			if tl.wait > 0 {
				results[i].Err = channel.RetryAfter(tl.wait, tl.retryErr)
			} else {
				results[i].Err = tl.retryErr
			}
		case tl.delivered > 0:
			results[i].Err = nil
		case tl.permErr != nil:
			results[i].Err = channel.Permanent(tl.permErr)
		case tl.retired > 0:
			results[i].Err = fmt.Errorf("%w: every device was retired (%s)", channel.ErrNoAddress, strings.Join(tl.reasons, "; "))
		default:
			results[i].Err = fmt.Errorf("%w: %s has no active %s device", channel.ErrNoAddress, jobs[i].UserID, f.platformList())
		}
	}
}

func (f *Fanout) platformList() string {
	s := make([]string, len(f.platforms))
	for i, p := range f.platforms {
		s[i] = string(p)
	}
	return strings.Join(s, " or ")
}

// settle retires the devices a provider gave up on, and prunes old
// delivery records when that is due.
func (f *Fanout) settle(ctx context.Context, tasks []task) {
	now := f.cfg.Now()
	retire := map[string]string{}
	for _, t := range tasks {
		if t.skipped || t.err == nil {
			continue
		}
		if reason, ok := IsRetire(t.err); ok {
			if _, dup := retire[t.msg.Device.ID]; !dup {
				retire[t.msg.Device.ID] = reason
			}
		}
	}
	f.prune(ctx, now)
	ids := make([]string, 0, len(retire))
	for id := range retire {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		if err := f.cfg.Store.RetireDevice(ctx, id, retire[id], now); err != nil && !errors.Is(err, store.ErrNotFound) {
			f.log.Error("retiring a device failed", "device", id, "reason", retire[id], "err", err)
		}
	}
}

// prune deletes per-device delivery records older than the retention,
// when it is due and no other call is pruning.
func (f *Fanout) prune(ctx context.Context, now time.Time) {
	if !f.pruning.TryLock() {
		return
	}
	defer f.pruning.Unlock()
	if now.Sub(f.lastPrune) < pruneEvery {
		return
	}
	f.lastPrune = now
	budget := max(pruneChunk, 2*int(f.added.Swap(0)))
	for budget > 0 {
		n, err := f.cfg.Store.PruneDeviceDeliveries(ctx, now.Add(-f.cfg.Retention), min(budget, pruneChunk))
		if err != nil {
			f.log.Warn("pruning old device delivery records failed; will try again", "err", err)
			return
		}
		budget -= n
		if n < pruneChunk {
			return
		}
	}
}
