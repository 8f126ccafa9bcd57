package webpush_test

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/herald/herald/internal/channel"
	"github.com/herald/herald/internal/channel/push"
	"github.com/herald/herald/internal/channel/push/pushtest"
	"github.com/herald/herald/internal/channel/webpush"
	"github.com/herald/herald/internal/event"
	"github.com/herald/herald/internal/store"
)

type bundle struct {
	peer   *pushtest.WebPushPeer
	client *webpush.Client
	keys   webpush.Keys
}

func setup(t *testing.T) *bundle {
	t.Helper()
	keys, err := webpush.GenerateKeys()
	if err != nil {
		t.Fatal(err)
	}
	peer := pushtest.NewWebPushPeer(t)
	peer.SetKeep(true)
	c, err := webpush.NewClient(webpush.Config{Keys: keys, Subject: "mailto:ops@example.com", Client: peer.Client(false)})
	if err != nil {
		t.Fatal(err)
	}
	return &bundle{peer: peer, client: c, keys: keys}
}

func (b *bundle) message(eventID string, n event.Notification) push.Message {
	endpoint, sub := b.peer.Subscribe()
	d := store.Device{UserID: "ada", Platform: store.PlatformWebPush, Token: endpoint, P256dh: sub.P256dh(), Auth: sub.AuthSecret()}
	d.ID = store.DeviceID(d.Platform, d.Token)
	return push.Message{Event: event.Event{ID: eventID, Notification: n}, Device: d, ID: push.MessageID(eventID, d.ID), Attempt: 1}
}

func TestPeerDecryptsWhatHeraldSends(t *testing.T) {
	b := setup(t)
	exp := time.Now().Add(10 * time.Minute)
	n := event.Notification{Title: "Laptop ready", Message: "Pick it up at desk 4", Urgency: event.UrgencyHigh, ExpiresAt: &exp,
		Data: json.RawMessage(`{"desk":4}`)}
	m := b.message("0123456789abcdef0123456789abcdef", n)
	if err := b.client.Send(t.Context(), m); err != nil {
		t.Fatalf("Send: %v (peer rejected: %v)", err, b.peer.Rejected())
	}
	r := b.peer.Requests()[0]
	var got webpush.Notification
	if err := json.Unmarshal(r.Body, &got); err != nil {
		t.Fatal(err)
	}
	if got.ID != m.ID || got.Tag != m.Event.ID || got.Title != "Laptop ready" || got.Message != "Pick it up at desk 4" || string(got.Data) != `{"desk":4}` {
		t.Errorf("decrypted payload = %s", r.Body)
	}
	h := r.Header
	if !strings.HasPrefix(h.Get("Authorization"), "vapid t=") || !strings.Contains(h.Get("Authorization"), ", k="+b.keys.Public) {
		t.Errorf("Authorization = %q, want vapid t=..., k=<public key>", h.Get("Authorization"))
	}
	if h.Get("Crypto-Key") != "" || h.Get("Content-Encoding") != "aes128gcm" || h.Get("Urgency") != "high" || h.Get("Topic") != push.Topic(m.Event.ID) {
		t.Errorf("headers = %v", h)
	}
	if ttl := h.Get("TTL"); ttl != "599" && ttl != "600" {
		t.Errorf("TTL = %s, want the seconds left until expiry", ttl)
	}
	if r.Claims["aud"] != b.peer.URL() || r.Claims["sub"] != "mailto:ops@example.com" {
		t.Errorf("VAPID claims = %v", r.Claims)
	}
	// The VAPID token is reused for the same push service.
	if err := b.client.Send(t.Context(), b.message("ev2", n)); err != nil {
		t.Fatal(err)
	}
	rs := b.peer.Requests()
	if rs[0].Header.Get("Authorization") != rs[1].Header.Get("Authorization") {
		t.Error("a new VAPID token was signed for each message")
	}
}

func TestAnswers(t *testing.T) {
	for _, tc := range []struct {
		name      string
		answer    pushtest.Answer
		retire    bool
		permanent bool
		wait      time.Duration
	}{
		{name: "Created", answer: pushtest.Answer{Status: 201}},
		{name: "NotFound", answer: pushtest.Answer{Status: 404}, retire: true},
		{name: "Gone", answer: pushtest.Answer{Status: 410}, retire: true},
		{name: "TooLarge", answer: pushtest.Answer{Status: 413}, permanent: true},
		{name: "TooManyRequests", answer: pushtest.Answer{Status: 429, RetryAfter: "9"}, wait: 9 * time.Second},
		{name: "Unavailable", answer: pushtest.Answer{Status: 503}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t)
			b.peer.SetRespond(func(int, *pushtest.Request) pushtest.Answer { return tc.answer })
			err := b.client.Send(t.Context(), b.message("ev", event.Notification{Message: "hi"}))
			_, retired := push.IsRetire(err)
			var ra *channel.RetryAfterError
			switch {
			case tc.answer.Status == 201:
				if err != nil {
					t.Errorf("err = %v", err)
				}
			case tc.retire:
				if !retired {
					t.Errorf("err = %v, want retired", err)
				}
			case tc.permanent:
				if !channel.IsPermanent(err) {
					t.Errorf("err = %v, want permanent", err)
				}
			case tc.wait > 0:
				if !errors.As(err, &ra) || ra.After != tc.wait {
					t.Errorf("err = %v, want retry after %v", err, tc.wait)
				}
			default:
				if err == nil || channel.IsPermanent(err) || retired {
					t.Errorf("err = %v, want retryable", err)
				}
			}
		})
	}
}

func TestPlaintextWithin3993Bytes(t *testing.T) {
	b := setup(t)
	m := b.message("ev", event.Notification{Title: "T", Message: strings.Repeat("Grüße aus Köln 🌧 ", 800)})
	plain, err := webpush.Payload(m)
	if err != nil || len(plain) > webpush.MaxPlaintext || !json.Valid(plain) {
		t.Fatalf("Payload: %d bytes, err %v", len(plain), err)
	}
	if err := b.client.Send(t.Context(), m); err != nil {
		t.Fatalf("Send: %v %v", err, b.peer.Rejected())
	}
}

func TestVAPIDConfig(t *testing.T) {
	k, _ := webpush.GenerateKeys()
	other, _ := webpush.GenerateKeys()
	for _, tc := range []struct {
		name string
		cfg  webpush.Config
		want string
	}{
		{"NoKeys", webpush.Config{Subject: "mailto:a@b"}, "herald vapid generate"},
		{"BadSubject", webpush.Config{Keys: k, Subject: "ops@example.com"}, "mailto:"},
		{"MismatchedPair", webpush.Config{Keys: webpush.Keys{Public: other.Public, Private: k.Private}, Subject: "mailto:a@b"}, "does not belong"},
	} {
		if _, err := webpush.NewClient(tc.cfg); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: NewClient = %v, want an error mentioning %q", tc.name, err, tc.want)
		}
	}
}

// A send repeated after a crash reaches the push service twice but the
// browser shows it once (herald's service worker shows it with the event's
// tag); for a browser that is offline, the repeat replaces the pending
// message of the same Topic, so it is even delivered once.
func TestARepeatedSendShowsOnce(t *testing.T) {
	b := setup(t)
	n := event.Notification{Message: "Pick it up at desk 4"}
	online := b.message("ev-online", n)
	offline := b.message("ev-offline", n)
	b.peer.SetOnline(offline.Device.Token, false)
	later := offline
	later.Event.ID, later.ID = "ev-later", push.MessageID("ev-later", offline.Device.ID)
	for _, m := range []push.Message{online, online, offline, offline, later} {
		if err := b.client.Send(t.Context(), m); err != nil {
			t.Fatalf("Send: %v (rejected: %v)", err, b.peer.Rejected())
		}
	}
	if got := b.peer.Pending(offline.Device.Token); got != 2 {
		t.Errorf("%d messages pending for the offline browser, want 2 (the repeat replaced its first send)", got)
	}
	b.peer.SetOnline(offline.Device.Token, true)
	if raw, shown := b.peer.Repeats(); raw != 2 || shown != 0 {
		t.Errorf("repeats: raw %d, shown %d; want 2 raw, 0 shown", raw, shown)
	}
	if got := b.peer.Shown(); len(got) != 3 || got[online.ID] != 1 || got[offline.ID] != 1 || got[later.ID] != 1 {
		t.Errorf("shown = %v, want each of the 3 events once", got)
	}
}
