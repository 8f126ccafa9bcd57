package app_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/herald/herald/internal/activity"
	"github.com/herald/herald/internal/app"
	"github.com/herald/herald/internal/bfauth/bfauthtest"
	"github.com/herald/herald/internal/channel/conversation"
	"github.com/herald/herald/internal/client"
	"github.com/herald/herald/internal/connector/connectortest"
	"github.com/herald/herald/internal/event"
	"github.com/herald/herald/internal/store"
)

const testBotAppID = "herald-bot-app"

// dlCall makes one Direct Line request to herald and decodes the answer.
func dlCall(t *testing.T, base, method, path, bearer string, body, out any) int {
	t.Helper()
	var rd io.Reader
	if body != nil {
		raw, _ := json.Marshal(body)
		rd = bytes.NewReader(raw)
	}
	req, _ := http.NewRequest(method, base+"/v3/directline"+path, rd)
	req.Header.Set("Authorization", "Bearer "+bearer)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if out != nil && resp.StatusCode/100 == 2 {
		if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
			t.Fatalf("%s %s: %v", method, path, err)
		}
	}
	return resp.StatusCode
}

// dlConversation is a conversation herald's Direct Line minted a token for.
type dlConversation struct {
	ConversationID string `json:"conversationId"`
	Token          string `json:"token"`
}

// dlTokenForAda mints, with the Direct Line secret, a token for a new
// conversation speaking for ada.
func dlTokenForAda(t *testing.T, base, secret string) dlConversation {
	t.Helper()
	var conv dlConversation
	if code := dlCall(t, base, http.MethodPost, "/tokens/generate", secret, map[string]any{"user": map[string]string{"id": "ada", "name": "Ada"}}, &conv); code != http.StatusOK {
		t.Fatalf("tokens/generate: %d", code)
	}
	return conv
}

type activitySet struct {
	Activities []activity.Activity `json:"activities"`
	Watermark  string              `json:"watermark"`
}

// TestProactiveMessageReachesWebChatThroughDirectLine: a person talks to the
// built-in assistant over herald's Direct Line (as Web Chat does), an event
// for them is ingested, and the notification arrives in that conversation
// as an Adaptive Card; the event's status says delivered.
func TestProactiveMessageReachesWebChatThroughDirectLine(t *testing.T) {
	t.Parallel()
	const secret = "dl-secret-for-tests-0123456789"
	b := setupWith(t, app.Options{Conversation: app.ConversationOptions{DirectLineSecret: secret}})

	conv := dlTokenForAda(t, b.url, secret)
	if code := dlCall(t, b.url, http.MethodPost, "/conversations", conv.Token, nil, nil); code/100 != 2 {
		t.Fatalf("start conversation: %d", code)
	}
	hello := map[string]any{"type": "message", "from": map[string]string{"id": "ada"}, "text": "hi",
		"channelData": map[string]string{"clientActivityID": "c-1"}}
	if code := dlCall(t, b.url, http.MethodPost, "/conversations/"+conv.ConversationID+"/activities", conv.Token, hello, nil); code != http.StatusOK {
		t.Fatalf("post hi: %d", code)
	}
	var convs struct {
		Conversations []struct{ ChannelID, ConversationID, State string }
	}
	if err := b.reader.Do(context.Background(), http.MethodGet, client.UserPath("ada", "/conversations"), "", nil, &convs); err != nil {
		t.Fatal(err)
	}
	if len(convs.Conversations) != 1 || convs.Conversations[0].ConversationID != conv.ConversationID || convs.Conversations[0].State != "active" {
		t.Fatalf("ada's conversations = %+v, want the Direct Line one", convs)
	}

	ans := b.post(t, event.MediaCloudEvent, cloudEvent("dl-1", []string{"ada"}, "Finish Security 101 by Friday",
		map[string]any{"actions": []map[string]string{{"id": "startConversation", "title": "Start conversation"}}}))
	st := b.waitCompleted(t, ans.ids[0])
	if got := st.Channels["conversation"].Outcomes["delivered"]; got != 1 {
		t.Fatalf("conversation delivered = %d, want 1 (status %+v)", got, st)
	}
	var set activitySet
	dlCall(t, b.url, http.MethodGet, "/conversations/"+conv.ConversationID+"/activities", conv.Token, nil, &set)
	var card *activity.Activity
	for i, a := range set.Activities {
		if len(a.Attachments) > 0 {
			card = &set.Activities[i]
		}
	}
	if card == nil || card.Attachments[0].ContentType != activity.AdaptiveCardContentType || !strings.Contains(card.Text, "Finish Security 101") {
		t.Fatalf("the transcript has no notification card: %+v", set.Activities)
	}

	// Choosing "Start conversation" opens the dialog about it.
	choose := map[string]any{"type": "message", "from": map[string]string{"id": "ada"},
		"value": map[string]any{"herald": map[string]string{"action": "startConversation", "eventId": ans.ids[0]}}}
	dlCall(t, b.url, http.MethodPost, "/conversations/"+conv.ConversationID+"/activities", conv.Token, choose, nil)
	eventually(t, 5*time.Second, "the dialog's first message", func() (bool, string) {
		var set activitySet
		dlCall(t, b.url, http.MethodGet, "/conversations/"+conv.ConversationID+"/activities", conv.Token, nil, &set)
		last := set.Activities[len(set.Activities)-1]
		return strings.Contains(last.Text, "Let's talk about this notification") && strings.Contains(last.Text, "Finish Security 101"), last.Text
	})
}

// TestProactiveMessageReachesTeamsThroughTheConnector: Teams installs the
// bot for a person (a signed conversationUpdate at /api/messages), an event
// is ingested, and the card reaches the local Connector with the bot's
// token; when Teams then blocks the bot, the conversation is retired and
// the next event is recorded as unreachable with the reason.
func TestProactiveMessageReachesTeamsThroughTheConnector(t *testing.T) {
	t.Parallel()
	id := bfauthtest.New(t, "msteams")
	teams := connectortest.New(t)
	teams.Token = "bot-token-1"
	b := setupWith(t, app.Options{OutboundAllow: []string{"127.0.0.0/8"}, Conversation: app.ConversationOptions{AppID: testBotAppID, AppPassword: "pw",
		OpenIDMetadataURL: id.MetadataURL(), TokenURL: id.TokenURL()}})

	install := activity.Activity{Type: "conversationUpdate", ChannelID: "msteams", ServiceURL: teams.URL(),
		From:         &activity.ChannelAccount{ID: "29:grace", AADObjectID: "grace"},
		Recipient:    &activity.ChannelAccount{ID: "28:" + testBotAppID},
		Conversation: &activity.ConversationAccount{ID: "a:grace", TenantID: "tenant-1"},
		MembersAdded: []activity.ChannelAccount{{ID: "29:grace", AADObjectID: "grace"}}}
	raw, _ := json.Marshal(install)
	post := func(auth string) int {
		req, _ := http.NewRequest(http.MethodPost, b.url+"/api/messages", bytes.NewReader(raw))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", auth)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := post(""); code != http.StatusUnauthorized {
		t.Fatalf("/api/messages without a token: %d, want 401", code)
	}
	if code := post("Bearer " + id.Sign(t, nil, bfauthtest.ChannelClaims(testBotAppID, teams.URL(), time.Now()))); code != http.StatusOK {
		t.Fatalf("/api/messages: %d", code)
	}

	ans := b.post(t, event.MediaCloudEvent, cloudEvent("teams-1", []string{"grace"}, "Your laptop is ready", nil))
	st := b.waitCompleted(t, ans.ids[0])
	if got := st.Channels["conversation"].Outcomes["delivered"]; got != 1 {
		t.Fatalf("conversation delivered = %d, want 1 (status %+v)", got, st)
	}
	got := teams.In("a:grace")
	if len(got) != 1 || got[0].Conversation.TenantID != "tenant-1" || len(got[0].Attachments) != 1 {
		t.Fatalf("Teams received %+v", got)
	}
	if r := teams.Received()[0]; r.Token != "bot-token-1" {
		t.Fatalf("sent with token %q, want the bot's", r.Token)
	}

	teams.Script("a:grace", connectortest.WritesBlocked)
	ans = b.post(t, event.MediaCloudEvent, cloudEvent("teams-2", []string{"grace"}, "Second", nil))
	st = b.waitCompleted(t, ans.ids[0])
	if got := st.Channels["conversation"].Outcomes["unreachable"]; got != 1 {
		t.Fatalf("after 403 MessageWritesBlocked: outcomes %+v, want unreachable", st.Channels["conversation"])
	}
	var convs struct {
		Conversations []struct{ State, RetiredReason string }
	}
	if err := b.reader.Do(context.Background(), http.MethodGet, client.UserPath("grace", "/conversations"), "", nil, &convs); err != nil {
		t.Fatal(err)
	}
	if len(convs.Conversations) != 1 || convs.Conversations[0].State != "retired" || convs.Conversations[0].RetiredReason != "403 MessageWritesBlocked" {
		t.Fatalf("grace's conversations = %+v", convs)
	}
}

// TestConversationRateLimitsArePredictedAndKept: 60 people in one Teams
// tenant limited to 20 messages a second. The status predicts the finish
// from the limit while delivering; the Connector never sees the limit
// exceeded; sends held back beyond the wait budget are postponed (deferred)
// and still delivered, each once.
func TestConversationRateLimitsArePredictedAndKept(t *testing.T) {
	t.Parallel()
	teams := connectortest.New(t)
	b := setupWith(t, app.Options{OutboundAllow: []string{"127.0.0.0/8"}, Conversation: app.ConversationOptions{TenantRate: 20}})
	var users []string
	for i := range 60 {
		u := fmt.Sprintf("p%02d", i)
		users = append(users, u)
		if _, err := b.app.Store.SaveConversationRef(context.Background(), store.ConversationRef{UserID: u, ChannelID: "msteams",
			ConversationID: "a:" + u, ServiceURL: teams.URL(), TenantID: "tenant-1"}); err != nil {
			t.Fatal(err)
		}
	}
	start := time.Now()
	ans := b.post(t, event.MediaCloudEvent, cloudEvent("rate-1", users, "All-hands at 3pm", nil))
	var st struct {
		State       string
		Predictions map[string]struct {
			Pending   int
			PerSecond float64
			Seconds   float64
		}
		Channels map[string]store.ChannelCounts
	}
	sawPrediction := false
	pollStatus(t, b.reader, ans.ids[0], 30*time.Second, &st, func() bool {
		if p, ok := st.Predictions["conversation"]; ok && p.Pending > 0 && p.PerSecond == 20 && p.Seconds == float64(p.Pending)/20 {
			sawPrediction = true
		}
		return st.State == "completed"
	})
	took := time.Since(start)
	if !sawPrediction {
		t.Error("the status never showed a conversation prediction while delivering")
	}
	if got := st.Channels["conversation"].Outcomes["delivered"]; got != 60 {
		t.Fatalf("delivered %d of 60 (%+v)", got, st.Channels["conversation"])
	}
	recv := teams.Received()
	if len(recv) != 60 {
		t.Fatalf("Teams received %d messages, want 60 (each person once)", len(recv))
	}
	// Tenant limit: no one-second window holds more than the burst (20)
	// plus what refills in it (20).
	for i := range recv {
		n := 0
		for j := i; j < len(recv) && recv[j].At.Sub(recv[i].At) < time.Second; j++ {
			n++
		}
		if n > 40 {
			t.Fatalf("%d messages within one second from message %d, over the tenant limit", n, i)
		}
	}
	// 60 at 20/s after a burst of 20: about 2 s at least.
	if took < 1900*time.Millisecond {
		t.Fatalf("60 messages at 20/s took %s; the limit was not kept", took)
	}
	t.Logf("60 messages at 20/s: %s (predicted by Limits.Predict: %s)", took, conversationPredict(60, 20))
}

func conversationPredict(n int, rate float64) time.Duration {
	return conversation.Limits{PerTenant: rate}.Predict(n)
}

// TestDirectLineTokenFromTheAPI: a page's backend mints a token for the
// signed-in person with its key; the token works for Direct Line and the
// conversation is linked to that person. Without Direct Line the route
// says why.
func TestDirectLineTokenFromTheAPI(t *testing.T) {
	t.Parallel()
	b := setup(t, "")
	var conv struct {
		ConversationID string `json:"conversationId"`
		Token          string `json:"token"`
		ExpiresIn      int    `json:"expires_in"`
	}
	if err := b.reader.Do(context.Background(), http.MethodPost, client.UserPath("lin", "/directline/token"), "application/json", []byte(`{"name":"Lin"}`), &conv); err != nil {
		t.Fatal(err)
	}
	if conv.Token == "" || conv.ConversationID == "" || conv.ExpiresIn != 1800 {
		t.Fatalf("token answer = %+v", conv)
	}
	if code := dlCall(t, b.url, http.MethodPost, "/conversations", conv.Token, nil, nil); code/100 != 2 {
		t.Fatalf("start conversation with the minted token: %d", code)
	}
	// The token names lin: whatever from.id the page sends, the message is lin's.
	msg := map[string]any{"type": "message", "from": map[string]string{"id": "someone-else"}, "text": "hi"}
	if code := dlCall(t, b.url, http.MethodPost, "/conversations/"+conv.ConversationID+"/activities", conv.Token, msg, nil); code != http.StatusOK {
		t.Fatalf("post: %d", code)
	}
	var convs struct {
		Conversations []struct{ ConversationID string }
	}
	b.reader.Do(context.Background(), http.MethodGet, client.UserPath("lin", "/conversations"), "", nil, &convs)
	if len(convs.Conversations) != 1 || convs.Conversations[0].ConversationID != conv.ConversationID {
		t.Fatalf("lin's conversations = %+v", convs)
	}
	b.reader.Do(context.Background(), http.MethodGet, client.UserPath("someone-else", "/conversations"), "", nil, &convs)
	if len(convs.Conversations) != 0 {
		t.Fatalf("the spoofed from.id got a conversation: %+v", convs)
	}

	off := setupWith(t, app.Options{Conversation: app.ConversationOptions{Mode: app.ConversationOff}})
	err := off.reader.Do(context.Background(), http.MethodPost, client.UserPath("lin", "/directline/token"), "application/json", nil, nil)
	if ae, ok := err.(*client.APIError); !ok || ae.Status != http.StatusNotFound {
		t.Fatalf("with Direct Line off: %v, want 404", err)
	}
}

// TestOutboundRequestsStayOutOfHeraldsNetwork: without --outbound-allow, a
// conversation whose serviceUrl points inside herald's network (here
// loopback, as a forged anonymous activity could) is never called; it is
// retired with the reason.
func TestOutboundRequestsStayOutOfHeraldsNetwork(t *testing.T) {
	t.Parallel()
	inside := connectortest.New(t)
	b := setup(t, "")
	if _, err := b.app.Store.SaveConversationRef(context.Background(), store.ConversationRef{UserID: "mallory-target", ChannelID: "msteams",
		ConversationID: "a:1", ServiceURL: inside.URL()}); err != nil {
		t.Fatal(err)
	}
	ans := b.post(t, event.MediaCloudEvent, cloudEvent("ssrf-1", []string{"mallory-target"}, "hello", nil))
	st := b.waitCompleted(t, ans.ids[0])
	if got := st.Channels["conversation"].Outcomes["unreachable"]; got != 1 {
		t.Fatalf("conversation outcomes %+v, want unreachable", st.Channels["conversation"])
	}
	if req, _ := inside.Stats(); req != 0 {
		t.Fatalf("the internal address received %d requests", req)
	}
	var convs struct {
		Conversations []struct{ State, RetiredReason string }
	}
	b.reader.Do(context.Background(), http.MethodGet, client.UserPath("mallory-target", "/conversations"), "", nil, &convs)
	if len(convs.Conversations) != 1 || convs.Conversations[0].RetiredReason != "serviceUrl address not allowed" {
		t.Fatalf("conversations = %+v", convs)
	}
}

// TestAckWaitShorterThanTheConversationWaitIsRefused: a batch may spend up
// to 5 s waiting for Teams' limits, so an AckWait below 10 s would hand it
// to another worker while it is still being sent.
func TestAckWaitShorterThanTheConversationWaitIsRefused(t *testing.T) {
	_, err := app.Open(context.Background(), app.Options{DataDir: t.TempDir(), AckWait: 3 * time.Second})
	if err == nil || !strings.Contains(err.Error(), "--ack-wait 3s is too short") {
		t.Fatalf("Open with --ack-wait 3s = %v, want it refused", err)
	}
}
