package webpush_test

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/herald/herald/internal/channel"
	"github.com/herald/herald/internal/channel/push"
	"github.com/herald/herald/internal/channel/push/pushtest"
	"github.com/herald/herald/internal/channel/webpush"
	"github.com/herald/herald/internal/event"
	"github.com/herald/herald/internal/store"
	"github.com/herald/herald/internal/store/sqlitestore"
)

const (
	benchDevices     = 100_000
	benchChunk       = 10_000
	benchConcurrency = 256
)

// BenchmarkWebPush measures pushes/s from the webpush channel to a local
// RFC 8030 peer for 100,000 subscriptions (lookup, per-device records,
// payload, a fresh ECDH key pair and AES-GCM per message, cached VAPID),
// beside the ceiling: the same HTTP/2 client posting a fixed, already
// encrypted body. The peer skips decryption so that its cost does not hide
// the sender's; the tests decrypt every message instead.
func BenchmarkWebPush(b *testing.B) {
	peer := pushtest.NewWebPushPeer(b)
	peer.SkipDecrypt = true
	st, err := sqlitestore.Open(context.Background(), filepath.Join(b.TempDir(), "herald.db"), sqlitestore.Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { st.Close() })
	endpoints := make([]string, benchDevices)
	var sample pushtest.Subscriber
	for i := range benchDevices {
		ep, sub := peer.Subscribe()
		endpoints[i], sample = ep, sub
		if _, err := st.RegisterDevice(context.Background(), store.Device{UserID: fmt.Sprintf("user-%06d", i), Platform: store.PlatformWebPush,
			Token: ep, P256dh: sub.P256dh(), Auth: sub.AuthSecret()}); err != nil {
			b.Fatal(err)
		}
	}
	keys, _ := webpush.GenerateKeys()
	for iter := range b.N {
		pushtest.ResetPeakRSS()
		client := peer.Client(false)
		// The ceiling's request: one real message's headers and body.
		var hdr http.Header
		var body []byte
		probe := &capture{}
		wcProbe, _ := webpush.NewClient(webpush.Config{Keys: keys, Subject: "mailto:bench@example.com", Client: &http.Client{Transport: probe}})
		_ = wcProbe.Send(context.Background(), push.Message{Event: event.Event{ID: "ceiling", Notification: event.Notification{Title: "Training due", Message: "Finish the security training by Friday"}},
			Device: store.Device{Token: endpoints[0], P256dh: sample.P256dh(), Auth: sample.AuthSecret()}, ID: "ceiling"})
		hdr, body = probe.header, probe.body
		var next, failed atomic.Int64
		start := time.Now()
		var wg sync.WaitGroup
		for range benchConcurrency {
			wg.Go(func() {
				for {
					i := int(next.Add(1)) - 1
					if i >= benchDevices {
						return
					}
					req, _ := http.NewRequest(http.MethodPost, endpoints[i], bytes.NewReader(body))
					req.Header = hdr.Clone()
					req.Header.Set("Topic", fmt.Sprintf("c%d", iter))
					resp, err := client.Do(req)
					if err != nil || resp.StatusCode != http.StatusCreated {
						failed.Add(1)
						if err == nil {
							resp.Body.Close()
						}
						continue
					}
					push.Drain(resp.Body, 4096)
				}
			})
		}
		wg.Wait()
		if failed.Load() > 0 {
			b.Fatalf("ceiling: %d requests failed (%v)", failed.Load(), peer.Rejected()[:1])
		}
		ceil := float64(benchDevices) / time.Since(start).Seconds()
		ceilRSS := pushtest.PeakRSSMiB()

		runtime.GC()
		pushtest.ResetPeakRSS()
		before := peer.AcceptedCount()
		ch, err := webpush.New(webpush.Config{Keys: keys, Subject: "mailto:bench@example.com", Store: st, Client: client,
			Concurrency: benchConcurrency, Workers: benchConcurrency})
		if err != nil {
			b.Fatal(err)
		}
		jobs := make([]channel.Job, benchDevices)
		ev := event.Event{ID: fmt.Sprintf("%032x", iter), Notification: event.Notification{Title: "Training due", Message: "Finish the security training by Friday"}}
		for i := range jobs {
			jobs[i] = channel.Job{Event: ev, UserID: fmt.Sprintf("user-%06d", i), Attempt: 1}
		}
		start = time.Now()
		for lo := 0; lo < len(jobs); lo += benchChunk {
			for _, r := range ch.Deliver(context.Background(), jobs[lo:min(lo+benchChunk, len(jobs))]) {
				if r.Err != nil {
					b.Fatalf("Deliver: %v", r.Err)
				}
			}
		}
		rate := float64(benchDevices) / time.Since(start).Seconds()
		if got := peer.AcceptedCount() - before; got != benchDevices {
			b.Fatalf("peer accepted %d, want %d", got, benchDevices)
		}
		b.ReportMetric(ceil, "ceiling-req/s")
		b.ReportMetric(ceilRSS, "ceiling-peak-RSS-MiB")
		b.ReportMetric(rate, "pushes/s")
		b.ReportMetric(pushtest.PeakRSSMiB(), "peak-RSS-MiB")
		b.ReportMetric(rate/ceil, "ratio")
	}
}

// BenchmarkEncrypt is the cost of one message's RFC 8291 encryption.
func BenchmarkEncrypt(b *testing.B) {
	sub := pushtest.NewSubscriber()
	plain := bytes.Repeat([]byte("x"), 200)
	p256dh, auth := sub.Key.PublicKey().Bytes(), sub.Auth
	for b.Loop() {
		if _, err := webpush.Encrypt(plain, p256dh, auth); err != nil {
			b.Fatal(err)
		}
	}
}

// capture is a transport that records one request and answers 201.
type capture struct {
	header http.Header
	body   []byte
}

func (c *capture) RoundTrip(r *http.Request) (*http.Response, error) {
	c.header = r.Header.Clone()
	buf := new(bytes.Buffer)
	_, _ = buf.ReadFrom(r.Body)
	c.body = buf.Bytes()
	return &http.Response{StatusCode: http.StatusCreated, Body: http.NoBody, Header: http.Header{}, Request: r}, nil
}
