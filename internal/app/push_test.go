package app_test

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/herald/herald/internal/app"
	"github.com/herald/herald/internal/auth"
	"github.com/herald/herald/internal/channel/push"
	"github.com/herald/herald/internal/channel/push/pushtest"
	"github.com/herald/herald/internal/channel/webpush"
	"github.com/herald/herald/internal/client"
	"github.com/herald/herald/internal/event"
	"github.com/herald/herald/internal/store"
)

// pushBundle is herald with its push channels pointed at local APNs, FCM
// and Web Push peers, configured the way 'herald serve' is (key files on
// disk, the peers' certificate trusted through the CA file setting).
type pushBundle struct {
	app      *app.App
	admin    *client.Client
	producer *client.Client
	reader   *client.Client
	apns     *pushtest.APNsPeer
	fcm      *pushtest.FCMPeer
	web      *pushtest.WebPushPeer
}

func setupPush(t *testing.T, tweak ...func(*app.Options)) *pushBundle {
	t.Helper()
	dir := t.TempDir()
	key, p8 := pushtest.APNsKey()
	ap := pushtest.NewAPNsPeer(t, &key.PublicKey, "KEYID12345", "TEAMID1234")
	ap.SetKeep(true)
	sa, creds := pushtest.ServiceAccount("herald-e2e", "https://oauth2.invalid/token")
	fp := pushtest.NewFCMPeer(t, &sa.PublicKey, "herald-e2e")
	fp.SetKeep(true)
	wp := pushtest.NewWebPushPeer(t)
	wp.SetKeep(true)
	vapid, err := webpush.GenerateKeys()
	if err != nil {
		t.Fatal(err)
	}
	write := func(name string, data []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	opts := app.Options{DataDir: filepath.Join(dir, "data"), Addr: "127.0.0.1:0", Partitions: 2,
		OutboundAllow: []string{"127.0.0.0/8"}, // the local Web Push peer
		Push: app.PushOptions{
			APNsEndpoint: ap.URL(), APNsKeyFile: write("key.p8", p8), APNsKeyID: "KEYID12345", APNsTeamID: "TEAMID1234", APNsTopic: "com.example.herald",
			FCMEndpoint: fp.URL(), FCMTokenURL: fp.TokenURL(), FCMCredentialsFile: write("sa.json", creds),
			VAPIDPublicKey: vapid.Public, VAPIDPrivateKey: vapid.Private, VAPIDSubject: "mailto:ops@example.com",
			CAFile: ap.WriteCA(t, dir),
		}}
	for _, f := range tweak {
		f(&opts)
	}
	a, err := app.Open(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	addr, err := a.Listen()
	if err != nil {
		t.Fatal(err)
	}
	b := &pushBundle{app: a, apns: ap, fcm: fp, web: wp}
	keys := map[store.Role]string{}
	for _, role := range auth.Roles {
		k, rec, err := auth.NewKey(role, "test", time.Now())
		if err != nil {
			t.Fatal(err)
		}
		if err := a.Store.CreateAPIKey(context.Background(), rec); err != nil {
			t.Fatal(err)
		}
		keys[role] = k
	}
	url := "http://" + addr.String()
	b.admin, b.producer, b.reader = client.New(url, keys[store.RoleAdmin]), client.New(url, keys[store.RoleProducer]), client.New(url, keys[store.RoleReader])
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("herald stopped with an error: %v", err)
		}
	})
	return b
}

type deviceDoc struct {
	ID            string `json:"id"`
	Platform      string `json:"platform"`
	State         string `json:"state"`
	RetiredReason string `json:"retiredReason"`
}

func (b *pushBundle) addDevice(t *testing.T, user string, body any) deviceDoc {
	t.Helper()
	raw, _ := json.Marshal(body)
	var d deviceDoc
	if err := b.admin.Do(context.Background(), http.MethodPost, client.UserPath(user, "/devices"), "application/json", raw, &d); err != nil {
		t.Fatalf("register device: %v", err)
	}
	return d
}

func (b *pushBundle) devices(t *testing.T, user string) []deviceDoc {
	t.Helper()
	var out struct{ Devices []deviceDoc }
	if err := b.reader.Do(context.Background(), http.MethodGet, client.UserPath(user, "/devices"), "", nil, &out); err != nil {
		t.Fatal(err)
	}
	return out.Devices
}

// send posts one CloudEvent and waits until its status is completed.
func (b *pushBundle) send(t *testing.T, id string, users []string, notif map[string]any) map[string]any {
	t.Helper()
	return b.sendWithin(t, 15*time.Second, id, users, notif)
}

func (b *pushBundle) sendWithin(t *testing.T, wait time.Duration, id string, users []string, notif map[string]any) map[string]any {
	t.Helper()
	body, _ := json.Marshal(map[string]any{
		"specversion": "1.0", "id": id, "source": "urn:push-test", "type": "com.example.training.due",
		"data": map[string]any{"audience": map[string]any{"users": users}, "notification": notif},
	})
	resp, err := b.producer.PostEvents(context.Background(), event.MediaCloudEvent, body)
	if err != nil || len(resp.Accepted) != 1 {
		t.Fatalf("post event: %v %+v", err, resp)
	}
	evID := resp.Accepted[0].ID
	var st map[string]any
	pollStatus(t, b.reader, evID, wait, &st, func() bool { return st["state"] == "completed" })
	return st
}

func outcomes(st map[string]any, ch string) map[string]any {
	c, _ := st["channels"].(map[string]any)[ch].(map[string]any)
	o, _ := c["outcomes"].(map[string]any)
	return o
}

// TestPushEndToEnd walks one event through herald to real protocol peers:
// devices registered over HTTP, the event ingested, each peer receives and
// checks its request, the status shows delivered, and a device the
// provider unregisters shows as retired with the reason.
func TestPushEndToEnd(t *testing.T) {
	b := setupPush(t)
	phone := b.addDevice(t, "alice", map[string]any{"platform": "apns", "token": pushtest.HexToken(7), "environment": "sandbox", "locale": "fr-FR"})
	android := b.addDevice(t, "alice", map[string]any{"platform": "fcm", "token": "fcm-alice-1"})
	endpoint, sub := b.web.Subscribe()
	browser := b.addDevice(t, "alice", map[string]any{"platform": "webpush",
		"subscription": map[string]any{"endpoint": endpoint, "keys": map[string]string{"p256dh": sub.P256dh(), "auth": sub.AuthSecret()}}})

	st := b.send(t, "e2e-1", []string{"alice"}, map[string]any{"title": "Training due", "message": "Finish security training by Friday",
		"data": map[string]any{"translations": map[string]any{"fr": map[string]string{"title": "Formation", "message": "Terminez la formation vendredi"}}}})
	for _, ch := range []string{"mobile", "webpush"} {
		if outcomes(st, ch)["delivered"] != 1.0 {
			t.Errorf("%s outcomes = %v, want delivered", ch, outcomes(st, ch))
		}
	}
	evID := event.IDFor("urn:push-test", "e2e-1")
	if got := b.apns.Accepted()[push.MessageID(evID, phone.ID)]; got != 1 {
		t.Errorf("APNs peer accepted the event %d times, want 1 (rejected: %v)", got, b.apns.Rejected())
	}
	if r := b.apns.Requests(); len(r) != 1 || !strings.Contains(string(r[0].Body), `"title":"Formation"`) || r[0].Header.Get("apns-topic") != "com.example.herald" {
		t.Errorf("APNs request: %+v", r)
	}
	if got := b.fcm.Accepted()[push.MessageID(evID, android.ID)]; got != 1 {
		t.Errorf("FCM peer accepted the event %d times, want 1 (rejected: %v)", got, b.fcm.Rejected())
	}
	if got := b.web.Accepted()[push.MessageID(evID, browser.ID)]; got != 1 {
		t.Errorf("Web Push peer accepted the event %d times, want 1 (rejected: %v)", got, b.web.Rejected())
	}

	// Apple says the phone is gone: the next event retires it and the
	// device list says why.
	b.apns.SetRespond(func(int, *pushtest.Request) pushtest.Answer {
		return pushtest.Answer{Status: 410, Reason: "Unregistered", Timestamp: time.Now().UnixMilli()}
	})
	b.send(t, "e2e-2", []string{"alice"}, map[string]any{"message": "second"})
	for _, d := range b.devices(t, "alice") {
		want := "active"
		if d.ID == phone.ID {
			want = "retired"
			if !strings.HasPrefix(d.RetiredReason, "Unregistered since ") {
				t.Errorf("retired reason = %q", d.RetiredReason)
			}
		}
		if d.State != want {
			t.Errorf("device %s (%s) is %s, want %s", d.ID, d.Platform, d.State, want)
		}
	}

	// A person without devices is unreachable, not failed.
	st = b.send(t, "e2e-3", []string{"bob"}, map[string]any{"message": "hello"})
	for _, ch := range []string{"mobile", "webpush"} {
		if outcomes(st, ch)["unreachable"] != 1.0 {
			t.Errorf("bob's %s outcomes = %v, want unreachable", ch, outcomes(st, ch))
		}
	}
}

func TestDeviceRegistrationValidation(t *testing.T) {
	b := setupPush(t)
	for _, tc := range []struct {
		name  string
		body  string
		field string
	}{
		{"UnknownPlatform", `{"platform":"pager","token":"x"}`, "platform"},
		{"APNsTokenNotHex", `{"platform":"apns","token":"` + strings.Repeat("z", 64) + `"}`, "token"},
		{"APNsTokenTooShort", `{"platform":"apns","token":"abcd"}`, "token"},
		{"APNsEnvironment", `{"platform":"apns","token":"` + pushtest.HexToken(1) + `","environment":"staging"}`, "environment"},
		{"WebPushWithoutSubscription", `{"platform":"webpush"}`, "subscription"},
		{"WebPushHTTPEndpoint", `{"platform":"webpush","subscription":{"endpoint":"http://push.example/x","keys":{"p256dh":"` + pushtest.NewSubscriber().P256dh() + `","auth":"BTBZMqHH6r4Tts7J_aSIgg"}}}`, "subscription.endpoint"},
		{"WebPushShortKey", `{"platform":"webpush","subscription":{"endpoint":"https://push.example/x","keys":{"p256dh":"BTBZMqHH6r4Tts7J_aSIgg","auth":"BTBZMqHH6r4Tts7J_aSIgg"}}}`, "subscription.keys.p256dh"},
		{"WebPushMissingAuth", `{"platform":"webpush","subscription":{"endpoint":"https://push.example/x","keys":{"p256dh":"` + pushtest.NewSubscriber().P256dh() + `"}}}`, "subscription.keys.auth"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := b.admin.Do(context.Background(), http.MethodPost, client.UserPath("ada", "/devices"), "application/json", []byte(tc.body), nil)
			ae, ok := err.(*client.APIError)
			if !ok || ae.Status != http.StatusBadRequest {
				t.Fatalf("err = %v, want 400", err)
			}
			found := false
			for _, f := range ae.Problem.Errors {
				found = found || f.Field == tc.field
			}
			if !found {
				t.Errorf("errors %v do not name %s", ae.Problem.Errors, tc.field)
			}
		})
	}
	// A token registered again for another user moves to that user.
	d1 := b.addDevice(t, "ada", map[string]any{"platform": "fcm", "token": "shared-token"})
	d2 := b.addDevice(t, "grace", map[string]any{"platform": "fcm", "token": "shared-token"})
	if d1.ID != d2.ID || len(b.devices(t, "ada")) != 0 || len(b.devices(t, "grace")) != 1 {
		t.Errorf("re-registration did not move the device: %v %v", d1, d2)
	}
	// Only admins register and delete; readers list.
	err := b.reader.Do(context.Background(), http.MethodPost, client.UserPath("ada", "/devices"), "application/json", []byte(`{"platform":"fcm","token":"t"}`), nil)
	if ae, ok := err.(*client.APIError); !ok || ae.Status != http.StatusForbidden {
		t.Errorf("reader registering a device: %v, want 403", err)
	}
	if err := b.admin.Do(context.Background(), http.MethodDelete, client.UserPath("grace", "/devices/"+d2.ID), "", nil, nil); err != nil {
		t.Fatal(err)
	}
	err = b.admin.Do(context.Background(), http.MethodDelete, client.UserPath("grace", "/devices/"+d2.ID), "", nil, nil)
	if ae, ok := err.(*client.APIError); !ok || ae.Status != http.StatusNotFound {
		t.Errorf("deleting twice: %v, want 404", err)
	}
}

func TestHalfConfiguredProviderIsAnError(t *testing.T) {
	_, err := app.Open(context.Background(), app.Options{DataDir: t.TempDir(), Addr: "127.0.0.1:0", Push: app.PushOptions{APNsKeyID: "K"}})
	if err == nil || !strings.Contains(err.Error(), "APNs key file") {
		t.Fatalf("Open with only an APNs key id = %v, want an error naming the key file", err)
	}
}

// TestFlakyProvidersDeliverEachNotificationOnceThroughHerald runs the
// delivery workers (hub, retries with backoff, outcomes) against peers
// failing 20% of calls with 429 or 5xx: every device gets the event
// exactly once, counted by herald's message id, and every person's
// outcome is delivered.
func TestFlakyProvidersDeliverEachNotificationOnceThroughHerald(t *testing.T) {
	b := setupPush(t, func(o *app.Options) { o.MaxAttempts = 20 })
	var calls atomic.Int64
	flaky := func(status int, reason string) func(int, *pushtest.Request) pushtest.Answer {
		return func(n int, _ *pushtest.Request) pushtest.Answer {
			switch calls.Add(1) % 10 {
			case 3:
				return pushtest.Answer{Status: 429, Reason: "TooManyRequests", RetryAfter: "1"}
			case 7:
				return pushtest.Answer{Status: status, Reason: reason}
			}
			return pushtest.Answer{}
		}
	}
	b.apns.SetRespond(flaky(500, "InternalServerError"))
	b.fcm.SetRespond(func(n int, r *pushtest.Request) pushtest.Answer {
		a := flaky(503, "UNAVAILABLE")(n, r)
		if a.Status == 429 {
			a.Status, a.Reason = 503, "UNAVAILABLE"
		}
		return a
	})
	b.web.SetRespond(flaky(503, ""))
	const people = 30
	var users []string
	var want []string
	evID := event.IDFor("urn:push-test", "flaky-1")
	for i := range people {
		u := "flaky-" + strconv.Itoa(i)
		users = append(users, u)
		a := b.addDevice(t, u, map[string]any{"platform": "apns", "token": pushtest.HexToken(1000 + i)})
		f := b.addDevice(t, u, map[string]any{"platform": "fcm", "token": "fcm-flaky-" + strconv.Itoa(i)})
		endpoint, sub := b.web.Subscribe()
		w := b.addDevice(t, u, map[string]any{"platform": "webpush",
			"subscription": map[string]any{"endpoint": endpoint, "keys": map[string]string{"p256dh": sub.P256dh(), "auth": sub.AuthSecret()}}})
		want = append(want, push.MessageID(evID, a.ID), push.MessageID(evID, f.ID), push.MessageID(evID, w.ID))
	}
	st := b.sendWithin(t, 90*time.Second, "flaky-1", users, map[string]any{"message": "Benefits enrollment opened"})
	for _, ch := range []string{"mobile", "webpush"} {
		if got := outcomes(st, ch)["delivered"]; got != float64(people) {
			t.Errorf("%s outcomes = %v, want %d delivered", ch, outcomes(st, ch), people)
		}
	}
	got := map[string]int{}
	for _, p := range []map[string]int{b.apns.Accepted(), b.fcm.Accepted(), b.web.Accepted()} {
		for k, v := range p {
			got[k] += v
		}
	}
	for _, id := range want {
		if got[id] != 1 {
			t.Errorf("message %s accepted %d times, want exactly once", id, got[id])
		}
	}
	if int(calls.Load()) <= len(want) {
		t.Errorf("%d calls for %d messages: the peers never failed", calls.Load(), len(want))
	}
}

// TestWebPushEndpointInsideHeraldsNetworkIsRefused: a subscription whose
// endpoint resolves to an internal address (here the loopback peer, with no
// --outbound-allow) is never called; the device is retired with the reason.
func TestWebPushEndpointInsideHeraldsNetworkIsRefused(t *testing.T) {
	b := setupPush(t, func(o *app.Options) { o.OutboundAllow = nil })
	endpoint, sub := b.web.Subscribe()
	b.addDevice(t, "olga", map[string]any{"platform": "webpush",
		"subscription": map[string]any{"endpoint": endpoint, "keys": map[string]string{"p256dh": sub.P256dh(), "auth": sub.AuthSecret()}}})
	st := b.send(t, "ssrf-push-1", []string{"olga"}, map[string]any{"message": "hello"})
	if got := outcomes(st, "webpush")["unreachable"]; got != 1.0 {
		t.Fatalf("webpush outcomes %v, want unreachable", outcomes(st, "webpush"))
	}
	ds := b.devices(t, "olga")
	if len(ds) != 1 || ds[0].State != "retired" || !strings.Contains(ds[0].RetiredReason, "not allowed") {
		t.Fatalf("devices = %+v", ds)
	}
}
