package directline_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/herald/herald/internal/activity"
	"github.com/herald/herald/internal/directline"
	"github.com/herald/herald/internal/testenv"
)

// nodeProject is the Node project of the official-client test.
const nodeProject = "testdata/node"

// needNode returns the node binary, or skips the test (fails it when
// CI=true) when node or the project's packages are missing.
func needNode(t *testing.T) string {
	t.Helper()
	how := "install Node.js 20+ and run: npm ci --prefix internal/directline/testdata/node"
	node, err := testenv.Node(
		filepath.Join(nodeProject, "node_modules", "botframework-directlinejs", "package.json"),
		filepath.Join(nodeProject, "node_modules", "ws", "package.json"),
		filepath.Join(nodeProject, "node_modules", "xhr2", "package.json"))
	testenv.Need(t, err, "the DirectLineJS test", how)
	return node
}

// TestOfficialDirectLineJSClient runs the official npm client against the
// server: it connects over the WebSocket, posts, gets its echo and the
// bot's reply, disconnects while the bot writes, and reconnects from its
// watermark to get what it missed; then a polling client (no WebSocket)
// posts and reads by GET (testdata/node/test.mjs).
func TestOfficialDirectLineJSClient(t *testing.T) {
	node := needNode(t)
	b := setup(t)
	// The same server gets a control route through which test.mjs makes
	// the bot write while the client is away.
	control := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var in struct{ ConversationID, Text string }
		if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		ids, err := b.srv.Send(r.Context(), in.ConversationID, activity.Activity{Type: activity.TypeMessage, Text: in.Text})
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		_ = json.NewEncoder(w).Encode(map[string][]string{"ids": ids})
	}))
	t.Cleanup(control.Close)

	var gen directline.Conversation
	if status := b.call(t, "POST", "/tokens/generate", secret, map[string]any{"user": map[string]string{"id": "alice", "name": "Alice"}}, &gen); status != 200 {
		t.Fatalf("generate: %d", status)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, "test.mjs")
	cmd.Dir = nodeProject
	cmd.Env = append(os.Environ(), "DL_DOMAIN="+b.ts.URL+"/v3/directline", "DL_TOKEN="+gen.Token, "DL_CONTROL="+control.URL)
	out, err := cmd.CombinedOutput()
	t.Logf("node test.mjs:\n%s", out)
	if err != nil || !strings.Contains(string(out), "directlinejs: ok") {
		t.Fatalf("node test.mjs failed: %v", err)
	}
	// The bot saw the conversation start for alice, then her message.
	if got := b.bot.next(t); got.Type != activity.TypeConversationUpdate || got.verified != "alice" {
		t.Fatalf("the bot got %+v first", got.Activity)
	}
	for _, want := range []string{"hello", "polling"} {
		if got := b.bot.next(t); got.Type != activity.TypeMessage || got.Text != want || got.From.ID != "alice" {
			t.Fatalf("the bot got %+v, want %q from alice", got.Activity, want)
		}
	}
}
