package kafkahub

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/herald/herald/internal/hub"
)

// defaultPartitions is the partition count of created topics when
// Options.Partitions is zero and no topic exists yet.
const defaultPartitions = 4

// dlqTopic is the reserved topic suffix of dead letters.
const dlqTopic = "dlq"

// Hub is a hub.Hub on a Kafka-protocol cluster. It is safe for concurrent
// use.
type Hub struct {
	opts   Options
	log    *slog.Logger
	base   []kgo.Opt // connection options of every client
	cl     *kgo.Client
	adm    *kadm.Client
	dlq    string // the dead-letter topic's Kafka name
	parts  int
	closed atomic.Bool

	mu     sync.Mutex
	topics map[string]string // hub topic -> Kafka topic, known to exist
}

var _ hub.Hub = (*Hub)(nil)

// Connect checks that a broker answers, creates the topics of events,
// deliveries and dead letters if they are missing (unless NoCreateTopics)
// and checks their partition counts. Close releases the connections.
func Connect(ctx context.Context, opts Options) (*Hub, error) {
	opts, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	base, err := opts.clientOpts()
	if err != nil {
		return nil, fmt.Errorf("kafkahub: %w", err)
	}
	h := &Hub{
		opts:   opts,
		log:    opts.Logger.With("component", "kafkahub"),
		base:   base,
		dlq:    opts.Prefix + "." + dlqTopic,
		topics: make(map[string]string),
	}
	h.cl, err = kgo.NewClient(append(slices.Clone(base),
		kgo.RequiredAcks(kgo.AllISRAcks()), // with the default idempotent producer
		kgo.RecordPartitioner(partitioner{dlq: h.dlq, keyed: kgo.UniformBytesPartitioner(64<<10, true, true, nil)}),
	)...)
	if err != nil {
		return nil, fmt.Errorf("kafkahub: client: %w", err)
	}
	h.adm = kadm.NewClient(h.cl)
	if err := h.cl.Ping(ctx); err != nil {
		h.cl.Close()
		return nil, fmt.Errorf("kafkahub: no broker of %s answered: %w", strings.Join(opts.Brokers, ","), err)
	}
	if opts.SASL != nil && opts.TLS == nil {
		h.log.Warn("SASL without TLS: credentials and messages cross the network in clear text")
	}
	if err := h.start(ctx); err != nil {
		h.cl.Close()
		return nil, err
	}
	h.log.Debug("connected", "brokers", opts.Brokers, "prefix", opts.Prefix, "partitions", h.parts)
	return h, nil
}

// start settles the partition count and makes sure every topic exists.
func (h *Hub) start(ctx context.Context) error {
	names := []string{h.kafkaTopic(hub.TopicEvents), h.kafkaTopic(hub.TopicDeliveries)}
	have, err := h.describe(ctx, append(names, h.dlq)...)
	if err != nil {
		return err
	}
	h.parts = h.opts.Partitions
	if h.parts == 0 {
		for _, name := range names {
			n, ok := have[name]
			switch {
			case !ok:
			case h.parts == 0:
				h.parts = n
			case n != h.parts:
				return fmt.Errorf("kafkahub: topics %s disagree on their partition count (%d and %d): "+
					"every hub topic needs the same count; recreate one or use another Prefix", strings.Join(names, " and "), h.parts, n)
			}
		}
		if h.parts == 0 {
			h.parts = defaultPartitions
		}
	}
	for _, name := range names {
		if err := h.ensure(ctx, name, h.parts, have); err != nil {
			return err
		}
	}
	if err := h.ensure(ctx, h.dlq, 1, have); err != nil {
		return err
	}
	h.mu.Lock()
	h.topics[hub.TopicEvents] = names[0]
	h.topics[hub.TopicDeliveries] = names[1]
	h.mu.Unlock()
	return nil
}

// describe returns the partition counts of the topics that exist.
func (h *Hub) describe(ctx context.Context, names ...string) (map[string]int, error) {
	details, err := h.adm.ListTopics(ctx, names...)
	if err != nil {
		return nil, fmt.Errorf("kafkahub: describe topics %s: %w", strings.Join(names, ", "), err)
	}
	have := make(map[string]int, len(names))
	for _, name := range names {
		td, ok := details[name]
		if !ok || errors.Is(td.Err, kerr.UnknownTopicOrPartition) {
			continue
		}
		if td.Err != nil {
			return nil, fmt.Errorf("kafkahub: describe topic %s: %w", name, td.Err)
		}
		have[name] = len(td.Partitions)
	}
	return have, nil
}

// ensure creates topic name with parts partitions unless it exists, and
// checks the partition count of an existing one. The dead-letter topic
// (parts 1) may have more partitions: only partition 0 is used.
func (h *Hub) ensure(ctx context.Context, name string, parts int, have map[string]int) error {
	n, ok := have[name]
	if !ok {
		if h.opts.NoCreateTopics {
			return fmt.Errorf("kafkahub: topic %s does not exist and NoCreateTopics is set: create it with %d partitions", name, parts)
		}
		_, err := h.adm.CreateTopic(ctx, int32(parts), h.opts.ReplicationFactor, nil, name)
		// Forget that the topic was missing: the client caches metadata
		// for admin requests and would not see it for a while.
		h.cl.PurgeTopicsFromClient(name)
		switch {
		case err == nil:
			h.log.Info("topic created", "topic", name, "partitions", parts, "replication_factor", h.opts.ReplicationFactor)
			return nil
		case errors.Is(err, kerr.TopicAlreadyExists): // another process won the race
			again, derr := h.describe(ctx, name)
			if derr != nil {
				return derr
			}
			if n, ok = again[name]; !ok {
				return fmt.Errorf("kafkahub: topic %s exists but cannot be described yet; retry", name)
			}
		default:
			return fmt.Errorf("kafkahub: create topic %s with %d partitions (replication factor %d): %w",
				name, parts, h.opts.ReplicationFactor, err)
		}
	}
	switch {
	case name == h.dlq:
		if n > 1 {
			h.log.Warn("dead-letter topic has several partitions; only partition 0 is written and listed",
				"topic", name, "partitions", n)
		}
	case n != parts:
		return fmt.Errorf("kafkahub: topic %s has %d partitions but the hub is configured for %d: "+
			"set Options.Partitions to %d (or 0 to adopt it), or use another Prefix; "+
			"changing a topic's partition count moves keys to other partitions", name, n, parts, n)
	}
	return nil
}

// topic returns the Kafka name of a hub topic, creating it on first use.
func (h *Hub) topic(ctx context.Context, name string) (string, error) {
	if h.closed.Load() {
		return "", hub.ErrClosed
	}
	h.mu.Lock()
	k, ok := h.topics[name]
	h.mu.Unlock()
	if ok {
		return k, nil
	}
	if !validPart.MatchString(name) || name != strings.ToLower(name) || name == dlqTopic {
		return "", fmt.Errorf("kafkahub: invalid topic %q: use lower-case letters, digits, '_' and '-' (and not %q)", name, dlqTopic)
	}
	k = h.kafkaTopic(name)
	have, err := h.describe(ctx, k)
	if err != nil {
		return "", err
	}
	if err := h.ensure(ctx, k, h.parts, have); err != nil {
		return "", err
	}
	h.mu.Lock()
	h.topics[name] = k
	h.mu.Unlock()
	return k, nil
}

// kafkaTopic is the Kafka name of a hub topic.
func (h *Hub) kafkaTopic(name string) string { return h.opts.Prefix + "." + name }

// groupID is the Kafka consumer group id of a hub group on a hub topic:
// groups are per topic, as in the NATS driver.
func (h *Hub) groupID(topic, group string) string {
	return h.opts.Prefix + "." + topic + "." + group
}

// Partitions is the partition count of every topic: the count of the topics
// found at Connect, or the one they were created with.
func (h *Hub) Partitions() int { return h.parts }

// Close closes the hub's connections. Consumers must have stopped. It is
// safe to call more than once.
func (h *Hub) Close() error {
	if !h.closed.CompareAndSwap(false, true) {
		return nil
	}
	h.cl.Close()
	return nil
}

// partitioner hashes keys like the Java client (murmur2) for hub topics and
// writes dead letters to partition 0, the one DeadLetters reads.
type partitioner struct {
	dlq   string
	keyed kgo.Partitioner
}

// ForTopic picks the partitioner of one topic.
func (p partitioner) ForTopic(topic string) kgo.TopicPartitioner {
	if topic == p.dlq {
		return kgo.ManualPartitioner().ForTopic(topic)
	}
	return p.keyed.ForTopic(topic)
}
