// Package conversation is the "conversation" channel: it sends a
// notification into every conversation a person has with the assistant
// (Teams, Web Chat through herald's own Direct Line, any Bot Framework
// channel), using the conversation references the assistant stored, as an
// Adaptive Card with suggested actions. It keeps to Teams' rate limits per
// conversation and per tenant, retries what the Connector asks to retry,
// and retires a reference the bot can no longer write to. Each (event,
// conversation) is recorded once sent, so a retried job never writes twice
// into the same conversation.
package conversation

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/herald/herald/internal/activity"
	"github.com/herald/herald/internal/channel"
	"github.com/herald/herald/internal/channel/sentlog"
	"github.com/herald/herald/internal/connector"
	"github.com/herald/herald/internal/netguard"
	"github.com/herald/herald/internal/prefs"
	"github.com/herald/herald/internal/store"
)

// Name is the channel's name.
const Name = prefs.Conversation

// Sender writes an activity into a stored conversation and returns the id
// the channel gave it. Errors are *connector.Error when the channel
// answered, anything else for a failure to reach it.
type Sender interface {
	Send(ctx context.Context, ref store.ConversationRef, a activity.Activity) (string, error)
}

// ConnectorSender sends through the Bot Connector API at the reference's
// serviceUrl.
type ConnectorSender struct{ Client *connector.Client }

// Send implements Sender.
func (s ConnectorSender) Send(ctx context.Context, ref store.ConversationRef, a activity.Activity) (string, error) {
	return s.Client.SendToConversation(ctx, ref.ServiceURL, ref.ConversationID, a)
}

// Router sends into herald's own Direct Line conversations in process and
// into every other conversation through the Connector.
type Router struct {
	// Connector sends into conversations of other channels.
	Connector Sender
	// Local sends into conversations for which IsLocal is true: those of
	// herald's own Direct Line.
	Local   Sender
	IsLocal func(ctx context.Context, ref store.ConversationRef) bool
}

// Send implements Sender.
func (r Router) Send(ctx context.Context, ref store.ConversationRef, a activity.Activity) (string, error) {
	if r.Local != nil && r.IsLocal != nil && r.IsLocal(ctx, ref) {
		return r.Local.Send(ctx, ref, a)
	}
	if r.Connector == nil {
		return "", channel.Permanent(fmt.Errorf("no Connector configured for service URL %s", ref.ServiceURL))
	}
	return r.Connector.Send(ctx, ref, a)
}

// DefaultMaxWait is the longest a send waits for the rate limits inside
// one delivery call. The hub's AckWait must be well above it, or a batch
// still being sent is handed to another worker.
const DefaultMaxWait = 5 * time.Second

// DefaultWorkers is Config.Workers's default.
const DefaultWorkers = 64

// Config configures the channel.
type Config struct {
	// Store holds the conversation references and the sent records.
	Store store.Store
	// Sender writes into conversations, usually a Router.
	Sender Sender
	// Limits are the rates kept to; zero means Teams' defaults.
	Limits Limits
	// MaxWait is the longest a send waits for the limits inside one
	// delivery call; longer waits postpone the job. 0 means 5 s.
	MaxWait time.Duration
	// Workers bounds sends in flight; 0 means DefaultWorkers. At most
	// 2 x Workers sends are in flight or waiting for their record at any
	// moment, which bounds what a crash repeats.
	Workers int
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Log receives retirements; nil discards them.
	Log *slog.Logger
}

// Channel is the conversation channel.
type Channel struct {
	cfg    Config
	limits *limiters
	log    *slog.Logger
	sent   *sentlog.Recorder
}

var _ channel.Channel = (*Channel)(nil)

// New returns the channel.
func New(cfg Config) (*Channel, error) {
	if cfg.Store == nil {
		return nil, errors.New("conversation: a store is required")
	}
	if cfg.Sender == nil {
		return nil, errors.New("conversation: no sender configured")
	}
	if cfg.MaxWait <= 0 {
		cfg.MaxWait = DefaultMaxWait
	}
	if cfg.Workers <= 0 {
		cfg.Workers = DefaultWorkers
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	log := cfg.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	log = log.With("component", "channel", "channel", Name)
	// A crash repeats at most 2 x Workers sends (see package sentlog).
	sent := sentlog.New(sentlog.Config{Store: cfg.Store, Log: log, What: "conversations", Max: 2 * cfg.Workers})
	return &Channel{cfg: cfg, limits: newLimiters(cfg.Limits), log: log, sent: sent}, nil
}

// Name is the channel's name.
func (c *Channel) Name() string { return Name }

// Limits are the rates the channel keeps to, defaults filled in.
func (c *Channel) Limits() Limits { return c.limits.limits }

// Reachable implements channel.Addresser: people with an active stored
// conversation.
func (c *Channel) Reachable(ctx context.Context, users []string) (map[string]bool, string, error) {
	refs, err := c.cfg.Store.ConversationRefs(ctx, users)
	if err != nil {
		return nil, "", fmt.Errorf("conversation: look up conversations: %w", err)
	}
	out := make(map[string]bool, len(refs))
	for _, r := range refs {
		out[r.UserID] = true
	}
	return out, "no stored conversation with the assistant: " + channel.ErrNoAddress.Error(), nil
}

// send is one (job, conversation) write.
type send struct {
	job int
	ref store.ConversationRef
	err error
	// skipped marks a conversation that already has the event.
	skipped bool
	// postponed is the wait the limits asked for beyond MaxWait.
	postponed time.Duration
}

// Deliver sends every job into each of its person's active conversations.
//
// Per person, the outcome is delivered when every conversation still usable
// has the notification; postponed when the limits hold a send back longer
// than MaxWait; a retry (with the longest Retry-After) when a send failed
// in a way worth retrying; unreachable (channel.ErrNoAddress) when the
// person has no active conversation or every one was just retired; and
// permanent when the channel refused the message itself.
func (c *Channel) Deliver(ctx context.Context, jobs []channel.Job) []channel.Result {
	results := make([]channel.Result, len(jobs))
	if len(jobs) == 0 {
		return results
	}
	sends, err := c.plan(ctx, jobs)
	if err != nil {
		for i := range results {
			results[i].Err = err
		}
		return results
	}
	c.run(ctx, jobs, sends)
	// What was sent is recorded before the results say so.
	c.sent.Flush()
	c.verdicts(ctx, jobs, sends, results)
	return results
}

// plan looks up the people's conversations and what they already have.
func (c *Channel) plan(ctx context.Context, jobs []channel.Job) ([]send, error) {
	users := make([]string, 0, len(jobs))
	seen := map[string]bool{}
	for _, j := range jobs {
		if !seen[j.UserID] {
			seen[j.UserID] = true
			users = append(users, j.UserID)
		}
	}
	refs, err := c.cfg.Store.ConversationRefs(ctx, users)
	if err != nil {
		return nil, fmt.Errorf("conversation: look up conversations: %w", err)
	}
	byUser := map[string][]store.ConversationRef{}
	for _, r := range refs {
		byUser[r.UserID] = append(byUser[r.UserID], r)
	}
	var sends []send
	var keys []store.DeviceDeliveryKey
	for i, j := range jobs {
		for _, r := range byUser[j.UserID] {
			sends = append(sends, send{job: i, ref: r})
			keys = append(keys, store.DeviceDeliveryKey{EventID: j.Event.ID, DeviceID: r.ID})
		}
	}
	done, err := c.cfg.Store.DeviceDelivered(ctx, keys)
	if err != nil {
		return nil, fmt.Errorf("conversation: read sent records: %w", err)
	}
	for i, k := range keys {
		sends[i].skipped = done[k]
	}
	return sends, nil
}

// run performs the sends with at most Workers in flight.
func (c *Channel) run(ctx context.Context, jobs []channel.Job, sends []send) {
	sem := make(chan struct{}, c.cfg.Workers)
	var wg sync.WaitGroup
	for i := range sends {
		s := &sends[i]
		if s.skipped {
			continue
		}
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			s.err = ctx.Err()
			continue
		}
		wg.Go(func() {
			defer func() { <-sem }()
			j := jobs[s.job]
			if err := channel.Contain(c.log, j.Event.ID, s.ref.ID, func() error { c.sendOne(ctx, j, s); return nil }); err != nil {
				s.err = err
			}
		})
	}
	wg.Wait()
}

func (c *Channel) sendOne(ctx context.Context, j channel.Job, s *send) {
	now := c.cfg.Now()
	r := c.limits.reserve(s.ref.ChannelID+"\x00"+s.ref.ConversationID, s.ref.TenantID, now)
	if d := r.delay(now); d > c.cfg.MaxWait {
		r.cancel(now)
		s.postponed = d
		return
	} else if d > 0 {
		t := time.NewTimer(d)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			r.cancel(c.cfg.Now())
			s.err = ctx.Err()
			return
		}
	}
	// The conversation is recorded as soon as the Connector accepted the
	// message, and the send waits if too many are unrecorded (see package
	// sentlog): a crash repeats few.
	if err := c.sent.Acquire(ctx); err != nil {
		r.cancel(c.cfg.Now())
		s.err = err
		return
	}
	defer c.sent.Release()
	if _, s.err = c.cfg.Sender.Send(ctx, s.ref, Render(j.Event, s.ref)); s.err == nil {
		c.sent.Add(store.DeviceDelivery{EventID: j.Event.ID, DeviceID: s.ref.ID, At: c.cfg.Now()})
	}
}

// verdicts turns each job's sends into its result, retiring references the
// channel said are gone.
func (c *Channel) verdicts(ctx context.Context, jobs []channel.Job, sends []send, results []channel.Result) {
	type tally struct {
		refs, delivered, retired  int
		postpone, retryAfter      time.Duration
		retry, permanent, retires []string
	}
	tallies := make([]tally, len(jobs))
	now := c.cfg.Now()
	for _, s := range sends {
		t := &tallies[s.job]
		t.refs++
		switch {
		case s.skipped || (s.err == nil && s.postponed == 0):
			t.delivered++
		case s.postponed > 0:
			t.postpone = max(t.postpone, s.postponed)
		default:
			ce, ok := connector.AsError(s.err)
			switch {
			case ok && ce.Gone():
				reason := fmt.Sprintf("%d %s", ce.Status, firstNonEmpty(ce.SubCode, ce.Code, "gone"))
				if err := c.cfg.Store.RetireConversationRef(context.WithoutCancel(ctx), s.ref.ID, reason, now); err != nil {
					c.log.Error("retiring a conversation failed", "ref", s.ref.ID, "err", err)
				} else {
					c.log.Info("conversation retired", "user", s.ref.UserID, "channel_id", s.ref.ChannelID, "reason", reason)
				}
				t.retired++
				t.retires = append(t.retires, s.ref.ChannelID+": "+reason)
			case errors.Is(s.err, netguard.ErrRefused):
				// A serviceUrl inside herald's network: never a channel.
				reason := "serviceUrl address not allowed"
				if err := c.cfg.Store.RetireConversationRef(context.WithoutCancel(ctx), s.ref.ID, reason, now); err != nil {
					c.log.Error("retiring a conversation failed", "ref", s.ref.ID, "err", err)
				}
				t.retired++
				t.retires = append(t.retires, s.ref.ChannelID+": "+reason)
			case ok && !ce.Retryable(), channel.IsPermanent(s.err):
				t.permanent = append(t.permanent, s.err.Error())
			default:
				if ok {
					t.retryAfter = max(t.retryAfter, ce.RetryAfter)
				}
				t.retry = append(t.retry, s.err.Error())
			}
		}
	}
	for i, t := range tallies {
		switch {
		case t.refs == 0:
			results[i].Err = fmt.Errorf("no stored conversation with the assistant: %w", channel.ErrNoAddress)
		case len(t.retry) > 0:
			err := errors.New(strings.Join(t.retry, "; "))
			if t.retryAfter > 0 {
				err = channel.RetryAfter(t.retryAfter, err)
			}
			results[i].Err = err
		case t.postpone > 0:
			results[i].Err = channel.Postpone(t.postpone, "waiting for the conversation rate limits")
		case t.delivered > 0:
			results[i].Err = nil
		case len(t.permanent) > 0:
			results[i].Err = channel.Permanent(errors.New(strings.Join(t.permanent, "; ")))
		default: // every conversation was retired just now
			results[i].Err = fmt.Errorf("every conversation was retired (%s): %w", strings.Join(t.retires, "; "), channel.ErrNoAddress)
		}
	}
}
