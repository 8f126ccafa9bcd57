package natshub

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/herald/herald/internal/hub"
)

// ErrGroupConflict is returned by Consume when a work-queue topic already has
// a consumer group of another name: such a stream allows one group per topic.
var ErrGroupConflict = errors.New("natshub: topic already has another consumer group")

// minServerVersion is the oldest nats-server the driver works with: it needs
// consumer creation with a filter subject in the API subject (2.9.0) and
// pull request heartbeats.
const minServerVersion = "2.9.0"

// cleanHandoverVersion is the first server release line known to hand the
// messages of a stopped consumer to the next one without duplicates.
const cleanHandoverVersion = "2.11.0"

const (
	// dlqTopic is the reserved stream suffix of dead letters.
	dlqTopic = "dlq"
	// asyncMaxPending bounds the un-acked async publishes of the connection.
	asyncMaxPending = 8192
	// publishAckTimeout fails an async publish whose ack never comes.
	publishAckTimeout = 30 * time.Second
)

// Hub is a hub.Hub on NATS JetStream. It is safe for concurrent use.
type Hub struct {
	opts   Options
	log    *slog.Logger
	nc     *nats.Conn
	js     jetstream.JetStream
	lower  string // lower-cased prefix, the first subject token
	closed atomic.Bool
	// cleanHandover says the server copes with a redelivery that finds only
	// expired or departed pull requests (2.11 has the fixes). Older servers
	// (Debian's 2.9.10) then hold the redelivery back until the next AckWait
	// and send the message delivered before it again as attempt 1
	// (nats-server#5305, #5338), so on those Consume does not hand buffered
	// messages back when it stops: they come back after AckWait, when the
	// next consumer's pull requests are waiting.
	cleanHandover bool

	mu     sync.Mutex
	topics map[string]*topic // by topic name, streams known to exist
	dlq    jetstream.Stream

	// Set by Embedded: the hub owns the connection and the server.
	ns       *server.Server
	ncClosed chan struct{}
}

var _ hub.Hub = (*Hub)(nil)

// topic is one topic's stream and its partition subjects.
type topic struct {
	name     string
	stream   string
	subjects []string // by partition
}

// Connect returns a Hub on an existing connection, creating or updating the
// streams of the events and deliveries topics and of dead letters. The caller
// keeps ownership of nc: Close does not close it.
func Connect(ctx context.Context, nc *nats.Conn, opts Options) (*Hub, error) {
	opts, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	if nc == nil {
		return nil, errors.New("natshub: Connect needs a connection")
	}
	if v := nc.ConnectedServerVersion(); !versionAtLeast(v, minServerVersion) {
		return nil, fmt.Errorf("natshub: nats-server %s is too old: herald needs %s or newer", v, minServerVersion)
	}
	js, err := jetstream.New(nc,
		jetstream.WithPublishAsyncMaxPending(asyncMaxPending),
		jetstream.WithPublishAsyncTimeout(publishAckTimeout),
	)
	if err != nil {
		return nil, fmt.Errorf("natshub: jetstream context: %w", err)
	}
	if _, err := js.AccountInfo(ctx); err != nil {
		if errors.Is(err, jetstream.ErrJetStreamNotEnabled) || errors.Is(err, jetstream.ErrJetStreamNotEnabledForAccount) {
			return nil, fmt.Errorf("natshub: JetStream is not enabled on %s (start nats-server with -js): %w", nc.ConnectedUrlRedacted(), err)
		}
		return nil, fmt.Errorf("natshub: JetStream account info: %w", err)
	}
	h := &Hub{
		cleanHandover: versionAtLeast(nc.ConnectedServerVersion(), cleanHandoverVersion),
		opts:          opts,
		log:           opts.Logger.With("component", "natshub"),
		nc:            nc,
		js:            js,
		lower:         strings.ToLower(opts.Prefix),
		topics:        make(map[string]*topic),
	}
	if !h.cleanHandover {
		h.log.Warn("nats-server before "+cleanHandoverVersion+" may deliver a message twice, the second time as "+
			"attempt 1, when a redelivery finds only expired or departed pull requests (nats-server#5305, #5338); "+
			"stopping consumers leave their buffered messages to AckWait; upgrade the server to "+cleanHandoverVersion+" or newer",
			"version", nc.ConnectedServerVersion())
	}
	dlq, err := h.ensureDLQ(ctx)
	if err != nil {
		return nil, err
	}
	h.dlq = dlq
	for _, name := range []string{hub.TopicEvents, hub.TopicDeliveries} {
		if _, err := h.topic(ctx, name); err != nil {
			return nil, err
		}
	}
	return h, nil
}

// Partitions is the partition count of every topic.
func (h *Hub) Partitions() int { return h.opts.Partitions }

// Close releases the hub. For an embedded hub it drains the connection and
// shuts the server down, waiting until its files are closed. It is safe to
// call more than once.
func (h *Hub) Close() error {
	if !h.closed.CompareAndSwap(false, true) {
		return nil
	}
	if h.ns == nil {
		return nil
	}
	var err error
	if derr := h.nc.Drain(); derr != nil && !errors.Is(derr, nats.ErrConnectionClosed) {
		err = fmt.Errorf("natshub: drain connection: %w", derr)
		h.nc.Close()
	}
	<-h.ncClosed
	h.ns.Shutdown()
	h.ns.WaitForShutdown()
	h.log.Debug("embedded server stopped")
	return err
}

// topic returns the topic, creating its stream on first use.
func (h *Hub) topic(ctx context.Context, name string) (*topic, error) {
	if h.closed.Load() {
		return nil, hub.ErrClosed
	}
	h.mu.Lock()
	t := h.topics[name]
	h.mu.Unlock()
	if t != nil {
		return t, nil
	}
	if !validName.MatchString(name) || name != strings.ToLower(name) || name == dlqTopic {
		return nil, fmt.Errorf("natshub: invalid topic %q: use lower-case letters, digits, '_' and '-' (and not %q)", name, dlqTopic)
	}
	t = &topic{
		name:     name,
		stream:   h.streamName(name),
		subjects: make([]string, h.opts.Partitions),
	}
	for p := range t.subjects {
		t.subjects[p] = h.lower + "." + name + "." + strconv.Itoa(p)
	}
	if err := h.ensureTopicStream(ctx, t); err != nil {
		return nil, err
	}
	h.mu.Lock()
	if prev := h.topics[name]; prev != nil {
		t = prev
	} else {
		h.topics[name] = t
	}
	h.mu.Unlock()
	return t, nil
}

func (h *Hub) streamName(topic string) string {
	return strings.ToUpper(h.opts.Prefix + "_" + topic)
}

// ensureTopicStream creates or updates the topic's stream and checks it
// still fits the options.
func (h *Hub) ensureTopicStream(ctx context.Context, t *topic) error {
	cfg := jetstream.StreamConfig{
		Name:        t.stream,
		Description: "herald hub topic " + t.name,
		Subjects:    []string{h.lower + "." + t.name + ".*"},
		Storage:     jetstream.FileStorage,
		Replicas:    1,
		Duplicates:  h.opts.DupWindow,
	}
	switch h.opts.Retention {
	case RetentionWorkQueue:
		cfg.Retention = jetstream.WorkQueuePolicy
	case RetentionLimits:
		cfg.Retention = jetstream.LimitsPolicy
		cfg.MaxAge = h.opts.MaxAge
	}
	st, err := h.ensureStream(ctx, cfg)
	if err != nil {
		return err
	}
	return h.checkPartitions(ctx, t, st)
}

// ensureDLQ creates or updates the dead-letter stream.
func (h *Hub) ensureDLQ(ctx context.Context) (jetstream.Stream, error) {
	return h.ensureStream(ctx, jetstream.StreamConfig{
		Name:        h.streamName(dlqTopic),
		Description: "herald hub dead letters",
		Subjects:    []string{h.lower + "." + dlqTopic + ".>"},
		Retention:   jetstream.LimitsPolicy,
		Storage:     jetstream.FileStorage,
		Replicas:    1,
		Duplicates:  h.opts.DupWindow,
	})
}

// ensureStream creates the stream or updates an existing one, refusing to
// touch a stream whose retention differs (the server cannot change it).
func (h *Hub) ensureStream(ctx context.Context, cfg jetstream.StreamConfig) (jetstream.Stream, error) {
	st, err := h.js.Stream(ctx, cfg.Name)
	switch {
	case errors.Is(err, jetstream.ErrStreamNotFound):
		st, err = h.js.CreateStream(ctx, cfg)
		if err != nil {
			return nil, fmt.Errorf("natshub: create stream %s: %w", cfg.Name, err)
		}
		h.log.Info("stream created", "stream", cfg.Name, "retention", cfg.Retention.String())
		return st, nil
	case err != nil:
		return nil, fmt.Errorf("natshub: look up stream %s: %w", cfg.Name, err)
	}
	have := st.CachedInfo().Config
	if have.Retention != cfg.Retention {
		return nil, fmt.Errorf("natshub: stream %s exists with %s retention but the hub is configured for %s: "+
			"set Options.Retention to match, or delete the stream (losing its messages)", cfg.Name, have.Retention, cfg.Retention)
	}
	if have.Duplicates == cfg.Duplicates && have.MaxAge == cfg.MaxAge && have.Description == cfg.Description &&
		len(have.Subjects) == 1 && len(cfg.Subjects) == 1 && have.Subjects[0] == cfg.Subjects[0] {
		return st, nil
	}
	st, err = h.js.UpdateStream(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("natshub: update stream %s: %w", cfg.Name, err)
	}
	h.log.Info("stream updated", "stream", cfg.Name)
	return st, nil
}

// checkPartitions refuses a work-queue stream that holds messages on
// partitions beyond Options.Partitions: nobody would ever consume them.
func (h *Hub) checkPartitions(ctx context.Context, t *topic, st jetstream.Stream) error {
	info, err := st.Info(ctx, jetstream.WithSubjectFilter(h.lower+"."+t.name+".*"))
	if err != nil {
		return fmt.Errorf("natshub: stream %s info: %w", t.stream, err)
	}
	for subj, n := range info.State.Subjects {
		p, err := strconv.Atoi(subj[strings.LastIndexByte(subj, '.')+1:])
		if err == nil && p < h.opts.Partitions {
			continue
		}
		if h.opts.Retention == RetentionLimits {
			h.log.Warn("stream holds messages on a subject outside the configured partitions; they will not be consumed",
				"stream", t.stream, "subject", subj, "messages", n, "partitions", h.opts.Partitions)
			continue
		}
		return fmt.Errorf("natshub: stream %s holds %d unconsumed messages on %s but the hub has %d partitions: "+
			"start with the old partition count until they are consumed", t.stream, n, subj, h.opts.Partitions)
	}
	return nil
}

// versionAtLeast compares dotted server versions ("2.9.10" >= "2.9.0").
// Suffixes such as "-beta" are ignored.
func versionAtLeast(have, want string) bool {
	parse := func(v string) [3]int {
		var out [3]int
		v, _, _ = strings.Cut(strings.TrimPrefix(v, "v"), "-")
		for i, part := range strings.SplitN(v, ".", 3) {
			out[i], _ = strconv.Atoi(part)
		}
		return out
	}
	h, w := parse(have), parse(want)
	for i := range h {
		if h[i] != w[i] {
			return h[i] > w[i]
		}
	}
	return true
}
