// Package natshub is the NATS JetStream driver of hub.Hub, embedded in the
// herald process (Embedded, the default: data under the data directory) or
// talking to an external server or cluster (Connect).
//
// # Layout on the server
//
// Every topic is one stream named <PREFIX>_<TOPIC> (HERALD_EVENTS,
// HERALD_DELIVERIES) whose subjects are <prefix>.<topic>.<partition>
// (herald.events.0 .. herald.events.3). A message's partition is
// hub.PartitionFor(Message.Key, Partitions). A consumer group is one durable
// pull consumer per partition, named <group>-<partition> and filtered on that
// partition's subject, so one partition is handled by one batcher goroutine
// per Consume call and messages of one key stay in order while a single
// process consumes. Dead letters go to the stream <PREFIX>_DLQ on the
// subjects <prefix>.dlq.<topic>, with the original payload and the reason,
// attempts, topic, key, id and group in headers.
//
// By default topic streams use work-queue retention: a message is removed
// once it is acknowledged, which allows exactly one consumer group per topic
// (herald's data flow needs no more). RetentionLimits keeps messages until
// MaxAge instead and lets any number of groups each read every message.
//
// # Guarantees
//
// Publish returns when the server has stored every message (with the default
// sync interval it survives a crash of any process, SyncAlways makes it
// survive a power loss at a large cost). Delivery is at least once: Ack is
// fire-and-forget, so a lost ack means a redelivery with a higher Attempt.
// The driver counts attempts with the server's delivery count and dead
// letters a message itself once it is delivered more than MaxAttempts times.
//
// The package must not know about events, channels or stores: it moves
// opaque payloads.
//
// # Server versions
//
// Embedded runs nats-server v2.15. Connect works with nats-server 2.9.0 or
// newer (Debian ships 2.9.10) and fails at start with a message naming the
// version it needs otherwise.
package natshub
