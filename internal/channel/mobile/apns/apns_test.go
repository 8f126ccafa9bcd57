package apns_test

import (
	"context"
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/herald/herald/internal/channel"
	"github.com/herald/herald/internal/channel/mobile/apns"
	"github.com/herald/herald/internal/channel/push"
	"github.com/herald/herald/internal/channel/push/pushtest"
	"github.com/herald/herald/internal/event"
	"github.com/herald/herald/internal/store"
)

// clock is a settable time for token refresh tests.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

type bundle struct {
	peer   *pushtest.APNsPeer
	client *apns.Client
	clock  *clock
}

func setup(t *testing.T, tweak func(*apns.Config)) *bundle {
	t.Helper()
	key, pemKey := pushtest.APNsKey()
	peer := pushtest.NewAPNsPeer(t, &key.PublicKey, "KEY1234567", "TEAM123456")
	peer.SetKeep(true)
	clk := &clock{t: time.Now()}
	peer.Now = clk.Now
	cfg := apns.Config{Endpoint: peer.URL(), Key: pemKey, KeyID: "KEY1234567", TeamID: "TEAM123456",
		Topic: "com.example.default", Client: peer.Client(true), Now: clk.Now}
	if tweak != nil {
		tweak(&cfg)
	}
	c, err := apns.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return &bundle{peer: peer, client: c, clock: clk}
}

func message(eventID string, d store.Device, n event.Notification) push.Message {
	if d.ID == "" {
		d.ID = store.DeviceID(d.Platform, d.Token)
	}
	return push.Message{Event: event.Event{ID: eventID, Notification: n}, Device: d, ID: push.MessageID(eventID, d.ID), Attempt: 1}
}

func device(n int) store.Device {
	return store.Device{UserID: "ada", Platform: store.PlatformAPNs, Token: pushtest.HexToken(n), Environment: "production"}
}

func TestSendsWhatAPNsExpects(t *testing.T) {
	b := setup(t, nil)
	exp := time.Now().Add(time.Hour).Truncate(time.Second)
	d := device(1)
	d.Topic = "com.example.app"
	n := event.Notification{Title: "Training due", Message: "Finish by Friday", Category: "training", Urgency: event.UrgencyHigh,
		ExpiresAt: &exp, Actions: []event.Action{{ID: "start", Title: "Start conversation"}},
		Data: json.RawMessage(`{"course":"safety-101","translations":{"fr":{"message":"Terminez vendredi"}}}`)}
	m := message("ev1", d, n)
	if err := b.client.Send(t.Context(), m); err != nil {
		t.Fatalf("Send: %v (peer rejected: %v)", err, b.peer.Rejected())
	}
	reqs := b.peer.Requests()
	if len(reqs) != 1 {
		t.Fatalf("peer saw %d requests, want 1", len(reqs))
	}
	r := reqs[0]
	for h, want := range map[string]string{
		"apns-topic": "com.example.app", "apns-push-type": "alert", "apns-priority": "10",
		"apns-expiration": strconv.FormatInt(exp.Unix(), 10), "apns-collapse-id": "ev1", "apns-id": m.ID,
	} {
		if got := r.Header.Get(h); got != want {
			t.Errorf("header %s = %q, want %q", h, got, want)
		}
	}
	if r.JWTHeader["alg"] != "ES256" || r.JWTHeader["kid"] != "KEY1234567" || r.Claims["iss"] != "TEAM123456" {
		t.Errorf("provider token header %v claims %v, want ES256, kid KEY1234567, iss TEAM123456", r.JWTHeader, r.Claims)
	}
	if iat, _ := r.Claims["iat"].(float64); time.Since(time.Unix(int64(iat), 0)) > time.Minute {
		t.Errorf("iat %v is not now", r.Claims["iat"])
	}
	var p struct {
		APS struct {
			Alert             struct{ Title, Body string }
			Sound             string
			InterruptionLevel string `json:"interruption-level"`
		}
		HeraldID string         `json:"heraldId"`
		EventID  string         `json:"eventId"`
		Actions  []event.Action `json:"actions"`
		Data     map[string]any `json:"data"`
	}
	if err := json.Unmarshal(r.Body, &p); err != nil {
		t.Fatal(err)
	}
	if p.APS.Alert.Title != "Training due" || p.APS.Alert.Body != "Finish by Friday" || p.APS.Sound != "default" ||
		p.APS.InterruptionLevel != "time-sensitive" || p.HeraldID != m.ID || p.EventID != "ev1" ||
		len(p.Actions) != 1 || p.Data["course"] != "safety-101" || p.Data["translations"] != nil {
		t.Errorf("payload = %s", r.Body)
	}
}

func TestDefaultTopicLowPriorityLocaleAndSandbox(t *testing.T) {
	var sandboxHits atomic.Int32
	b := setup(t, nil)
	// A second client whose sandbox endpoint is another peer proves the
	// environment picks the host.
	key, pemKey := pushtest.APNsKey()
	sb := pushtest.NewAPNsPeer(t, &key.PublicKey, "K", "T")
	sb.SetRespond(func(int, *pushtest.Request) pushtest.Answer { sandboxHits.Add(1); return pushtest.Answer{} })
	c, err := apns.New(apns.Config{Endpoint: b.peer.URL(), SandboxEndpoint: sb.URL(), Key: pemKey, KeyID: "K", TeamID: "T",
		Topic: "com.example.default", Client: sb.Client(true)})
	if err != nil {
		t.Fatal(err)
	}
	d := device(2)
	d.Environment, d.Locale = "sandbox", "fr-CA"
	n := event.Notification{Title: "Training", Message: "Due", Urgency: event.UrgencyLow,
		Data: json.RawMessage(`{"translations":{"fr":{"title":"Formation","message":"À faire"}}}`)}
	if err := c.Send(t.Context(), message("ev2", d, n)); err != nil {
		t.Fatalf("Send: %v (%v)", err, sb.Rejected())
	}
	if sandboxHits.Load() != 1 {
		t.Fatalf("sandbox peer got %d requests, want 1", sandboxHits.Load())
	}
	sb.SetKeep(true)
	if err := c.Send(t.Context(), message("ev3", d, n)); err != nil {
		t.Fatal(err)
	}
	r := sb.Requests()[0]
	if r.Header.Get("apns-topic") != "com.example.default" || r.Header.Get("apns-priority") != "5" || r.Header.Get("apns-expiration") != "" {
		t.Errorf("headers %v: want the default topic, priority 5, no expiration", r.Header)
	}
	if !strings.Contains(string(r.Body), `"title":"Formation","body":"À faire"`) || !strings.Contains(string(r.Body), `"interruption-level":"passive"`) {
		t.Errorf("payload %s is not the fr translation at passive level", r.Body)
	}
}

func TestAnswers(t *testing.T) {
	for _, tc := range []struct {
		name       string
		answer     pushtest.Answer
		retire     string // reason must contain this
		permanent  bool
		retryAfter time.Duration
	}{
		{name: "Unregistered410WithTimestamp", answer: pushtest.Answer{Status: 410, Reason: "Unregistered", Timestamp: 1741943213000}, retire: "Unregistered since 2025-03-14T09:06:53Z"},
		{name: "TimestampInSeconds", answer: pushtest.Answer{Status: 410, Reason: "Unregistered", Timestamp: 1741943213}, retire: "since 2025-03-14T09:06:53Z"},
		{name: "ExpiredToken", answer: pushtest.Answer{Status: 410, Reason: "ExpiredToken"}, retire: "ExpiredToken"},
		{name: "BadDeviceToken", answer: pushtest.Answer{Status: 400, Reason: "BadDeviceToken"}, retire: "BadDeviceToken"},
		{name: "DeviceTokenNotForTopic", answer: pushtest.Answer{Status: 400, Reason: "DeviceTokenNotForTopic"}, retire: "DeviceTokenNotForTopic"},
		{name: "PayloadTooLarge", answer: pushtest.Answer{Status: 413, Reason: "PayloadTooLarge"}, permanent: true},
		{name: "BadTopic", answer: pushtest.Answer{Status: 400, Reason: "BadTopic"}, permanent: true},
		{name: "TooManyRequestsWithRetryAfter", answer: pushtest.Answer{Status: 429, Reason: "TooManyRequests", RetryAfter: "7"}, retryAfter: 7 * time.Second},
		{name: "TooManyRequests", answer: pushtest.Answer{Status: 429, Reason: "TooManyRequests"}},
		{name: "InternalServerError", answer: pushtest.Answer{Status: 500, Reason: "InternalServerError"}},
		{name: "ServiceUnavailableWithRetryAfter", answer: pushtest.Answer{Status: 503, Reason: "ServiceUnavailable", RetryAfter: "2"}, retryAfter: 2 * time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t, nil)
			b.peer.SetRespond(func(int, *pushtest.Request) pushtest.Answer { return tc.answer })
			err := b.client.Send(t.Context(), message("ev", device(3), event.Notification{Message: "hi"}))
			if err == nil {
				t.Fatal("Send succeeded")
			}
			reason, retired := push.IsRetire(err)
			var ra *channel.RetryAfterError
			switch {
			case tc.retire != "":
				if !retired || !strings.Contains(reason, tc.retire) {
					t.Errorf("err = %v, want the device retired with %q", err, tc.retire)
				}
			case tc.permanent:
				if !channel.IsPermanent(err) || retired {
					t.Errorf("err = %v, want permanent", err)
				}
			case tc.retryAfter > 0:
				if !errors.As(err, &ra) || ra.After != tc.retryAfter {
					t.Errorf("err = %v, want retry after %v", err, tc.retryAfter)
				}
			default:
				if channel.IsPermanent(err) || retired || errors.As(err, &ra) {
					t.Errorf("err = %v, want a plain retryable error", err)
				}
			}
		})
	}
}

func TestSlowAnswerIsRetriedNotLost(t *testing.T) {
	b := setup(t, func(c *apns.Config) { c.Timeout = 100 * time.Millisecond })
	release := make(chan struct{})
	b.peer.SetRespond(func(n int, _ *pushtest.Request) pushtest.Answer {
		if n == 1 {
			<-release
		}
		return pushtest.Answer{}
	})
	defer close(release)
	m := message("ev", device(4), event.Notification{Message: "hi"})
	err := b.client.Send(t.Context(), m)
	if err == nil || channel.IsPermanent(err) || !strings.Contains(err.Error(), "no answer within") {
		t.Fatalf("slow answer: err = %v, want a retryable timeout", err)
	}
	if err := b.client.Send(context.Background(), m); err != nil {
		t.Fatalf("retry: %v", err)
	}
}

func TestProviderTokenIsReusedAndRefreshedWithinAppleWindow(t *testing.T) {
	b := setup(t, nil)
	send := func() string {
		t.Helper()
		b.peer.SetKeep(true)
		if err := b.client.Send(t.Context(), message("ev", device(5), event.Notification{Message: "hi"})); err != nil {
			t.Fatalf("Send: %v (%v)", err, b.peer.Rejected())
		}
		rs := b.peer.Requests()
		return rs[len(rs)-1].Header.Get("authorization")
	}
	first := send()
	b.clock.Add(19 * time.Minute)
	if send() != first {
		t.Error("token renewed before 20 minutes")
	}
	// An ExpiredProviderToken answer before 20 minutes must not renew.
	b.peer.SetRespond(func(n int, _ *pushtest.Request) pushtest.Answer {
		return pushtest.Answer{Status: 403, Reason: "ExpiredProviderToken"}
	})
	err := b.client.Send(t.Context(), message("ev", device(5), event.Notification{Message: "hi"}))
	if err == nil || channel.IsPermanent(err) {
		t.Fatalf("ExpiredProviderToken: err = %v, want retryable", err)
	}
	b.peer.SetRespond(nil)
	if send() != first {
		t.Error("token renewed before 20 minutes after ExpiredProviderToken")
	}
	b.clock.Add(31 * time.Minute) // 50 minutes old
	second := send()
	if second == first {
		t.Error("token not renewed at 50 minutes (Apple rejects it after 60)")
	}
}

func TestPayloadStaysWithin4096Bytes(t *testing.T) {
	b := setup(t, nil)
	long := strings.Repeat("Ünïcödé text with emoji 😀 and \"quotes\" ", 400)
	n := event.Notification{Title: "Title", Message: long, Data: json.RawMessage(`{"k":"` + strings.Repeat("v", 1000) + `"}`)}
	m := message("ev", device(6), n)
	body, err := apns.Payload(m)
	if err != nil {
		t.Fatal(err)
	}
	if len(body) > apns.MaxPayload {
		t.Fatalf("payload is %d bytes", len(body))
	}
	var p struct {
		APS struct{ Alert struct{ Body string } }
	}
	if err := json.Unmarshal(body, &p); err != nil {
		t.Fatalf("payload is not JSON: %v", err)
	}
	if !utf8.ValidString(p.APS.Alert.Body) || !strings.HasSuffix(p.APS.Alert.Body, push.Ellipsis) || !strings.HasPrefix(long, strings.TrimSuffix(p.APS.Alert.Body, push.Ellipsis)) {
		t.Errorf("body was not cut cleanly: ...%q", p.APS.Alert.Body[max(0, len(p.APS.Alert.Body)-40):])
	}
	if err := b.client.Send(t.Context(), m); err != nil {
		t.Fatalf("peer refused the truncated payload: %v %v", err, b.peer.Rejected())
	}
}

func TestConfigErrorsNameWhatIsMissing(t *testing.T) {
	_, err := apns.New(apns.Config{})
	if err == nil || !strings.Contains(err.Error(), "key file, key id, team id") {
		t.Errorf("New(empty) = %v", err)
	}
	_, err = apns.New(apns.Config{Key: []byte("nope"), KeyID: "k", TeamID: "t"})
	if err == nil || !strings.Contains(err.Error(), ".p8") {
		t.Errorf("New(bad key) = %v", err)
	}
}

// A send repeated after a crash (APNs accepted it, herald had not recorded
// it) reaches APNs twice but shows once: same apns-id, same collapse id.
func TestARepeatedSendShowsOnce(t *testing.T) {
	b := setup(t, nil)
	n := event.Notification{Message: "Badge ready"}
	first, other := message("ev1", device(1), n), message("ev2", device(1), n)
	for _, m := range []push.Message{first, first, other} {
		if err := b.client.Send(t.Context(), m); err != nil {
			t.Fatal(err)
		}
	}
	rs := b.peer.Requests()
	if rs[0].Header.Get("apns-id") != rs[1].Header.Get("apns-id") || rs[0].Collapse != "ev1" || rs[1].Collapse != "ev1" {
		t.Errorf("repeat: apns-id %s then %s, collapse ids %q %q", rs[0].Header.Get("apns-id"), rs[1].Header.Get("apns-id"), rs[0].Collapse, rs[1].Collapse)
	}
	if raw, shown := b.peer.Repeats(); raw != 1 || shown != 0 {
		t.Errorf("repeats: raw %d, shown %d; want 1 raw, 0 shown", raw, shown)
	}
	if got := b.peer.Shown(); got[first.ID] != 1 || got[other.ID] != 1 {
		t.Errorf("shown = %v, want each event once", got)
	}
}
