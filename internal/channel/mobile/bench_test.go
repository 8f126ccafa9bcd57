package mobile_test

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

	"github.com/golang-jwt/jwt/v5"

	"github.com/herald/herald/internal/channel"
	"github.com/herald/herald/internal/channel/mobile"
	"github.com/herald/herald/internal/channel/mobile/apns"
	"github.com/herald/herald/internal/channel/mobile/fcm"
	"github.com/herald/herald/internal/channel/push"
	"github.com/herald/herald/internal/channel/push/pushtest"
	"github.com/herald/herald/internal/event"
	"github.com/herald/herald/internal/store"
	"github.com/herald/herald/internal/store/sqlitestore"
)

// benchDevices is the number of devices (one per person) each push
// benchmark delivers one event to.
const benchDevices = 100_000

// benchChunk is how many jobs one Deliver call gets, as one delivery batch
// from the hub would carry.
const benchChunk = 10_000

// benchConcurrency is the requests in flight, for herald and the ceiling.
const benchConcurrency = 256

// ceiling runs the minimal loop: n POSTs of a fixed request with the same
// HTTP/2 client, benchConcurrency at a time, and returns requests/s.
func ceiling(b *testing.B, n int, do func(i int) error) float64 {
	b.Helper()
	var next atomic.Int64
	var failed atomic.Int64
	start := time.Now()
	var wg sync.WaitGroup
	for range benchConcurrency {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				if err := do(i); err != nil {
					failed.Add(1)
				}
			}
		})
	}
	wg.Wait()
	if failed.Load() > 0 {
		b.Fatalf("ceiling: %d requests failed", failed.Load())
	}
	return float64(n) / time.Since(start).Seconds()
}

func post(c *http.Client, url string, body []byte, h http.Header) error {
	req, _ := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	req.Header = h
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	push.Drain(resp.Body, 4096)
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("status %d", resp.StatusCode)
	}
	return nil
}

// deliverAll delivers one event to the 100,000 people in chunks and
// returns pushes/s.
func deliverAll(b *testing.B, eventID string, ch channel.Channel, accepted func() int) float64 {
	b.Helper()
	jobs := make([]channel.Job, benchDevices)
	ev := event.Event{ID: eventID, Notification: event.Notification{Title: "Training due", Message: "Finish the security training by Friday", Category: "training"}}
	for i := range jobs {
		jobs[i] = channel.Job{Event: ev, UserID: fmt.Sprintf("user-%06d", i), Attempt: 1}
	}
	start := time.Now()
	for lo := 0; lo < len(jobs); lo += benchChunk {
		res := ch.Deliver(context.Background(), jobs[lo:min(lo+benchChunk, len(jobs))])
		for _, r := range res {
			if r.Err != nil {
				b.Fatalf("Deliver: %v", r.Err)
			}
		}
	}
	rate := float64(benchDevices) / time.Since(start).Seconds()
	if got := accepted(); got != benchDevices {
		b.Fatalf("peer accepted %d pushes, want %d", got, benchDevices)
	}
	return rate
}

func benchStore(b *testing.B, devices func(i int) store.Device) store.Store {
	b.Helper()
	st, err := sqlitestore.Open(context.Background(), filepath.Join(b.TempDir(), "herald.db"), sqlitestore.Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { st.Close() })
	for i := range benchDevices {
		if _, err := st.RegisterDevice(context.Background(), devices(i)); err != nil {
			b.Fatal(err)
		}
	}
	return st
}

// BenchmarkAPNs measures pushes/s from the mobile channel to the local
// APNs peer for 100,000 devices (device lookup, per-device records,
// payload, JWT, HTTP/2), beside the ceiling: a minimal loop of the same
// HTTP/2 client sending a fixed request to the same peer.
func BenchmarkAPNs(b *testing.B) {
	key, p8 := pushtest.APNsKey()
	peer := pushtest.NewAPNsPeer(b, &key.PublicKey, "KEY", "TEAM")
	st := benchStore(b, func(i int) store.Device {
		return store.Device{UserID: fmt.Sprintf("user-%06d", i), Platform: store.PlatformAPNs, Token: pushtest.HexToken(i), Environment: "production"}
	})
	for iter := range b.N {
		// Ceiling.
		pushtest.ResetPeakRSS()
		client := peer.Client(true)
		tok := jwt.NewWithClaims(jwt.SigningMethodES256, jwt.MapClaims{"iss": "TEAM", "iat": time.Now().Unix()})
		tok.Header["kid"] = "KEY"
		signed, _ := tok.SignedString(key)
		body := []byte(`{"aps":{"alert":{"title":"Training due","body":"Finish the security training by Friday"},"sound":"default"}}`)
		ceil := ceiling(b, benchDevices, func(i int) error {
			h := http.Header{"authorization": {"bearer " + signed}, "apns-topic": {"com.example.app"}, "apns-push-type": {"alert"},
				"apns-priority": {"10"}, "apns-id": {push.MessageID("ceiling", fmt.Sprint(i))}}
			return post(client, peer.URL()+"/3/device/"+pushtest.HexToken(i), body, h)
		})
		ceilRSS := pushtest.PeakRSSMiB()
		client.CloseIdleConnections()

		// herald's mobile channel.
		runtime.GC()
		pushtest.ResetPeakRSS()
		before := peer.AcceptedCount()
		ac, err := apns.New(apns.Config{Endpoint: peer.URL(), Key: p8, KeyID: "KEY", TeamID: "TEAM", Topic: "com.example.app",
			Client: peer.Client(true), Concurrency: benchConcurrency})
		if err != nil {
			b.Fatal(err)
		}
		ch, err := mobile.New(mobile.Config{APNs: ac, Store: st, Workers: benchConcurrency})
		if err != nil {
			b.Fatal(err)
		}
		rate := deliverAll(b, fmt.Sprintf("bench-%d", iter), ch, func() int { return peer.AcceptedCount() - before })
		b.ReportMetric(ceil, "ceiling-req/s")
		b.ReportMetric(ceilRSS, "ceiling-peak-RSS-MiB")
		b.ReportMetric(rate, "pushes/s")
		b.ReportMetric(pushtest.PeakRSSMiB(), "peak-RSS-MiB")
		b.ReportMetric(rate/ceil, "ratio")
	}
}

// BenchmarkFCM is BenchmarkAPNs for FCM HTTP v1 (OAuth2 token cached).
func BenchmarkFCM(b *testing.B) {
	sa, creds := pushtest.ServiceAccount("bench", "")
	peer := pushtest.NewFCMPeer(b, &sa.PublicKey, "bench")
	st := benchStore(b, func(i int) store.Device {
		return store.Device{UserID: fmt.Sprintf("user-%06d", i), Platform: store.PlatformFCM, Token: fmt.Sprintf("fcm-token-%06d", i)}
	})
	for iter := range b.N {
		pushtest.ResetPeakRSS()
		client := peer.Client(false)
		fc, err := fcm.New(fcm.Config{Endpoint: peer.URL(), TokenURL: peer.TokenURL(), Credentials: creds, Client: client, Concurrency: benchConcurrency})
		if err != nil {
			b.Fatal(err)
		}
		tokenHeader := lastAuthorization(b, peer, client, creds)
		ceil := ceiling(b, benchDevices, func(i int) error {
			body := fmt.Appendf(nil, `{"message":{"token":"fcm-token-%06d","notification":{"title":"Training due","body":"Finish the security training by Friday"},"data":{"heraldId":"ceiling-%d"}}}`, i, i)
			return post(client, peer.URL()+"/v1/projects/bench/messages:send", body, http.Header{"Authorization": {tokenHeader}, "Content-Type": {"application/json"}})
		})
		ceilRSS := pushtest.PeakRSSMiB()

		runtime.GC()
		pushtest.ResetPeakRSS()
		before := peer.AcceptedCount()
		ch, err := mobile.New(mobile.Config{FCM: fc, Store: st, Workers: benchConcurrency})
		if err != nil {
			b.Fatal(err)
		}
		rate := deliverAll(b, fmt.Sprintf("bench-%d", iter), ch, func() int { return peer.AcceptedCount() - before })
		b.ReportMetric(ceil, "ceiling-req/s")
		b.ReportMetric(ceilRSS, "ceiling-peak-RSS-MiB")
		b.ReportMetric(rate, "pushes/s")
		b.ReportMetric(pushtest.PeakRSSMiB(), "peak-RSS-MiB")
		b.ReportMetric(rate/ceil, "ratio")
	}
}

// lastAuthorization fetches an access token from the peer's token endpoint
// the way the oauth2 library does, for the ceiling loop.
func lastAuthorization(b *testing.B, peer *pushtest.FCMPeer, client *http.Client, creds []byte) string {
	b.Helper()
	peer.SetKeep(true)
	defer func() { peer.SetKeep(false) }()
	fc, err := fcm.New(fcm.Config{Endpoint: peer.URL(), TokenURL: peer.TokenURL(), Credentials: creds, Client: client})
	if err != nil {
		b.Fatal(err)
	}
	d := store.Device{ID: "warm2", Platform: store.PlatformFCM, Token: "warm2"}
	if err := fc.Send(context.Background(), push.Message{Event: event.Event{ID: "warm2"}, Device: d, ID: "warm2"}); err != nil {
		b.Fatal(err)
	}
	rs := peer.Requests()
	return rs[len(rs)-1].Header.Get("Authorization")
}
