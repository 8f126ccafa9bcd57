package kafkahub_test

import (
	"strconv"
	"testing"

	"github.com/herald/herald/internal/hub/hubtest"
	"github.com/herald/herald/internal/hub/kafkahub"
)

// BenchmarkPublish measures publishes in batches of 500 (acks=all,
// idempotent) to an in-process kfake broker over loopback, from one writer
// and from four as ingest would run.
func BenchmarkPublish(b *testing.B) {
	for _, writers := range []int{1, 4} {
		b.Run("writers="+strconv.Itoa(writers), func(b *testing.B) {
			hubtest.BenchPublish(b, open(b, newCluster(b), kafkahub.Options{}), writers)
		})
	}
}

// BenchmarkPublishConsume measures messages published in batches of 500 and
// consumed through Consume with one Ack per message, end to end, on four
// partitions of an in-process kfake broker. It includes the offset commit
// that records each batch's delivery before the handler sees it.
func BenchmarkPublishConsume(b *testing.B) {
	for _, writers := range []int{1, 4} {
		b.Run("writers="+strconv.Itoa(writers), func(b *testing.B) {
			hubtest.BenchPublishConsume(b, open(b, newCluster(b), kafkahub.Options{}), writers, false)
		})
	}
}

// BenchmarkConsume measures Consume alone: b.N messages are published
// before the timer starts, then consumed with one Ack per message.
func BenchmarkConsume(b *testing.B) {
	hubtest.BenchPublishConsume(b, open(b, newCluster(b), kafkahub.Options{}), 4, true)
}
