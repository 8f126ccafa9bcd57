package fcm_test

import (
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/herald/herald/internal/channel"
	"github.com/herald/herald/internal/channel/mobile/fcm"
	"github.com/herald/herald/internal/channel/push"
	"github.com/herald/herald/internal/channel/push/pushtest"
	"github.com/herald/herald/internal/event"
	"github.com/herald/herald/internal/store"
)

type bundle struct {
	peer   *pushtest.FCMPeer
	client *fcm.Client
}

func setup(t *testing.T) *bundle {
	t.Helper()
	// The service account's token_uri points elsewhere: the configured
	// TokenURL must win.
	key, creds := pushtest.ServiceAccount("herald-test", "https://oauth2.invalid/token")
	peer := pushtest.NewFCMPeer(t, &key.PublicKey, "herald-test")
	peer.SetKeep(true)
	c, err := fcm.New(fcm.Config{Endpoint: peer.URL(), TokenURL: peer.TokenURL(), Credentials: creds, Client: peer.Client(false)})
	if err != nil {
		t.Fatal(err)
	}
	return &bundle{peer: peer, client: c}
}

func message(eventID string, token string, n event.Notification) push.Message {
	d := store.Device{UserID: "ada", Platform: store.PlatformFCM, Token: token}
	d.ID = store.DeviceID(d.Platform, d.Token)
	return push.Message{Event: event.Event{ID: eventID, Notification: n}, Device: d, ID: push.MessageID(eventID, d.ID), Attempt: 1}
}

func TestSendsAnHTTPv1MessageWithACachedAccessToken(t *testing.T) {
	b := setup(t)
	exp := time.Now().Add(90 * time.Minute)
	n := event.Notification{Title: "Benefits", Message: "Enrollment opened", Category: "hr", Urgency: event.UrgencyHigh, ExpiresAt: &exp,
		Actions: []event.Action{{ID: "more", Title: "Tell me more"}}, Data: json.RawMessage(`{"plan":2}`)}
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Go(func() {
			if err := b.client.Send(t.Context(), message("ev"+string(rune('a'+i)), "tok-1", n)); err != nil {
				t.Errorf("Send: %v (%v)", err, b.peer.Rejected())
			}
		})
	}
	wg.Wait()
	if got := b.peer.TokenFetches(); got != 1 {
		t.Errorf("%d access tokens fetched for 20 sends, want 1 (cached)", got)
	}
	r := b.peer.Requests()[0]
	var req struct {
		Message struct {
			Token        string
			Notification struct{ Title, Body string }
			Data         map[string]string
			Android      struct {
				CollapseKey  *string `json:"collapse_key"`
				Priority     string
				TTL          string
				Notification struct{ Tag string }
			}
			APNs    struct{ Headers map[string]string }
			Webpush struct{ Headers, Notification map[string]string }
		}
	}
	if err := json.Unmarshal(r.Body, &req); err != nil {
		t.Fatal(err)
	}
	m := req.Message
	if m.Token != "tok-1" || m.Notification.Title != "Benefits" || m.Notification.Body != "Enrollment opened" ||
		m.Data["heraldId"] != r.ID || m.Data["eventId"] == "" || m.Data["category"] != "hr" || m.Data["data"] != `{"plan":2}` ||
		!strings.Contains(m.Data["actions"], "Tell me more") {
		t.Errorf("message = %s", r.Body)
	}
	if m.Android.Priority != "HIGH" || !strings.HasSuffix(m.Android.TTL, "s") ||
		m.APNs.Headers["apns-priority"] != "10" || m.Webpush.Headers["Urgency"] != "high" {
		t.Errorf("platform overrides = %+v %+v %+v", m.Android, m.APNs, m.Webpush)
	}
	// A repeat of the send replaces the notification shown on every kind
	// of device; no collapse_key, which would let FCM drop all but four
	// pending notifications of an offline device.
	ev := m.Data["eventId"]
	if m.Android.Notification.Tag != ev || m.APNs.Headers["apns-collapse-id"] != ev || m.Webpush.Notification["tag"] != ev ||
		m.Webpush.Headers["Topic"] != push.Topic(ev) || m.Android.CollapseKey != nil {
		t.Errorf("collapse identifiers: android %+v, apns %v, webpush %+v", m.Android, m.APNs.Headers, m.Webpush)
	}
	if !strings.HasPrefix(r.Header.Get("Authorization"), "Bearer ya29.") {
		t.Errorf("Authorization = %q", r.Header.Get("Authorization"))
	}
}

func TestRefusedAccessTokenIsReplaced(t *testing.T) {
	b := setup(t)
	if err := b.client.Send(t.Context(), message("ev1", "tok", event.Notification{Message: "hi"})); err != nil {
		t.Fatal(err)
	}
	b.peer.RevokeTokens()
	err := b.client.Send(t.Context(), message("ev2", "tok", event.Notification{Message: "hi"}))
	if err == nil || channel.IsPermanent(err) {
		t.Fatalf("send with a revoked token: %v, want a retryable error", err)
	}
	if err := b.client.Send(t.Context(), message("ev2", "tok", event.Notification{Message: "hi"})); err != nil {
		t.Fatalf("retry: %v", err)
	}
	if got := b.peer.TokenFetches(); got != 2 {
		t.Errorf("%d tokens fetched, want 2", got)
	}
}

func TestAnswers(t *testing.T) {
	for _, tc := range []struct {
		name      string
		answer    pushtest.Answer
		retire    string
		permanent bool
		wait      time.Duration
	}{
		{name: "Unregistered", answer: pushtest.Answer{Status: 404, Reason: "UNREGISTERED"}, retire: "UNREGISTERED"},
		{name: "InvalidToken", answer: pushtest.Answer{Status: 400, Reason: "INVALID_ARGUMENT"}, retire: "INVALID_ARGUMENT"},
		{name: "SenderIDMismatch", answer: pushtest.Answer{Status: 403, Reason: "SENDER_ID_MISMATCH"}, retire: "SENDER_ID_MISMATCH"},
		{name: "QuotaExceededWaitsAtLeastAMinute", answer: pushtest.Answer{Status: 429, Reason: "QUOTA_EXCEEDED", RetryAfter: "5"}, wait: time.Minute},
		{name: "QuotaExceededLongRetryAfter", answer: pushtest.Answer{Status: 429, Reason: "QUOTA_EXCEEDED", RetryAfter: "120"}, wait: 2 * time.Minute},
		{name: "UnavailableWithRetryAfter", answer: pushtest.Answer{Status: 503, Reason: "UNAVAILABLE", RetryAfter: "3"}, wait: 3 * time.Second},
		{name: "Unavailable", answer: pushtest.Answer{Status: 503, Reason: "UNAVAILABLE"}},
		{name: "Internal", answer: pushtest.Answer{Status: 500, Reason: "INTERNAL"}},
		{name: "ThirdPartyAuth", answer: pushtest.Answer{Status: 401, Reason: "THIRD_PARTY_AUTH_ERROR"}, permanent: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t)
			b.peer.SetRespond(func(int, *pushtest.Request) pushtest.Answer { return tc.answer })
			err := b.client.Send(t.Context(), message("ev", "tok", event.Notification{Message: "hi"}))
			reason, retired := push.IsRetire(err)
			var ra *channel.RetryAfterError
			switch {
			case err == nil:
				t.Fatal("Send succeeded")
			case tc.retire != "":
				if !retired || !strings.Contains(reason, tc.retire) {
					t.Errorf("err = %v, want retired with %s", err, tc.retire)
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
				if channel.IsPermanent(err) || retired || errors.As(err, &ra) {
					t.Errorf("err = %v, want a plain retryable error", err)
				}
			}
		})
	}
}

func TestPayloadWithin4096Bytes(t *testing.T) {
	b := setup(t)
	n := event.Notification{Title: strings.Repeat("T", 100), Message: strings.Repeat("Ça va? ", 2000)}
	m := message("ev", "tok", n)
	body, err := fcm.Payload(m, time.Now())
	if err != nil || len(body) > fcm.MaxPayload || !json.Valid(body) {
		t.Fatalf("Payload: %d bytes, valid %v, err %v", len(body), json.Valid(body), err)
	}
	if err := b.client.Send(t.Context(), m); err != nil {
		t.Fatalf("peer refused: %v %v", err, b.peer.Rejected())
	}
}

func TestConfigErrors(t *testing.T) {
	if _, err := fcm.New(fcm.Config{}); err == nil {
		t.Error("New without credentials succeeded")
	}
	if _, err := fcm.New(fcm.Config{Credentials: []byte(`{"type":"service_account"}`)}); err == nil {
		t.Error("New with an incomplete service account succeeded")
	}
}

// TestAccessTokenIsRenewedBeforeItExpires: a token with less than five
// minutes left is replaced before use; a fresh one is reused.
func TestAccessTokenIsRenewedBeforeItExpires(t *testing.T) {
	b := setup(t)
	b.peer.TokenLifetime = 4 * time.Minute
	for i := range 3 {
		if err := b.client.Send(t.Context(), message("ev"+string(rune('a'+i)), "tok", event.Notification{Message: "hi"})); err != nil {
			t.Fatal(err)
		}
	}
	if got := b.peer.TokenFetches(); got != 3 {
		t.Errorf("%d tokens fetched for 3 sends with tokens expiring within 5 minutes, want 3", got)
	}
}

// A send repeated after a crash reaches FCM twice but an Android phone
// shows it once: the second notification has the tag of the first.
func TestARepeatedSendShowsOnce(t *testing.T) {
	b := setup(t)
	first, other := message("ev1", "tok", event.Notification{Message: "hi"}), message("ev2", "tok", event.Notification{Message: "hi"})
	for _, m := range []push.Message{first, first, other} {
		if err := b.client.Send(t.Context(), m); err != nil {
			t.Fatal(err)
		}
	}
	if raw, shown := b.peer.Repeats(); raw != 1 || shown != 0 {
		t.Errorf("repeats: raw %d, shown %d; want 1 raw, 0 shown", raw, shown)
	}
	if got := b.peer.Shown(); len(got) != 2 || got[first.ID] != 1 || got[other.ID] != 1 {
		t.Errorf("shown = %v, want each event once", got)
	}
}
