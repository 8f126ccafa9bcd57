package kafkahub_test

import (
	"context"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/herald/herald/internal/hub"
	"github.com/herald/herald/internal/hub/kafkahub"
)

// benchBatch is the Publish batch size of the benchmarks.
const benchBatch = 500

// benchPayload is a delivery-batch-sized payload.
var benchPayload = make([]byte, 256)

// benchMsgs returns n messages over many keys, with IDs like ingest sets.
func benchMsgs(n int) []hub.Message {
	out := make([]hub.Message, n)
	for i := range out {
		out[i] = hub.Message{Key: "user-" + strconv.Itoa(i%10007), ID: "evt-" + strconv.Itoa(i), Data: benchPayload}
	}
	return out
}

// publishAll publishes msgs in batches of benchBatch from writers goroutines.
func publishAll(b *testing.B, h hub.Hub, msgs []hub.Message, writers int) {
	ctx := context.Background()
	var wg sync.WaitGroup
	per := (len(msgs) + writers - 1) / writers
	for w := range writers {
		part := msgs[min(w*per, len(msgs)):min((w+1)*per, len(msgs))]
		wg.Go(func() {
			for i := 0; i < len(part); i += benchBatch {
				if err := h.Publish(ctx, hub.TopicEvents, part[i:min(i+benchBatch, len(part))]...); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
}

func reportRate(b *testing.B, n int) {
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "msgs/s")
}

// BenchmarkPublish measures publishes in batches of 500 (acks=all,
// idempotent) to an in-process kfake broker over loopback, from one writer
// and from four as ingest would run.
func BenchmarkPublish(b *testing.B) {
	for _, writers := range []int{1, 4} {
		b.Run("writers="+strconv.Itoa(writers), func(b *testing.B) {
			h := open(b, newCluster(b), kafkahub.Options{})
			msgs := benchMsgs(b.N)
			b.SetBytes(int64(len(benchPayload)))
			b.ResetTimer()
			publishAll(b, h, msgs, writers)
			b.StopTimer()
			reportRate(b, b.N)
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
			h := open(b, newCluster(b), kafkahub.Options{})
			msgs := benchMsgs(b.N)
			var acked atomic.Int64
			done := make(chan struct{})
			ctx, cancel := context.WithCancel(context.Background())
			consumed := make(chan error, 1)
			b.SetBytes(int64(len(benchPayload)))
			b.ResetTimer()
			go func() {
				consumed <- h.Consume(ctx, hub.TopicEvents, "bench", hub.ConsumeOptions{BatchSize: 500},
					func(_ context.Context, batch []hub.Delivery) {
						for _, d := range batch {
							if err := d.Ack(); err != nil {
								b.Error(err)
							}
						}
						if acked.Add(int64(len(batch))) == int64(b.N) {
							close(done)
						}
					})
			}()
			publishAll(b, h, msgs, writers)
			select {
			case <-done:
			case <-time.After(5 * time.Minute):
				b.Fatalf("consumed %d of %d", acked.Load(), b.N)
			}
			b.StopTimer()
			reportRate(b, b.N)
			cancel()
			if err := <-consumed; err != nil {
				b.Fatal(err)
			}
		})
	}
}

// BenchmarkConsume measures Consume alone: b.N messages are published
// before the timer starts, then consumed with one Ack per message.
func BenchmarkConsume(b *testing.B) {
	h := open(b, newCluster(b), kafkahub.Options{})
	publishAll(b, h, benchMsgs(b.N), 4)
	var acked atomic.Int64
	var batches atomic.Int64
	done := make(chan struct{})
	ctx, cancel := context.WithCancel(context.Background())
	consumed := make(chan error, 1)
	b.SetBytes(int64(len(benchPayload)))
	b.ResetTimer()
	go func() {
		consumed <- h.Consume(ctx, hub.TopicEvents, "bench", hub.ConsumeOptions{BatchSize: 500},
			func(_ context.Context, batch []hub.Delivery) {
				batches.Add(1)
				for _, d := range batch {
					if err := d.Ack(); err != nil {
						b.Error(err)
					}
				}
				if acked.Add(int64(len(batch))) == int64(b.N) {
					close(done)
				}
			})
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Minute):
		b.Fatalf("consumed %d of %d", acked.Load(), b.N)
	}
	b.StopTimer()
	reportRate(b, b.N)
	b.ReportMetric(float64(b.N)/float64(batches.Load()), "msgs/batch")
	cancel()
	if err := <-consumed; err != nil {
		b.Fatal(err)
	}
}
