package directline_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/herald/herald/internal/activity"
	"github.com/herald/herald/internal/directline"
	"github.com/herald/herald/internal/store/sqlitestore"
)

const secret = "test-secret-0123456789"

// clock is a settable clock for tokens.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// received is one Bot call: the activity and what VerifiedUser said.
type received struct {
	activity.Activity
	verified string
	ok       bool
}

// testBot answers each message "echo: <text>" through Send, fails on the
// text "fail", and records every call.
type testBot struct {
	srv *directline.Server
	got chan received
}

func (b *testBot) OnActivity(ctx context.Context, a activity.Activity) error {
	v, ok := directline.VerifiedUser(ctx)
	b.got <- received{a, v, ok}
	if a.Type != activity.TypeMessage {
		return nil
	}
	if a.Text == "fail" {
		return errors.New("the bot fails on purpose")
	}
	_, err := b.srv.Send(ctx, a.Conversation.ID, activity.Activity{Type: activity.TypeMessage, Text: "echo: " + a.Text, ReplyToID: a.ID})
	return err
}

// next returns the next Bot call, failing after a second.
func (b *testBot) next(t *testing.T) received {
	t.Helper()
	select {
	case r := <-b.got:
		return r
	case <-time.After(5 * time.Second):
		t.Fatal("the bot received nothing")
		return received{}
	}
}

// bundle is what a test needs: a Server on a real SQLite store behind an
// httptest server.
type bundle struct {
	srv   *directline.Server
	ts    *httptest.Server
	st    *sqlitestore.Store
	bot   *testBot
	clock *clock
}

func setup(t testing.TB, edit ...func(*directline.Config)) *bundle {
	t.Helper()
	ctx := context.Background()
	st, err := sqlitestore.Open(ctx, filepath.Join(t.TempDir(), "herald.db"), sqlitestore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	b := &bundle{st: st, bot: &testBot{got: make(chan received, 100)},
		clock: &clock{now: time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)}}
	cfg := directline.Config{Secret: secret, Transcripts: st, Bot: b.bot, Now: b.clock.Now}
	for _, e := range edit {
		e(&cfg)
	}
	b.srv, err = directline.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	b.bot.srv = b.srv
	mux := http.NewServeMux()
	mux.Handle(directline.BasePath, b.srv)
	b.ts = httptest.NewServer(mux)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := b.srv.Shutdown(ctx); err != nil {
			t.Error(err)
		}
		b.ts.Close()
	})
	return b
}

// call makes a Direct Line request with a bearer credential ("" for none)
// and decodes a JSON answer into out (when not nil); it returns the status.
func (b *bundle) call(t *testing.T, method, path, cred string, body, out any) int {
	t.Helper()
	var raw []byte
	if body != nil {
		var err error
		if raw, err = json.Marshal(body); err != nil {
			t.Fatal(err)
		}
	}
	status, data := b.send(t, method, path, cred, raw)
	if out != nil && len(data) > 0 {
		if err := json.Unmarshal(data, out); err != nil {
			t.Fatalf("%s %s: %d %s: %v", method, path, status, data, err)
		}
	}
	return status
}

// send makes a Direct Line request with a bearer credential ("" for none)
// and a JSON body (nil for none); it returns the status and the answer.
func (b *bundle) send(tb testing.TB, method, path, cred string, body []byte) (int, []byte) {
	tb.Helper()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequest(method, b.ts.URL+"/v3/directline"+path, rd)
	if err != nil {
		tb.Fatal(err)
	}
	if cred != "" {
		req.Header.Set("Authorization", "Bearer "+cred)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		tb.Fatal(err)
	}
	return resp.StatusCode, data
}

// errorCode calls and returns the status and the error body's code.
func (b *bundle) errorCode(t *testing.T, method, path, cred string, body any) (int, string) {
	t.Helper()
	var e activity.ErrorResponse
	status := b.call(t, method, path, cred, body, &e)
	return status, e.Error.Code
}

// start starts a conversation with the secret for user and drains the
// conversationUpdate from the bot.
func (b *bundle) start(t *testing.T, user string) directline.Conversation {
	t.Helper()
	var conv directline.Conversation
	body := map[string]any{}
	if user != "" {
		body["user"] = map[string]string{"id": user, "name": strings.ToUpper(user)}
	}
	if status := b.call(t, "POST", "/conversations", secret, body, &conv); status != http.StatusCreated {
		t.Fatalf("start: status %d", status)
	}
	if got := b.bot.next(t); got.Type != activity.TypeConversationUpdate {
		t.Fatalf("the bot got %q first, want conversationUpdate", got.Type)
	}
	return conv
}

// post posts an activity and returns its id.
func (b *bundle) post(t *testing.T, conv, cred string, a map[string]any) string {
	t.Helper()
	var res activity.ResourceResponse
	if status := b.call(t, "POST", "/conversations/"+conv+"/activities", cred, a, &res); status != http.StatusOK {
		t.Fatalf("post: status %d", status)
	}
	return res.ID
}

// dial opens a conversation's stream.
func dial(t *testing.T, streamURL string) *websocket.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, _, err := websocket.Dial(ctx, streamURL, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.CloseNow() })
	return c
}

// frame reads the next non-empty frame within d.
func frame(t *testing.T, c *websocket.Conn, d time.Duration) directline.ActivitySet {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	for {
		_, data, err := c.Read(ctx)
		if err != nil {
			t.Fatalf("no activity set within %s: %v", d, err)
		}
		if len(data) == 0 {
			continue // keep-alive
		}
		var set directline.ActivitySet
		if err := json.Unmarshal(data, &set); err != nil {
			t.Fatalf("frame %s: %v", data, err)
		}
		return set
	}
}

// decode decodes the activities of a set.
func decode(t *testing.T, set directline.ActivitySet) []activity.Activity {
	t.Helper()
	out := make([]activity.Activity, len(set.Activities))
	for i, raw := range set.Activities {
		if err := json.Unmarshal(raw, &out[i]); err != nil {
			t.Fatal(err)
		}
	}
	return out
}
