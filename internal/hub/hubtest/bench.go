package hubtest

import (
	"context"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/herald/herald/internal/hub"
)

// BenchBatch is the Publish batch size of the driver benchmarks.
const BenchBatch = 500

// BenchPayload is a delivery-batch-sized payload.
var BenchPayload = make([]byte, 256)

// benchMsgs returns n messages over many keys, with IDs like ingest sets.
func benchMsgs(n int) []hub.Message {
	out := make([]hub.Message, n)
	for i := range out {
		out[i] = hub.Message{Key: "user-" + strconv.Itoa(i%10007), ID: "evt-" + strconv.Itoa(i), Data: BenchPayload}
	}
	return out
}

// publishAll publishes msgs in batches of BenchBatch from writers goroutines.
func publishAll(b *testing.B, h hub.Hub, msgs []hub.Message, writers int) {
	ctx := context.Background()
	var wg sync.WaitGroup
	per := (len(msgs) + writers - 1) / writers
	for w := range writers {
		part := msgs[min(w*per, len(msgs)):min((w+1)*per, len(msgs))]
		wg.Go(func() {
			for i := 0; i < len(part); i += BenchBatch {
				if err := h.Publish(ctx, hub.TopicEvents, part[i:min(i+BenchBatch, len(part))]...); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
}

// ReportRate reports n messages over the benchmark's elapsed time as msgs/s.
func ReportRate(b *testing.B, n int) {
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "msgs/s")
}

// BenchPublish measures b.N publishes in batches of BenchBatch from writers
// goroutines.
func BenchPublish(b *testing.B, h hub.Hub, writers int) {
	msgs := benchMsgs(b.N)
	b.SetBytes(int64(len(BenchPayload)))
	b.ResetTimer()
	publishAll(b, h, msgs, writers)
	b.StopTimer()
	ReportRate(b, b.N)
}

// BenchPublishConsume measures b.N messages published in batches from
// writers goroutines and consumed through Consume with one Ack each, end to
// end. With prefill the messages are published before the timer starts,
// measuring Consume alone. It reports msgs/s and messages per handler call.
func BenchPublishConsume(b *testing.B, h hub.Hub, writers int, prefill bool) {
	msgs := benchMsgs(b.N)
	if prefill {
		publishAll(b, h, msgs, writers)
	}
	var acked, batches atomic.Int64
	done := make(chan struct{})
	ctx, cancel := context.WithCancel(context.Background())
	consumed := make(chan error, 1)
	b.SetBytes(int64(len(BenchPayload)))
	b.ResetTimer()
	go func() {
		consumed <- h.Consume(ctx, hub.TopicEvents, "bench", hub.ConsumeOptions{BatchSize: BenchBatch},
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
	if !prefill {
		publishAll(b, h, msgs, writers)
	}
	select {
	case <-done:
	case <-time.After(5 * time.Minute):
		b.Fatalf("consumed %d of %d", acked.Load(), b.N)
	}
	b.StopTimer()
	ReportRate(b, b.N)
	b.ReportMetric(float64(b.N)/float64(max(1, batches.Load())), "msgs/batch")
	cancel()
	if err := <-consumed; err != nil {
		b.Fatal(err)
	}
}
