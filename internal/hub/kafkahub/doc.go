// Package kafkahub is the Kafka-protocol driver of hub.Hub, on franz-go. It
// talks to Apache Kafka, Redpanda, Azure Event Hubs' Kafka endpoint or any
// broker that speaks the protocol; its tests run against franz-go's
// in-process kfake cluster.
//
// # Layout on the cluster
//
// Every hub topic is one Kafka topic <prefix>.<topic> (herald.events,
// herald.deliveries) with Options.Partitions partitions; dead letters go to
// partition 0 of <prefix>.dlq. A message's Key is the record key and the
// producer hashes it (murmur2, as the Java client does) to pick the
// partition, so Partitions reports the topics' real count and Connect
// refuses topics whose count differs from the configured one. The message's
// ID travels in the herald-id header. A consumer group of the hub is the
// Kafka group <prefix>.<topic>.<group>.
//
// # Guarantees
//
// Publish returns once all in-sync replicas have the records (acks=all,
// idempotent producer, which removes duplicates of the producer's own
// retries only).
//
// Delivery is at least once. Kafka remembers one offset per partition and
// group, so the driver tracks settlement itself: offsets are committed up to
// the lowest record not yet settled, and everything from there is delivered
// again after a crash or a lost partition (a revoked partition first
// finishes its handler call and commits). Kafka cannot redeliver one record,
// so Retry and AckWait publish a copy of the message (same key, an attempt
// count and a not-before time in headers) and then settle the original.
// A copy that is not due yet waits in memory while its partition goes on;
// this reorders a key's messages just as a NATS redelivery does, and the
// committed offset stays at the copy until it is settled, so a crash in the
// meantime delivers again what followed it (at most Retry's delay worth of
// the partition's traffic; settled records behind it are dropped from memory).
//
// Attempt adds the copies' count to the times the record itself was handed
// out to consumers that went away. The driver records those in the metadata
// of its offset commits, committing before each batch is handed out (one
// commit per batch, shared by the partitions handing out batches at the same
// time), so a message that crashes every consumer reaches MaxAttempts and is
// dead-lettered. A broker that does not keep commit metadata loses that
// count: Attempt then starts again at 1 after a crash. AckWait is enforced
// while Consume runs; after a crash the next consumer starts from the lowest
// unsettled offset instead.
//
// Message.ID de-duplication is not supported (hubtest.Features.Dedup is
// false): publishing a message again stores it again.
//
// The package must not know about events, channels or stores: it moves
// opaque payloads.
//
// # Brokers
//
// Apache Kafka: Brokers "host:9092". Topic creation with the broker's default
// replication factor (ReplicationFactor 0) needs Kafka 2.4 or newer; set
// ReplicationFactor for older brokers. Production clusters usually set 3, and
// min.insync.replicas 2 on the topics makes acks=all survive a broker loss.
// Set TLS and SASL (PLAIN or SCRAM-SHA-256/512, OAUTHBEARER with a Token
// function) to match the listener.
//
// Redpanda: the same settings as Kafka; its Kafka API listens on port 9092 by
// default and its SASL users are SCRAM-SHA-256 or SCRAM-SHA-512. With
// ReplicationFactor 0 created topics get the cluster property
// default_topic_replications (1 unless set; use an odd count, 3 in
// production).
//
// Azure Event Hubs: Brokers "<namespace>.servicebus.windows.net:9093", TLS
// required (an empty tls.Config will do), SASL PLAIN with User
// "$ConnectionString" and Password the namespace's connection string
// ("Endpoint=sb://...;SharedAccessKeyName=...;SharedAccessKey=..."), or
// OAUTHBEARER with a Microsoft Entra ID token. The Kafka endpoint needs the
// Standard tier or above. A topic is an event hub, whose partition count is
// fixed when it is created on the Standard tier: create the event hubs
// <prefix>.events, <prefix>.deliveries (with the same count) and <prefix>.dlq
// beforehand, set NoCreateTopics, and leave Partitions 0 to adopt their
// count. Kafka consumer groups are created by the Kafka protocol on first use
// and are not the consumer groups listed on the event hub in the portal.
package kafkahub
