// Package app assembles one herald process from its parts (store, hub,
// channels, handler, delivery workers, HTTP API) and runs them with a
// two-phase shutdown: stop taking work, drain what is in flight, then close.
// It is what `herald serve` and `herald bench` run, and what integration
// tests start.
package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"slices"
	"strings"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/herald/herald/internal/auth"
	"github.com/herald/herald/internal/channel"
	"github.com/herald/herald/internal/channel/conversation"
	"github.com/herald/herald/internal/delivery"
	"github.com/herald/herald/internal/directline"
	"github.com/herald/herald/internal/handler"
	"github.com/herald/herald/internal/httpapi"
	"github.com/herald/herald/internal/hub"
	"github.com/herald/herald/internal/ingest"
	"github.com/herald/herald/internal/live"
	"github.com/herald/herald/internal/metrics"
	"github.com/herald/herald/internal/netguard"
	"github.com/herald/herald/internal/store"
	"github.com/herald/herald/internal/web"
)

// Options configure a process. The zero value of every field but DataDir
// means its default.
type Options struct {
	// DataDir holds the embedded hub's and the SQLite store's files.
	DataDir string
	// Store picks the store: "" or "sqlite" for SQLite under DataDir, or a
	// postgres:// URL (see OpenStore).
	Store string
	// Addr is the HTTP listen address; ":8080" by default.
	Addr string
	// Partitions is the hub's partition count.
	Partitions int
	// MaxAttempts bounds retries of events and deliveries before they are
	// dead-lettered.
	MaxAttempts int
	// MaxAge dead-letters a delivery still failing this long after its
	// event was received, whatever attempts are left; 0 means no limit.
	MaxAge time.Duration
	// BatchSize is the most messages a worker handles at once.
	BatchSize int
	// AckWait is how long a batch may stay unsettled before the hub hands
	// it to another worker (a worker that died mid-batch); 0 means 30s.
	AckWait time.Duration
	// Ingest bounds request sizes.
	Ingest ingest.Config
	// Hub picks the event hub; the zero value is the embedded one.
	Hub HubOptions
	// SyncAlways makes the hub and the store flush to disk on every write,
	// surviving power loss at a large cost in throughput.
	SyncAlways bool
	// BroadcastChunk is how many people a broadcast visits per store
	// transaction (tests make it small).
	BroadcastChunk int
	// ShutdownTimeout bounds the drain on shutdown.
	ShutdownTimeout time.Duration
	// Push configures the mobile and webpush channels (see PushOptions).
	Push PushOptions
	// SessionSecret signs user sessions (the web app's notification
	// center); empty means a random one, so sessions are accepted by this
	// process only. Processes serving the same people share it.
	SessionSecret string
	// Conversation configures the conversation channel, the assistant and
	// Direct Line (see ConversationOptions).
	Conversation ConversationOptions
	// OutboundAllow lists address ranges (CIDR) that outbound requests to
	// addresses from input (Web Push endpoints, Bot Framework serviceUrls)
	// may reach although they are internal (loopback, private,
	// link-local); by default they may not.
	OutboundAllow []string
	// Timing configures digests, escalation, templates and the timer loop
	// (see TimingOptions).
	Timing TimingOptions
	// Roles are the parts this process runs: RoleAPI, RoleHandler,
	// RoleDelivery; empty means all. Processes share the hub's partitions
	// through its consumer groups, so handler and delivery processes scale
	// out by starting more of them.
	Roles []string
	// SourcesDir holds the upstream adapters' definitions (*.yaml), served
	// at POST /v1/sources/{name}; empty means none. Their secrets are read
	// at Open, which fails on any problem.
	SourcesDir string
	// Logger receives structured logs; nil discards them.
	Logger *slog.Logger
}

// The roles a process can run.
const (
	// RoleAPI serves the HTTP API, the assistant and Direct Line.
	RoleAPI = "api"
	// RoleHandler consumes events and runs broadcasts.
	RoleHandler = "handler"
	// RoleDelivery runs the channel workers.
	RoleDelivery = "delivery"
)

// AllRoles are every role, the default.
var AllRoles = []string{RoleAPI, RoleHandler, RoleDelivery}

// checkRoles validates roles and returns them as a set (all when empty).
func checkRoles(roles []string) (map[string]bool, error) {
	if len(roles) == 0 {
		roles = AllRoles
	}
	set := map[string]bool{}
	for _, r := range roles {
		r = strings.TrimSpace(r)
		if !slices.Contains(AllRoles, r) {
			return nil, fmt.Errorf("unknown role %q: roles are %s", r, strings.Join(AllRoles, ", "))
		}
		set[r] = true
	}
	return set, nil
}

// streamPoll is how often live streams read the inbox: only in an api
// process without the handler role, which hears of no delivery itself.
func streamPoll(roles map[string]bool) time.Duration {
	if roles[RoleAPI] && !roles[RoleHandler] {
		return 250 * time.Millisecond
	}
	return 0
}

// App is a running herald process.
type App struct {
	opts     Options
	log      *slog.Logger
	Store    store.Store
	Hub      hub.Hub
	Broker   *live.Broker
	Metrics  *metrics.Metrics
	API      *httpapi.API
	handler  *handler.Handler
	worker   *delivery.Worker
	listener net.Listener
	// conv holds the conversation channel's parts; Direct Line's
	// WebSockets are ended on shutdown.
	conv *conversationParts
	// roles are the parts this process runs.
	roles map[string]bool
}

// Open opens the store and the hub and builds every component; nothing runs
// until Run.
func Open(ctx context.Context, opts Options) (*App, error) {
	if opts.DataDir == "" {
		return nil, errors.New("app: a data directory is required")
	}
	if opts.Addr == "" {
		opts.Addr = ":8080"
	}
	if opts.ShutdownTimeout <= 0 {
		opts.ShutdownTimeout = 30 * time.Second
	}
	roles, err := checkRoles(opts.Roles)
	if err != nil {
		return nil, err
	}
	if mode := opts.Conversation.Mode; (mode == "" || mode == ConversationBuiltin) && opts.AckWait > 0 && opts.AckWait < 2*conversation.DefaultMaxWait {
		return nil, fmt.Errorf("--ack-wait %s is too short: the conversation channel may wait %s for its rate limits inside one batch; use at least %s",
			opts.AckWait, conversation.DefaultMaxWait, 2*conversation.DefaultMaxWait)
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	sources, err := loadSources(opts.SourcesDir, log)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(opts.DataDir, 0o750); err != nil {
		return nil, fmt.Errorf("create data directory: %w", err)
	}
	a := &App{opts: opts, log: log, Broker: live.NewBroker(256), Metrics: metrics.New(), roles: roles}
	st, err := OpenStore(ctx, opts)
	if err != nil {
		return nil, err
	}
	a.Store = st
	h, err := openHub(ctx, opts, log)
	if err != nil {
		st.Close()
		return nil, fmt.Errorf("open the hub: %w", err)
	}
	a.Hub = h
	// The inbox is delivered by the handler itself, in the same store
	// transaction as the plan; this registry holds the channels reached
	// through providers (conversation, mobile, webpush) as they land.
	guard, err := netguard.New(opts.OutboundAllow)
	if err != nil {
		a.Close()
		return nil, err
	}
	a.conv, err = buildConversation(opts.Conversation, st, guard, log)
	if err != nil {
		a.Close()
		return nil, err
	}
	var others []channel.Channel
	if a.conv.channel != nil {
		others = append(others, a.conv.channel)
	}
	reg, err := withPush(channel.NewRegistry, opts.Push, st, guard, log, others...)
	if err != nil {
		a.Close()
		return nil, err
	}
	configured := func(name string) bool { _, ok := reg.Get(name); return ok }
	addresser := func(name string) (channel.Addresser, bool) {
		ch, ok := reg.Get(name)
		if !ok {
			return nil, false
		}
		a, ok := ch.(channel.Addresser)
		return a, ok
	}
	hcfg := handler.Config{MaxAttempts: opts.MaxAttempts, Configured: configured, Addresser: addresser, BroadcastChunk: opts.BroadcastChunk}
	if err := opts.Timing.apply(&hcfg); err != nil {
		a.Close()
		return nil, err
	}
	logTiming(log, opts.Timing, hcfg)
	a.handler = handler.New(h, st, a.Broker, hcfg, log, a.Metrics)
	a.worker = delivery.NewWorker(h, st, reg, delivery.Config{MaxAttempts: opts.MaxAttempts, MaxAge: opts.MaxAge}, log, a.Metrics)
	a.Metrics.RegisterHubLag(h, map[string]string{hub.TopicEvents: handler.Group, hub.TopicDeliveries: delivery.Group})
	sessions, err := auth.NewSessions(opts.SessionSecret)
	if err != nil {
		a.Close()
		return nil, fmt.Errorf("session secret: %w", err)
	}
	a.API = httpapi.New(httpapi.Deps{
		Store: st, Hub: h, Broker: a.Broker, Verifier: auth.NewVerifier(st), Metrics: a.Metrics, Log: log,
		Sessions: sessions, VAPIDPublicKey: opts.Push.VAPIDPublicKey,
		Ingest: ingest.New(h, opts.Ingest, log, a.Metrics), ChannelRates: a.conv.rates(),
		DirectLine: a.conv.minter(), OpsOnly: !roles[RoleAPI], StreamPoll: streamPoll(roles),
		Sources: sources,
	})
	// Without the api role the assistant and Direct Line are not served;
	// the conversation channel still writes into Direct Line transcripts,
	// which the api processes' streams pick up.
	if a.conv.assistant != nil && roles[RoleAPI] {
		a.API.Mount("POST /api/messages", a.conv.assistant)
	}
	if a.conv.directLine != nil && roles[RoleAPI] {
		a.API.Mount(directline.BasePath, a.conv.directLine)
	}
	if roles[RoleAPI] {
		a.API.Mount("/", web.New())
	}
	return a, nil
}

// Listen binds the HTTP address; Run calls it if it was not called. Call
// it first to learn the address (with port 0) before Run.
func (a *App) Listen() (net.Addr, error) {
	if a.listener == nil {
		l, err := net.Listen("tcp", a.opts.Addr)
		if err != nil {
			return nil, fmt.Errorf("listen on %s: %w", a.opts.Addr, err)
		}
		a.listener = l
	}
	return a.listener.Addr(), nil
}

// Run serves until ctx ends, then shuts down in two phases: the API stops
// taking events and HTTP drains; then the workers finish their in-flight
// batches; then the hub and the store close. Work not yet consumed stays
// durable in the hub for the next start.
func (a *App) Run(ctx context.Context) error {
	defer a.Close()
	if _, err := a.Listen(); err != nil {
		return err
	}
	srv := &http.Server{Handler: a.API, ReadHeaderTimeout: 10 * time.Second}
	work, stopWork := context.WithCancel(context.Background())
	defer stopWork()
	consume := hub.ConsumeOptions{BatchSize: a.opts.BatchSize, MaxAttempts: a.opts.MaxAttempts, AckWait: a.opts.AckWait}

	g, gctx := errgroup.WithContext(work)
	if a.roles[RoleHandler] {
		g.Go(func() error { return a.handler.Run(gctx, consume) })
		g.Go(func() error { return a.handler.RunBroadcasts(gctx) })
		g.Go(func() error { return a.handler.RunTimers(gctx) })
	}
	if a.roles[RoleDelivery] {
		g.Go(func() error { return a.worker.Run(gctx, consume) })
	}
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(a.listener) }()
	var roles []string
	for _, r := range AllRoles {
		if a.roles[r] {
			roles = append(roles, r)
		}
	}
	a.log.Info("herald is serving", "addr", a.listener.Addr().String(), "data", a.opts.DataDir, "roles", strings.Join(roles, ","))

	var runErr error
	select {
	case <-ctx.Done():
	case err := <-serveErr:
		runErr = fmt.Errorf("http server: %w", err)
	case <-gctx.Done():
		runErr = errors.New("a worker stopped unexpectedly")
	}
	a.log.Info("shutting down: no new work is taken; draining in-flight work")
	a.API.Drain()
	shutCtx, cancel := context.WithTimeout(context.Background(), a.opts.ShutdownTimeout)
	defer cancel()
	if a.conv.directLine != nil {
		if err := a.conv.directLine.Shutdown(shutCtx); err != nil {
			a.log.Warn("closing Direct Line streams", "err", err)
		}
	}
	if err := srv.Shutdown(shutCtx); err != nil {
		a.log.Warn("http drain incomplete", "err", err)
	}
	stopWork()
	if err := g.Wait(); err != nil && runErr == nil && !errors.Is(err, context.Canceled) {
		runErr = err
	}
	a.log.Info("shutdown complete")
	return runErr
}

// Close releases the hub and the store. Run calls it.
func (a *App) Close() {
	if a.listener != nil {
		a.listener.Close()
	}
	if a.Hub != nil {
		if err := a.Hub.Close(); err != nil {
			a.log.Warn("closing hub", "err", err)
		}
		a.Hub = nil
	}
	if a.Store != nil {
		if err := a.Store.Close(); err != nil {
			a.log.Warn("closing store", "err", err)
		}
		a.Store = nil
	}
}
