package mobile_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"sync"
	"testing"

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

// bundle is a mobile channel over a real SQLite store, talking to local
// APNs and FCM peers.
type bundle struct {
	store *sqlitestore.Store
	apns  *pushtest.APNsPeer
	fcm   *pushtest.FCMPeer
	ch    channel.Channel
}

func setup(t *testing.T) *bundle {
	t.Helper()
	st, err := sqlitestore.Open(context.Background(), filepath.Join(t.TempDir(), "herald.db"), sqlitestore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	key, pemKey := pushtest.APNsKey()
	ap := pushtest.NewAPNsPeer(t, &key.PublicKey, "KEY", "TEAM")
	ac, err := apns.New(apns.Config{Endpoint: ap.URL(), Key: pemKey, KeyID: "KEY", TeamID: "TEAM", Topic: "com.example.app", Client: ap.Client(true)})
	if err != nil {
		t.Fatal(err)
	}
	sa, creds := pushtest.ServiceAccount("proj", "")
	fp := pushtest.NewFCMPeer(t, &sa.PublicKey, "proj")
	fc, err := fcm.New(fcm.Config{Endpoint: fp.URL(), TokenURL: fp.TokenURL(), Credentials: creds, Client: fp.Client(false)})
	if err != nil {
		t.Fatal(err)
	}
	ch, err := mobile.New(mobile.Config{APNs: ac, FCM: fc, Store: st, Workers: 32})
	if err != nil {
		t.Fatal(err)
	}
	return &bundle{store: st, apns: ap, fcm: fp, ch: ch}
}

func (b *bundle) register(t *testing.T, d store.Device) store.Device {
	t.Helper()
	got, err := b.store.RegisterDevice(t.Context(), d)
	if err != nil {
		t.Fatal(err)
	}
	return got
}

func apnsDevice(user string, n int) store.Device {
	return store.Device{UserID: user, Platform: store.PlatformAPNs, Token: pushtest.HexToken(n), Environment: "production"}
}

func fcmDevice(user string, n int) store.Device {
	return store.Device{UserID: user, Platform: store.PlatformFCM, Token: fmt.Sprintf("fcm-token-%d", n)}
}

func job(eventID, user string, attempt int) channel.Job {
	return channel.Job{Event: event.Event{ID: eventID, Notification: event.Notification{Title: "T", Message: "M"}}, UserID: user, Attempt: attempt}
}

func TestEveryDeviceOfAPersonGetsTheEvent(t *testing.T) {
	b := setup(t)
	a := b.register(t, apnsDevice("ada", 1))
	f := b.register(t, fcmDevice("ada", 1))
	res := b.ch.Deliver(t.Context(), []channel.Job{job("ev1", "ada", 1)})
	if res[0].Err != nil {
		t.Fatalf("Deliver: %v (apns rejected %v, fcm rejected %v)", res[0].Err, b.apns.Rejected(), b.fcm.Rejected())
	}
	if got := b.apns.Accepted()[push.MessageID("ev1", a.ID)]; got != 1 {
		t.Errorf("APNs got the event %d times, want 1", got)
	}
	if got := b.fcm.Accepted()[push.MessageID("ev1", f.ID)]; got != 1 {
		t.Errorf("FCM got the event %d times, want 1", got)
	}
	// The same job again (a redelivered batch) sends nothing.
	res = b.ch.Deliver(t.Context(), []channel.Job{job("ev1", "ada", 1)})
	if res[0].Err != nil || b.apns.Calls()+b.fcm.Calls() != 2 {
		t.Errorf("redelivery: err %v, %d calls in all, want no new call", res[0].Err, b.apns.Calls()+b.fcm.Calls())
	}
}

func TestAJobRepeatedInOneBatchIsSentOnce(t *testing.T) {
	b := setup(t)
	b.register(t, apnsDevice("ada", 1))
	res := b.ch.Deliver(t.Context(), []channel.Job{job("ev1", "ada", 1), job("ev1", "ada", 1)})
	if res[0].Err != nil || res[1].Err != nil || b.apns.Calls() != 1 {
		t.Errorf("results %v %v after %d calls, want both delivered by one call", res[0].Err, res[1].Err, b.apns.Calls())
	}
}

func TestNoDeviceIsUnreachable(t *testing.T) {
	b := setup(t)
	b.register(t, store.Device{UserID: "ada", Platform: store.PlatformWebPush, Token: "https://push.example/x", P256dh: "x", Auth: "y"})
	res := b.ch.Deliver(t.Context(), []channel.Job{job("ev1", "ada", 1)})
	if !errors.Is(res[0].Err, channel.ErrNoAddress) || !strings.Contains(res[0].Err.Error(), "apns or fcm") {
		t.Errorf("Deliver to a person without a phone = %v, want ErrNoAddress naming the platforms", res[0].Err)
	}
}

func TestRetiredDevicesAreReportedAndSkipped(t *testing.T) {
	b := setup(t)
	b.register(t, apnsDevice("ada", 1))
	b.register(t, fcmDevice("ada", 2))
	b.apns.SetRespond(func(int, *pushtest.Request) pushtest.Answer {
		return pushtest.Answer{Status: 410, Reason: "Unregistered", Timestamp: 1741943213000}
	})
	b.fcm.SetRespond(func(int, *pushtest.Request) pushtest.Answer {
		return pushtest.Answer{Status: 404, Reason: "UNREGISTERED"}
	})
	res := b.ch.Deliver(t.Context(), []channel.Job{job("ev1", "ada", 1)})
	if !errors.Is(res[0].Err, channel.ErrNoAddress) || !strings.Contains(res[0].Err.Error(), "Unregistered since 2025-03-14") ||
		!strings.Contains(res[0].Err.Error(), "UNREGISTERED") {
		t.Fatalf("Deliver = %v, want ErrNoAddress with both reasons", res[0].Err)
	}
	list, err := b.store.ListDevices(t.Context(), "ada")
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range list {
		if d.State() != store.DeviceRetired || d.RetiredReason == "" {
			t.Errorf("device %s (%s) is %s %q, want retired with a reason", d.ID, d.Platform, d.State(), d.RetiredReason)
		}
	}
	res = b.ch.Deliver(t.Context(), []channel.Job{job("ev2", "ada", 1)})
	if !errors.Is(res[0].Err, channel.ErrNoAddress) || b.apns.Calls() != 1 || b.fcm.Calls() != 1 {
		t.Errorf("after retirement: %v with %d+%d calls, want unreachable and no new call", res[0].Err, b.apns.Calls(), b.fcm.Calls())
	}
}

func TestARetrySendsOnlyToDevicesThatMissedTheEvent(t *testing.T) {
	b := setup(t)
	ok := b.register(t, apnsDevice("ada", 1))
	flaky := b.register(t, apnsDevice("ada", 2))
	b.apns.SetRespond(func(_ int, r *pushtest.Request) pushtest.Answer {
		if r.Device == flaky.Token {
			return pushtest.Answer{Status: 429, Reason: "TooManyRequests", RetryAfter: "3"}
		}
		return pushtest.Answer{}
	})
	res := b.ch.Deliver(t.Context(), []channel.Job{job("ev1", "ada", 1)})
	var ra *channel.RetryAfterError
	if !errors.As(res[0].Err, &ra) || ra.After.Seconds() != 3 {
		t.Fatalf("Deliver = %v, want retry after 3s", res[0].Err)
	}
	b.apns.SetRespond(nil)
	res = b.ch.Deliver(t.Context(), []channel.Job{job("ev1", "ada", 2)})
	if res[0].Err != nil {
		t.Fatalf("retry: %v", res[0].Err)
	}
	acc := b.apns.Accepted()
	if acc[push.MessageID("ev1", ok.ID)] != 1 || acc[push.MessageID("ev1", flaky.ID)] != 1 || b.apns.Calls() != 3 {
		t.Errorf("accepted %v over %d calls, want each device once over 3 calls", acc, b.apns.Calls())
	}
}

func TestPermanentFailureOfOneDeviceStillDeliversToThePerson(t *testing.T) {
	b := setup(t)
	b.register(t, apnsDevice("ada", 1))
	b.register(t, fcmDevice("ada", 1))
	b.apns.SetRespond(func(int, *pushtest.Request) pushtest.Answer {
		return pushtest.Answer{Status: 413, Reason: "PayloadTooLarge"}
	})
	res := b.ch.Deliver(t.Context(), []channel.Job{job("ev1", "ada", 1), job("ev1", "bob", 1)})
	if res[0].Err != nil {
		t.Errorf("ada (FCM delivered, APNs 413) = %v, want delivered", res[0].Err)
	}
	if !errors.Is(res[1].Err, channel.ErrNoAddress) {
		t.Errorf("bob (no device) = %v, want unreachable", res[1].Err)
	}
	b.register(t, apnsDevice("cy", 3))
	res = b.ch.Deliver(t.Context(), []channel.Job{job("ev2", "cy", 1)})
	if !channel.IsPermanent(res[0].Err) {
		t.Errorf("cy (only APNs, 413) = %v, want permanent", res[0].Err)
	}
}

// TestFlakyProvidersDeliverExactlyOncePerDevice retries failed jobs, as the
// delivery workers do, against peers that fail 20% of calls with 429 or
// 5xx: in the end every device has every event exactly once.
func TestFlakyProvidersDeliverExactlyOncePerDevice(t *testing.T) {
	b := setup(t)
	const users, events = 150, 4
	var want []string
	for i := range users {
		u := fmt.Sprintf("user-%d", i)
		a := b.register(t, apnsDevice(u, i))
		f := b.register(t, fcmDevice(u, i))
		for e := range events {
			ev := fmt.Sprintf("ev%d", e)
			want = append(want, push.MessageID(ev, a.ID), push.MessageID(ev, f.ID))
		}
	}
	var mu sync.Mutex
	rng := rand.New(rand.NewPCG(1, 2))
	flaky := func(int, *pushtest.Request) pushtest.Answer {
		mu.Lock()
		defer mu.Unlock()
		switch r := rng.Float64(); {
		case r < 0.07:
			return pushtest.Answer{Status: 429, Reason: "TooManyRequests"}
		case r < 0.14:
			return pushtest.Answer{Status: 500, Reason: "InternalServerError"}
		case r < 0.20:
			return pushtest.Answer{Status: 503, Reason: "ServiceUnavailable"}
		}
		return pushtest.Answer{}
	}
	b.apns.SetRespond(flaky)
	b.fcm.SetRespond(func(n int, r *pushtest.Request) pushtest.Answer {
		a := flaky(n, r)
		switch a.Status {
		case 429:
			a.Reason = "UNAVAILABLE" // QUOTA_EXCEEDED would ask for a minute
			a.Status = 503
		case 500:
			a.Reason = "INTERNAL"
		case 503:
			a.Reason = "UNAVAILABLE"
		}
		return a
	})
	var jobs []channel.Job
	for e := range events {
		for i := range users {
			jobs = append(jobs, job(fmt.Sprintf("ev%d", e), fmt.Sprintf("user-%d", i), 1))
		}
	}
	for attempt := 1; len(jobs) > 0; attempt++ {
		if attempt > 20 {
			t.Fatalf("%d jobs still failing after 20 attempts", len(jobs))
		}
		res := b.ch.Deliver(t.Context(), jobs)
		var again []channel.Job
		for i, r := range res {
			if r.Err != nil {
				if channel.IsPermanent(r.Err) || errors.Is(r.Err, channel.ErrNoAddress) {
					t.Fatalf("job %v: %v", jobs[i], r.Err)
				}
				j := jobs[i]
				j.Attempt = attempt + 1
				again = append(again, j)
			}
		}
		jobs = again
	}
	acc := b.apns.Accepted()
	for k, v := range b.fcm.Accepted() {
		acc[k] += v
	}
	if len(acc) != len(want) {
		t.Errorf("%d distinct messages accepted, want %d", len(acc), len(want))
	}
	for _, id := range want {
		if acc[id] != 1 {
			t.Errorf("message %s accepted %d times, want exactly once", id, acc[id])
		}
	}
	if b.apns.Calls()+b.fcm.Calls() <= len(want) {
		t.Errorf("only %d calls for %d messages: the peers did not fail", b.apns.Calls()+b.fcm.Calls(), len(want))
	}
}
