package directline_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/herald/herald/internal/activity"
	"github.com/herald/herald/internal/directline"
	"github.com/herald/herald/internal/store"
)

func TestGenerateTokenStartsNothingAndSpeaksForItsUser(t *testing.T) {
	b := setup(t)
	var gen directline.Conversation
	body := map[string]any{"user": map[string]string{"id": "alice", "name": "Alice"}}
	if status := b.call(t, "POST", "/tokens/generate", secret, body, &gen); status != http.StatusOK {
		t.Fatalf("generate: status %d", status)
	}
	if gen.ConversationID == "" || gen.Token == "" || gen.ExpiresIn != 1800 || gen.StreamURL != "" {
		t.Fatalf("generate answered %+v", gen)
	}
	if _, err := b.st.Transcript(context.Background(), gen.ConversationID); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("generate created the conversation (err %v); it must not start it", err)
	}
	if status, code := b.errorCode(t, "GET", "/conversations/"+gen.ConversationID+"/activities", gen.Token, nil); status != 404 || code != directline.CodeNotFound {
		t.Fatalf("reading a conversation not started: %d %s, want 404 NotFound", status, code)
	}

	var conv directline.Conversation
	if status := b.call(t, "POST", "/conversations", gen.Token, nil, &conv); status != http.StatusCreated {
		t.Fatalf("start with the token: status %d, want 201", status)
	}
	if conv.ConversationID != gen.ConversationID || conv.Token == "" || conv.ExpiresIn != 1800 {
		t.Fatalf("start answered %+v", conv)
	}
	cu := b.bot.next(t)
	if cu.Type != activity.TypeConversationUpdate || len(cu.MembersAdded) != 2 || cu.MembersAdded[1].ID != "alice" || cu.MembersAdded[0].ID != "herald" {
		t.Fatalf("the bot got %+v, want conversationUpdate adding the bot and alice", cu.Activity)
	}
	if cu.verified != "alice" || !cu.ok {
		t.Fatalf("VerifiedUser = %q %v, want alice", cu.verified, cu.ok)
	}
	tr, err := b.st.Transcript(context.Background(), conv.ConversationID)
	if err != nil || tr.UserID != "alice" {
		t.Fatalf("transcript %+v, %v: want it to belong to alice", tr, err)
	}
	if status := b.call(t, "POST", "/conversations", gen.Token, nil, &conv); status != http.StatusOK {
		t.Fatalf("starting it again: status %d, want 200", status)
	}

	// The token's user wins over the from.id its bearer puts.
	id := b.post(t, conv.ConversationID, gen.Token, map[string]any{"type": "message", "text": "hi", "from": map[string]string{"id": "mallory"}})
	got := b.bot.next(t)
	if got.ID != id || got.From.ID != "alice" || got.From.Name != "Alice" || got.From.Role != "user" || got.verified != "alice" {
		t.Fatalf("the bot got %+v from %+v (verified %q), want id %s from alice", got.Activity, got.From, got.verified, id)
	}
}

func TestRefresh(t *testing.T) {
	b := setup(t)
	var gen, ref directline.Conversation
	b.call(t, "POST", "/tokens/generate", secret, map[string]any{"user": map[string]string{"id": "alice"}}, &gen)
	b.clock.Advance(20 * time.Minute)
	if status := b.call(t, "POST", "/tokens/refresh", gen.Token, nil, &ref); status != http.StatusOK {
		t.Fatalf("refresh: status %d", status)
	}
	if ref.ConversationID != gen.ConversationID || ref.Token == gen.Token || ref.ExpiresIn != 1800 {
		t.Fatalf("refresh answered %+v", ref)
	}
	b.clock.Advance(20 * time.Minute) // the first token has expired, the refreshed one not
	if status, code := b.errorCode(t, "POST", "/conversations", gen.Token, nil); status != 403 || code != directline.CodeTokenExpired {
		t.Fatalf("old token: %d %s, want 403 TokenExpired", status, code)
	}
	if status := b.call(t, "POST", "/conversations", ref.Token, nil, nil); status != http.StatusCreated {
		t.Fatalf("refreshed token: status %d, want 201", status)
	}
	if got := b.bot.next(t); got.verified != "alice" {
		t.Fatalf("the refreshed token lost its user: %+v", got)
	}
	if status, code := b.errorCode(t, "POST", "/tokens/refresh", secret, nil); status != 400 || code != directline.CodeBadArgument {
		t.Fatalf("refreshing the secret: %d %s, want 400", status, code)
	}
	if status, code := b.errorCode(t, "POST", "/tokens/generate", ref.Token, nil); status != 403 || code != directline.CodeForbidden {
		t.Fatalf("generate with a token: %d %s, want 403", status, code)
	}
}

func TestAuthorization(t *testing.T) {
	b := setup(t)
	alice := b.start(t, "alice")
	bob := b.start(t, "bob")
	var gen directline.Conversation
	b.call(t, "POST", "/tokens/generate", secret, nil, &gen)
	forged := strings.TrimSuffix(alice.Token, alice.Token[len(alice.Token)-4:]) + "AAAA"

	acts := "/conversations/" + alice.ConversationID + "/activities"
	for _, tc := range []struct {
		name, method, path, header string
		status                     int
		code                       string
	}{
		{"no header", "GET", acts, "", 401, directline.CodeUnauthorized},
		{"not bearer", "GET", acts, "Basic " + secret, 401, directline.CodeUnauthorized},
		{"empty bearer", "GET", acts, "Bearer ", 401, directline.CodeUnauthorized},
		{"wrong secret", "GET", acts, "Bearer not-the-secret", 403, directline.CodeForbidden},
		{"forged token", "GET", acts, "Bearer " + forged, 403, directline.CodeForbidden},
		{"token of another conversation", "GET", acts, "Bearer " + bob.Token, 403, directline.CodeForbidden},
		{"post with another's token", "POST", acts, "Bearer " + gen.Token, 403, directline.CodeForbidden},
		{"reconnect with another's token", "GET", "/conversations/" + alice.ConversationID, "Bearer " + bob.Token, 403, directline.CodeForbidden},
		{"start without credential", "POST", "/conversations", "", 401, directline.CodeUnauthorized},
		{"own token", "GET", acts, "Bearer " + alice.Token, 200, ""},
		{"secret", "GET", acts, "Bearer " + secret, 200, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest(tc.method, b.ts.URL+"/v3/directline"+tc.path, strings.NewReader(`{"type":"message","from":{"id":"x"}}`))
			if tc.header != "" {
				req.Header.Set("Authorization", tc.header)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var e activity.ErrorResponse
			_ = json.NewDecoder(resp.Body).Decode(&e)
			if resp.StatusCode != tc.status || e.Error.Code != tc.code {
				t.Fatalf("%d %q, want %d %q", resp.StatusCode, e.Error.Code, tc.status, tc.code)
			}
			if tc.code != "" && e.Error.Message == "" {
				t.Fatal("the error has no message")
			}
		})
	}

	b.clock.Advance(31 * time.Minute)
	if status, code := b.errorCode(t, "GET", acts, alice.Token, nil); status != 403 || code != directline.CodeTokenExpired {
		t.Fatalf("expired token: %d %s, want 403 TokenExpired", status, code)
	}
	if status, code := b.errorCode(t, "POST", "/tokens/refresh", alice.Token, nil); status != 403 || code != directline.CodeTokenExpired {
		t.Fatalf("refreshing an expired token: %d %s, want 403 TokenExpired", status, code)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, resp, err := websocket.Dial(ctx, alice.StreamURL, nil)
	if err == nil || resp == nil || resp.StatusCode != 403 {
		t.Fatalf("stream with an expired token: %v %v, want 403", resp, err)
	}
	if status := b.call(t, "GET", acts, secret, nil, nil); status != 200 {
		t.Fatalf("the secret does not expire: %d", status)
	}
}

func TestStartAndReconnect(t *testing.T) {
	b := setup(t)
	conv := b.start(t, "alice")
	u, err := url.Parse(conv.StreamURL)
	if err != nil {
		t.Fatal(err)
	}
	wantPrefix := "ws://" + strings.TrimPrefix(b.ts.URL, "http://") + "/v3/directline/conversations/" + conv.ConversationID + "/stream"
	if !strings.HasPrefix(conv.StreamURL, wantPrefix) || u.Query().Get("t") == "" || u.Query().Get("watermark") != "0" {
		t.Fatalf("streamUrl %s, want %s?t=...&watermark=0", conv.StreamURL, wantPrefix)
	}
	b.post(t, conv.ConversationID, conv.Token, map[string]any{"type": "message", "text": "one"})
	b.bot.next(t)

	var re directline.Conversation
	if status := b.call(t, "GET", "/conversations/"+conv.ConversationID+"?watermark=1", conv.Token, nil, &re); status != 200 {
		t.Fatalf("reconnect: status %d", status)
	}
	if re.ConversationID != conv.ConversationID || re.Token == "" || !strings.Contains(re.StreamURL, "watermark=1") {
		t.Fatalf("reconnect answered %+v", re)
	}
	// The stream replays from the watermark: the bot's reply (Seq 2) only.
	c := dial(t, re.StreamURL)
	acts := decode(t, frame(t, c, 5*time.Second))
	if len(acts) != 1 || acts[0].Text != "echo: one" || acts[0].ID != directline.ActivityID(conv.ConversationID, 2) {
		t.Fatalf("replay from watermark 1: %+v", acts)
	}
	c.Close(websocket.StatusNormalClosure, "")

	// Without a watermark, the stream starts at the current end.
	if status := b.call(t, "GET", "/conversations/"+conv.ConversationID, conv.Token, nil, &re); status != 200 || !strings.Contains(re.StreamURL, "watermark=2") {
		t.Fatalf("reconnect without watermark: %d %s", status, re.StreamURL)
	}
	if status, code := b.errorCode(t, "GET", "/conversations/nope?watermark=1", secret, nil); status != 404 || code != directline.CodeNotFound {
		t.Fatalf("reconnect to an unknown conversation: %d %s, want 404", status, code)
	}
	if status, code := b.errorCode(t, "GET", "/conversations/"+conv.ConversationID+"?watermark=abc", secret, nil); status != 400 || code != directline.CodeBadArgument {
		t.Fatalf("bad watermark: %d %s, want 400", status, code)
	}
}

func TestPostAndGetWithWatermarks(t *testing.T) {
	b := setup(t, func(c *directline.Config) { c.PublicURL = "https://herald.example.com/" })
	conv := b.start(t, "alice")
	path := "/conversations/" + conv.ConversationID + "/activities"

	id := b.post(t, conv.ConversationID, conv.Token, map[string]any{"type": "message", "text": "hello", "channelId": "webchat", "id": "client-id"})
	if want := conv.ConversationID + "|0000001"; id != want {
		t.Fatalf("id %q, want %q", id, want)
	}
	got := b.bot.next(t)
	if got.ChannelID != "directline" || got.ServiceURL != "https://herald.example.com" || got.Conversation.ID != conv.ConversationID ||
		got.Recipient == nil || got.Recipient.ID != "herald" || got.Timestamp == nil || !got.Timestamp.Equal(b.clock.Now()) {
		t.Fatalf("the bot got %+v", got.Activity)
	}
	b.post(t, conv.ConversationID, conv.Token, map[string]any{"type": "typing"})
	if got := b.bot.next(t); got.Type != activity.TypeTyping {
		t.Fatalf("the bot got %q, want the client's typing", got.Type)
	}

	var set directline.ActivitySet
	if status := b.call(t, "GET", path, conv.Token, nil, &set); status != 200 {
		t.Fatalf("get: %d", status)
	}
	acts := decode(t, set)
	if set.Watermark != "2" || len(acts) != 2 || acts[0].Text != "hello" || acts[1].Text != "echo: hello" {
		t.Fatalf("get without watermark: %s %+v (typing must not be stored)", set.Watermark, acts)
	}
	if acts[0].ID != id || acts[1].ID != conv.ConversationID+"|0000002" || acts[1].ReplyToID != id || acts[1].From.ID != "herald" || acts[1].From.Role != "bot" {
		t.Fatalf("ids and senders: %+v", acts)
	}
	if status := b.call(t, "GET", path+"?watermark=2", conv.Token, nil, &set); status != 200 || len(set.Activities) != 0 || set.Watermark != "2" {
		t.Fatalf("get after the last watermark: %d %+v", status, set)
	}
	b.post(t, conv.ConversationID, conv.Token, map[string]any{"type": "event", "name": "opened", "value": map[string]int{"n": 1}})
	b.bot.next(t)
	if b.call(t, "GET", path+"?watermark=2", conv.Token, nil, &set); set.Watermark != "3" || len(set.Activities) != 1 {
		t.Fatalf("get after watermark 2: %+v", set)
	}
	if status, code := b.errorCode(t, "GET", path+"?watermark=-1", conv.Token, nil); status != 400 || code != directline.CodeBadArgument {
		t.Fatalf("negative watermark: %d %s", status, code)
	}
	for _, bad := range []string{`[]`, `{"text":"no type"}`, `{"type":"conversationUpdate"}`, `{"type":"message","text":1}`} {
		var raw json.RawMessage = json.RawMessage(bad)
		if status, code := b.errorCode(t, "POST", path, conv.Token, raw); status != 400 || code != directline.CodeBadArgument {
			t.Errorf("post %s: %d %s, want 400 BadArgument", bad, status, code)
		}
	}
	big := map[string]any{"type": "message", "text": strings.Repeat("x", directline.DefaultMaxActivityBytes)}
	if status, code := b.errorCode(t, "POST", path, conv.Token, big); status != 413 || code != directline.CodeMessageSizeTooBig {
		t.Fatalf("huge activity: %d %s, want 413", status, code)
	}
}

func TestEchoKeepsWhatTheClientSent(t *testing.T) {
	b := setup(t)
	conv := b.start(t, "alice")
	c := dial(t, conv.StreamURL)
	id := b.post(t, conv.ConversationID, conv.Token, map[string]any{
		"type": "message", "text": "hello", "from": map[string]string{"id": "alice", "name": "Alice", "role": "user"},
		"channelData": map[string]string{"clientActivityID": "1700000000000-abc"}, "speak": "hello", "locale": "en-US",
	})
	set := frame(t, c, 5*time.Second)
	if len(set.Activities) < 1 || set.Watermark == "" {
		t.Fatalf("first frame %+v", set)
	}
	var echo map[string]any
	if err := json.Unmarshal(set.Activities[0], &echo); err != nil {
		t.Fatal(err)
	}
	cd, _ := echo["channelData"].(map[string]any)
	if echo["id"] != id || cd["clientActivityID"] != "1700000000000-abc" || echo["speak"] != "hello" || echo["channelId"] != "directline" {
		t.Fatalf("echo %v, want id %s with channelData.clientActivityID and speak kept", echo, id)
	}
}

func TestStreamGetsBotSendWithin100ms(t *testing.T) {
	b := setup(t)
	conv := b.start(t, "alice")
	c := dial(t, conv.StreamURL)
	// The socket is registered once the server has flushed the (empty)
	// history; a first Send and its frame prove it.
	if _, err := b.srv.Send(context.Background(), conv.ConversationID, activity.Activity{Type: "message", Text: "warm-up"}); err != nil {
		t.Fatal(err)
	}
	frame(t, c, 5*time.Second)

	start := time.Now()
	ids, err := b.srv.Send(context.Background(), conv.ConversationID,
		activity.Activity{Type: "typing"},
		activity.Activity{Type: "message", Text: "your training is due"})
	if err != nil {
		t.Fatal(err)
	}
	typing := frame(t, c, 100*time.Millisecond)
	if acts := decode(t, typing); len(acts) != 1 || acts[0].Type != "typing" || typing.Watermark != "" || acts[0].ID != ids[0] {
		t.Fatalf("typing frame %+v", typing)
	}
	msg := frame(t, c, 100*time.Millisecond-time.Since(start))
	acts := decode(t, msg)
	if len(acts) != 1 || acts[0].Text != "your training is due" || acts[0].ID != ids[1] || msg.Watermark != "2" {
		t.Fatalf("message frame %+v, ids %v", msg, ids)
	}
	t.Logf("Send to frame: %s", time.Since(start))

	var set directline.ActivitySet
	b.call(t, "GET", "/conversations/"+conv.ConversationID+"/activities", conv.Token, nil, &set)
	if len(set.Activities) != 2 {
		t.Fatalf("GET has %d activities, want the 2 messages and no typing", len(set.Activities))
	}
	if _, err := b.srv.Send(context.Background(), "never-started", activity.Activity{Type: "message", Text: "x"}); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("Send to an unknown conversation: %v, want store.ErrNotFound", err)
	}
	if _, err := b.srv.Send(context.Background(), conv.ConversationID, activity.Activity{Type: "conversationUpdate"}); err == nil {
		t.Fatal("Send of conversationUpdate succeeded; clients never receive it")
	}
}

func TestSecondSocketIsClosedWithCollision(t *testing.T) {
	b := setup(t)
	conv := b.start(t, "alice")
	first := dial(t, conv.StreamURL)
	// Reading on the first socket keeps answering pings.
	sets := make(chan directline.ActivitySet, 10)
	go func() {
		for {
			_, data, err := first.Read(context.Background())
			if err != nil {
				close(sets)
				return
			}
			var set directline.ActivitySet
			if len(data) > 0 && json.Unmarshal(data, &set) == nil {
				sets <- set
			}
		}
	}()
	if _, err := b.srv.Send(context.Background(), conv.ConversationID, activity.Activity{Type: "message", Text: "registered"}); err != nil {
		t.Fatal(err)
	}
	<-sets

	second := dial(t, conv.StreamURL)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var err error
	for err == nil {
		_, _, err = second.Read(ctx)
	}
	var ce websocket.CloseError
	if !errors.As(err, &ce) || ce.Reason != directline.CollisionReason || ce.Code != websocket.StatusPolicyViolation {
		t.Fatalf("second socket ended with %v, want close 1008 %q", err, directline.CollisionReason)
	}
	if _, err := b.srv.Send(context.Background(), conv.ConversationID, activity.Activity{Type: "message", Text: "still here"}); err != nil {
		t.Fatal(err)
	}
	select {
	case set, ok := <-sets:
		if !ok || len(set.Activities) != 1 {
			t.Fatalf("first socket got %+v, %v", set, ok)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the first socket stopped receiving")
	}
}

func TestDeadSocketIsReplaced(t *testing.T) {
	b := setup(t)
	conv := b.start(t, "alice")
	first := dial(t, conv.StreamURL) // never read: it cannot answer pings
	if _, err := b.srv.Send(context.Background(), conv.ConversationID, activity.Activity{Type: "message", Text: "x"}); err != nil {
		t.Fatal(err)
	}
	_ = first
	second := dial(t, conv.StreamURL)
	if set := frame(t, second, 10*time.Second); len(set.Activities) != 1 {
		t.Fatalf("the new socket got %+v", set)
	}
}

func TestBotErrorIs502(t *testing.T) {
	b := setup(t)
	conv := b.start(t, "alice")
	status, code := b.errorCode(t, "POST", "/conversations/"+conv.ConversationID+"/activities", conv.Token, map[string]any{"type": "message", "text": "fail"})
	if status != http.StatusBadGateway || code != directline.CodeBotRejectedActivity {
		t.Fatalf("%d %s, want 502 BotRejectedActivity", status, code)
	}
}

func TestUserlessTokenIsNotVerified(t *testing.T) {
	b := setup(t)
	var gen directline.Conversation
	b.call(t, "POST", "/tokens/generate", secret, nil, &gen)
	if status := b.call(t, "POST", "/conversations", gen.Token, map[string]any{"user": map[string]string{"id": "ceo"}}, nil); status != 201 {
		t.Fatalf("start: %d", status)
	}
	cu := b.bot.next(t)
	if cu.ok || len(cu.MembersAdded) != 2 || cu.MembersAdded[1].ID != "ceo" {
		t.Fatalf("conversationUpdate %+v verified=%v: the claimed user must be announced but not verified", cu.MembersAdded, cu.ok)
	}
	tr, _ := b.st.Transcript(context.Background(), gen.ConversationID)
	if tr.UserID != "" {
		t.Fatalf("the transcript belongs to %q, a user nobody vouched for", tr.UserID)
	}
	// A user not announced yet gets a conversationUpdate before the message.
	b.post(t, gen.ConversationID, gen.Token, map[string]any{"type": "message", "text": "hi", "from": map[string]string{"id": "guest"}})
	if got := b.bot.next(t); got.Type != activity.TypeConversationUpdate || len(got.MembersAdded) != 1 || got.MembersAdded[0].ID != "guest" || got.ok {
		t.Fatalf("the bot got %+v first", got.Activity)
	}
	if got := b.bot.next(t); got.Type != activity.TypeMessage || got.From.ID != "guest" || got.ok {
		t.Fatalf("the bot got %+v verified=%v", got.Activity, got.ok)
	}
	if status, code := b.errorCode(t, "POST", "/conversations/"+gen.ConversationID+"/activities", gen.Token, map[string]any{"type": "message"}); status != 400 || code != directline.CodeBadArgument {
		t.Fatalf("no from.id with a userless token: %d %s", status, code)
	}
}

func TestCORS(t *testing.T) {
	preflight := func(b *bundle, origin string) *http.Response {
		req, _ := http.NewRequest("OPTIONS", b.ts.URL+"/v3/directline/conversations", nil)
		req.Header.Set("Origin", origin)
		req.Header.Set("Access-Control-Request-Method", "POST")
		req.Header.Set("Access-Control-Request-Headers", "authorization,content-type,x-ms-bot-agent,x-requested-with")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	b := setup(t)
	resp := preflight(b, "https://intranet.example.com")
	allow := strings.ToLower(resp.Header.Get("Access-Control-Allow-Headers"))
	if resp.StatusCode != 204 || resp.Header.Get("Access-Control-Allow-Origin") != "*" || !strings.Contains(resp.Header.Get("Access-Control-Allow-Methods"), "POST") {
		t.Fatalf("preflight: %d %v", resp.StatusCode, resp.Header)
	}
	for _, h := range []string{"authorization", "content-type", "x-ms-bot-agent", "x-requested-with"} {
		if !strings.Contains(allow, h) {
			t.Errorf("Access-Control-Allow-Headers %q lacks %s", allow, h)
		}
	}
	req, _ := http.NewRequest("POST", b.ts.URL+"/v3/directline/tokens/generate", nil)
	req.Header.Set("Origin", "https://intranet.example.com")
	req.Header.Set("Authorization", "Bearer "+secret)
	r2, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	r2.Body.Close()
	if r2.StatusCode != 200 || r2.Header.Get("Access-Control-Allow-Origin") != "*" {
		t.Fatalf("cross-origin POST: %d %v", r2.StatusCode, r2.Header)
	}

	only := setup(t, func(c *directline.Config) { c.AllowedOrigins = []string{"https://intranet.example.com"} })
	if resp := preflight(only, "https://intranet.example.com"); resp.StatusCode != 204 || resp.Header.Get("Access-Control-Allow-Origin") != "https://intranet.example.com" {
		t.Fatalf("allowed origin: %d %v", resp.StatusCode, resp.Header)
	}
	if resp := preflight(only, "https://evil.example.com"); resp.StatusCode != 403 || resp.Header.Get("Access-Control-Allow-Origin") != "" {
		t.Fatalf("other origin: %d %v", resp.StatusCode, resp.Header)
	}
}

func TestKeepAliveAndShutdown(t *testing.T) {
	b := setup(t, func(c *directline.Config) { c.KeepAlive = 20 * time.Millisecond })
	conv := b.start(t, "alice")
	c := dial(t, conv.StreamURL)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, data, err := c.Read(ctx)
	if err != nil || len(data) != 0 {
		t.Fatalf("first frame on an idle stream: %q %v, want an empty keep-alive", data, err)
	}
	ended := make(chan error, 1)
	go func() { // a client keeps reading, and so answers the close
		var err error
		for err == nil {
			_, _, err = c.Read(ctx)
		}
		ended <- err
	}()
	if err := b.srv.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if err := <-ended; websocket.CloseStatus(err) != websocket.StatusGoingAway {
		t.Fatalf("stream at shutdown ended with %v, want 1001", err)
	}
	ctx2, cancel2 := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel2()
	if _, resp, err := websocket.Dial(ctx2, conv.StreamURL, nil); err == nil || resp == nil || resp.StatusCode != 503 {
		t.Fatalf("stream after shutdown: %v %v, want 503", resp, err)
	}
}

func TestUploadAndSessionAreNotImplemented(t *testing.T) {
	b := setup(t)
	conv := b.start(t, "alice")
	if status, code := b.errorCode(t, "POST", "/conversations/"+conv.ConversationID+"/upload?userId=alice", conv.Token, nil); status != 501 || code != directline.CodeNotImplemented {
		t.Fatalf("upload: %d %s", status, code)
	}
	if status, code := b.errorCode(t, "GET", "/session/getsessionid", conv.Token, nil); status != 501 || code != directline.CodeNotImplemented {
		t.Fatalf("getsessionid: %d %s", status, code)
	}
	if status, code := b.errorCode(t, "GET", "/nothing-here", conv.Token, nil); status != 404 || code != directline.CodeNotFound {
		t.Fatalf("unknown route: %d %s", status, code)
	}
}

func TestNewValidates(t *testing.T) {
	b := setup(t)
	for _, tc := range []struct {
		name string
		cfg  directline.Config
	}{
		{"no store", directline.Config{Bot: b.bot}},
		{"no bot", directline.Config{Transcripts: b.st}},
		{"short tokens", directline.Config{Transcripts: b.st, Bot: b.bot, TokenLifetime: time.Second}},
		{"relative public URL", directline.Config{Transcripts: b.st, Bot: b.bot, PublicURL: "herald.example.com"}},
	} {
		if _, err := directline.New(tc.cfg); err == nil {
			t.Errorf("%s: New accepted %+v", tc.name, tc.cfg)
		}
	}
	// Without a secret, in-process tokens work and nothing else does.
	srv, err := directline.New(directline.Config{Transcripts: b.st, Bot: b.bot})
	if err != nil {
		t.Fatal(err)
	}
	tok, err := srv.GenerateToken(activity.ChannelAccount{ID: "alice"})
	if err != nil || tok.Token == "" || tok.ConversationID == "" {
		t.Fatalf("GenerateToken: %+v %v", tok, err)
	}
	for _, cred := range []string{tok.Token, ""} {
		req := httptest.NewRequest("POST", "http://herald.test/v3/directline/conversations", nil)
		if cred != "" {
			req.Header.Set("Authorization", "Bearer "+cred)
		}
		w := httptest.NewRecorder()
		srv.ServeHTTP(w, req)
		if want := map[bool]int{true: 201, false: 401}[cred != ""]; w.Code != want {
			t.Fatalf("start with %q: %d, want %d", cred, w.Code, want)
		}
	}
}
