package app_test

import (
	"context"
	"html/template"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/herald/herald/internal/app"
	"github.com/herald/herald/internal/client"
	"github.com/herald/herald/internal/store"
	"github.com/herald/herald/internal/testenv"
)

// e2eProject is the Node project that drives Web Chat in Chromium.
const e2eProject = "../../web/e2e"

// chromiumPath is Debian's Chromium; the test never downloads a browser.
const chromiumPath = "/usr/bin/chromium"

// needWebChat returns node, or skips the test (fails it when CI=true) when
// node, Chromium or the project's packages are missing.
func needWebChat(t *testing.T) string {
	t.Helper()
	how := "install Node.js 20+ and Chromium (apt-get install -y chromium), then run: npm ci --prefix web/e2e (or scripts/node-deps.sh)"
	node, err := testenv.Node(chromiumPath,
		filepath.Join(e2eProject, "node_modules", "playwright-core", "package.json"),
		filepath.Join(e2eProject, "node_modules", "botframework-webchat", "dist", "webchat.js"))
	testenv.Need(t, err, "the Web Chat browser test", how)
	return node
}

// testArtifacts is where tests leave screenshots for people to look at.
func testArtifacts(t *testing.T) string {
	t.Helper()
	dir, err := filepath.Abs("../../test-artifacts")
	if err != nil {
		t.Fatal(err)
	}
	return dir
}

// runNode runs node script in dir with env added, within timeout, logs
// what it printed and fails t unless it succeeded and printed ok.
func runNode(t *testing.T, node, dir, script, ok string, timeout time.Duration, env ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	start := time.Now()
	cmd := exec.CommandContext(ctx, node, script)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	t.Logf("node %s (%s):\n%s", script, time.Since(start).Round(time.Millisecond), out)
	if err != nil || !strings.Contains(string(out), ok) {
		t.Fatalf("node %s failed: %v", script, err)
	}
}

// webChatPage is the test page: the official Web Chat bundle rendered
// against herald's Direct Line with a token for the user. Its store records
// that Direct Line connected and a summary of what arrived, for webchat.mjs.
var webChatPage = template.Must(template.New("page").Parse(`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>herald - Web Chat end-to-end</title>
<link rel="icon" href="data:,">
<style>html, body { height: 100%; margin: 0; font-family: sans-serif; } #webchat { height: 100%; }</style>
</head>
<body>
<div id="webchat" role="main"></div>
<script src="/webchat.js"></script>
<script>
  const cfg = {{.}};
  window.herald = { connected: false, activities: [] };
  const store = window.WebChat.createStore({}, () => next => action => {
    if (action.type === 'DIRECT_LINE/CONNECT_FULFILLED') window.herald.connected = true;
    if (action.type === 'DIRECT_LINE/INCOMING_ACTIVITY') {
      const a = action.payload.activity;
      window.herald.activities.push({ type: a.type, from: a.from && a.from.id, text: a.text || '',
        attachments: (a.attachments || []).map(x => x.contentType) });
    }
    return next(action);
  });
  window.WebChat.renderWebChat({
    directLine: window.WebChat.createDirectLine({ domain: cfg.Domain, token: cfg.Token }),
    userID: cfg.UserID,
    store
  }, document.getElementById('webchat'));
</script>
</body>
</html>
`))

// TestWebChatInChromiumShowsAProactiveMessage opens the official Web Chat
// (botframework-webchat's prebuilt bundle, served from another loopback
// origin, so Direct Line is used across origins) pointed at herald's
// Direct Line in Debian's Chromium; web/e2e/webchat.mjs says hello, gets
// the assistant's answer, ingests an event for ada, waits for its Adaptive
// Card, screenshots it into test-artifacts/webchat-proactive.png, and
// chooses the card's "Start conversation" (Action.Submit through Web Chat).
// Any page console error fails it.
func TestWebChatInChromiumShowsAProactiveMessage(t *testing.T) {
	node := needWebChat(t)
	t.Parallel()
	const secret = "dl-secret-for-webchat-0123456789"
	b := setupWith(t, app.Options{Conversation: app.ConversationOptions{DirectLineSecret: secret}})

	conv := dlTokenForAda(t, b.url, secret)

	bundle, err := filepath.Abs(filepath.Join(e2eProject, "node_modules/botframework-webchat/dist/webchat.js"))
	if err != nil {
		t.Fatal(err)
	}
	pageData := struct{ Domain, Token, UserID string }{b.url + "/v3/directline", conv.Token, "ada"}
	site := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/":
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			if err := webChatPage.Execute(w, pageData); err != nil {
				t.Errorf("test page: %v", err)
			}
		case "/webchat.js":
			w.Header().Set("Content-Type", "text/javascript; charset=utf-8")
			http.ServeFile(w, r, bundle)
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(site.Close)

	runNode(t, node, e2eProject, "webchat.mjs", "webchat: ok", 60*time.Second,
		"WEBCHAT_PAGE_URL="+site.URL+"/",
		"HERALD_URL="+b.url,
		"HERALD_PRODUCER_KEY="+b.keys[store.RoleProducer],
		"WEBCHAT_USER=ada",
		"WEBCHAT_SCREENSHOT="+filepath.Join(testArtifacts(t), "webchat-proactive.png"),
		"CHROMIUM="+chromiumPath,
	)

	// Herald's side: ada's Web Chat conversation is the one remembered, and
	// choosing the card's action marked the notification read.
	var convs struct {
		Conversations []struct{ ChannelID, ConversationID, State string }
	}
	if err := b.reader.Do(context.Background(), http.MethodGet, client.UserPath("ada", "/conversations"), "", nil, &convs); err != nil {
		t.Fatal(err)
	}
	if len(convs.Conversations) != 1 || convs.Conversations[0].ConversationID != conv.ConversationID ||
		convs.Conversations[0].ChannelID != "directline" || convs.Conversations[0].State != "active" {
		t.Fatalf("ada's conversations = %+v, want the Web Chat one (%s)", convs, conv.ConversationID)
	}
	if p := b.inbox(t, "ada", ""); len(p.Notifications) != 1 || p.Unread != 0 {
		t.Fatalf("ada's inbox = %+v, want one notification, read", p)
	}
}
