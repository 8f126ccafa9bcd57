package natshub_test

import (
	"context"
	"errors"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/herald/herald/internal/hub/hubtest"
	"github.com/herald/herald/internal/hub/natshub"
)

// BenchmarkPublish measures durable publishes in batches of 500 to the
// embedded hub: one writer with the default sync interval, one writer with
// SyncAlways, and four concurrent writers as ingest would run.
func BenchmarkPublish(b *testing.B) {
	for _, bc := range []struct {
		name    string
		opts    natshub.Options
		writers int
	}{
		{"writers=1", natshub.Options{}, 1},
		{"writers=1/sync_always", natshub.Options{SyncAlways: true}, 1},
		{"writers=4", natshub.Options{}, 4},
	} {
		b.Run(bc.name, func(b *testing.B) {
			hubtest.BenchPublish(b, openEmbedded(b, b.TempDir(), bc.opts), bc.writers)
		})
	}
}

// BenchmarkPublishConsume measures messages published in batches of 500 and
// consumed through Consume with one Ack per message, end to end, for both
// retentions (a work-queue ack also deletes the message).
func BenchmarkPublishConsume(b *testing.B) {
	for _, bc := range []struct {
		name    string
		opts    natshub.Options
		writers int
	}{
		{"workqueue/writers=1", natshub.Options{}, 1},
		{"workqueue/writers=4", natshub.Options{}, 4},
		{"limits/writers=4", natshub.Options{Retention: natshub.RetentionLimits}, 4},
	} {
		b.Run(bc.name, func(b *testing.B) {
			hubtest.BenchPublishConsume(b, openEmbedded(b, b.TempDir(), bc.opts), bc.writers, false)
		})
	}
}

// BenchmarkRawJetStream is the ceiling: the same embedded server, stream
// layout and acks with the jetstream API and no hub code.
func BenchmarkRawJetStream(b *testing.B) {
	const partitions = 4
	setup := func(b *testing.B) (jetstream.JetStream, jetstream.Stream) {
		ns, err := server.NewServer(&server.Options{DontListen: true, JetStream: true, StoreDir: b.TempDir(), NoLog: true, NoSigs: true})
		if err != nil {
			b.Fatal(err)
		}
		ns.Start()
		if !ns.ReadyForConnections(10 * time.Second) {
			b.Fatal("server not ready")
		}
		nc, err := nats.Connect("", nats.InProcessServer(ns))
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { nc.Close(); ns.Shutdown(); ns.WaitForShutdown() })
		js, err := jetstream.New(nc, jetstream.WithPublishAsyncMaxPending(8192))
		if err != nil {
			b.Fatal(err)
		}
		st, err := js.CreateStream(context.Background(), jetstream.StreamConfig{
			Name: "RAW", Subjects: []string{"raw.*"}, Retention: jetstream.WorkQueuePolicy, Storage: jetstream.FileStorage,
		})
		if err != nil {
			b.Fatal(err)
		}
		return js, st
	}
	publish := func(b *testing.B, js jetstream.JetStream) {
		for i := 0; i < b.N; i++ {
			m := &nats.Msg{Subject: "raw." + strconv.Itoa(i%partitions), Data: hubtest.BenchPayload, Header: nats.Header{}}
			m.Header.Set(jetstream.MsgIDHeader, "evt-"+strconv.Itoa(i))
			for {
				_, err := js.PublishMsgAsync(m)
				if err == nil {
					break
				}
				if !errors.Is(err, jetstream.ErrTooManyStalledMsgs) {
					b.Fatal(err)
				}
				<-js.PublishAsyncComplete()
			}
		}
		select {
		case <-js.PublishAsyncComplete():
		case <-time.After(time.Minute):
			b.Fatal("publish acks did not arrive")
		}
	}
	b.Run("publish", func(b *testing.B) {
		js, _ := setup(b)
		b.SetBytes(int64(len(hubtest.BenchPayload)))
		b.ResetTimer()
		publish(b, js)
		b.StopTimer()
		hubtest.ReportRate(b, b.N)
	})
	b.Run("publish_consume", func(b *testing.B) {
		js, st := setup(b)
		var acked atomic.Int64
		done := make(chan struct{})
		b.SetBytes(int64(len(hubtest.BenchPayload)))
		b.ResetTimer()
		for p := range partitions {
			c, err := st.CreateOrUpdateConsumer(context.Background(), jetstream.ConsumerConfig{
				Durable: "raw-" + strconv.Itoa(p), FilterSubject: "raw." + strconv.Itoa(p),
				AckPolicy: jetstream.AckExplicitPolicy, MaxAckPending: 20000,
			})
			if err != nil {
				b.Fatal(err)
			}
			cc, err := c.Consume(func(m jetstream.Msg) {
				_ = m.Ack()
				if acked.Add(1) == int64(b.N) {
					close(done)
				}
			}, jetstream.PullMaxMessages(1000))
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(cc.Stop)
		}
		publish(b, js)
		select {
		case <-done:
		case <-time.After(5 * time.Minute):
			b.Fatalf("consumed %d of %d", acked.Load(), b.N)
		}
		b.StopTimer()
		hubtest.ReportRate(b, b.N)
	})
}
