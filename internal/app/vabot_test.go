package app_test

import (
	"bufio"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/herald/herald/internal/app"
	"github.com/herald/herald/internal/channel/vabot"
	"github.com/herald/herald/internal/event"
	"github.com/herald/herald/internal/testenv"
)

// botProject is the Node project of a bot built with the official botbuilder.
var botProject = filepath.Join("..", "channel", "vabot", "testdata", "node")

// needBotbuilder returns the node binary, or skips (fails when CI=true)
// when node or the project's packages are missing.
func needBotbuilder(t *testing.T) string {
	t.Helper()
	node, err := testenv.Node(filepath.Join(botProject, "node_modules", "botbuilder", "package.json"))
	testenv.Need(t, err, "the botbuilder test", "install Node.js 20+ and run: scripts/node-deps.sh")
	return node
}

// TestExternalAssistantReceivesBroadcastEvent: herald in external Virtual
// Assistant mode hands each notification to a bot built with npm botbuilder
// as a BroadcastEvent, and the bot's event handler sees the canonical event
// and the person.
func TestExternalAssistantReceivesBroadcastEvent(t *testing.T) {
	t.Parallel()
	node := needBotbuilder(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, "bot.mjs")
	cmd.Dir = botProject
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	lines := make(chan string, 16)
	go func() {
		sc := bufio.NewScanner(out)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	next := func(what string) string {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatalf("the bot exited before %s", what)
			}
			return l
		case <-time.After(20 * time.Second):
			t.Fatalf("no %s from the bot within 20s", what)
		}
		return ""
	}
	port, ok := strings.CutPrefix(next("listening line"), "listening ")
	if !ok {
		t.Fatalf("unexpected first line from the bot")
	}

	b := setupWith(t, app.Options{Conversation: app.ConversationOptions{Mode: app.ConversationExternal,
		BotEndpoint: "http://127.0.0.1:" + port + "/api/messages"}})
	ans := b.post(t, event.MediaCloudEvent, cloudEvent("va-1", []string{"ada", "grace"}, "Benefits enrolment opens Monday", nil))
	st := b.waitCompleted(t, ans.ids[0])
	if got := st.Channels["conversation"].Outcomes["delivered"]; got != 2 {
		t.Fatalf("conversation delivered = %d, want 2 (status %+v)", got, st)
	}
	seen := map[string]bool{}
	for len(seen) < 2 {
		line := next("broadcast line")
		raw, ok := strings.CutPrefix(line, "broadcast ")
		if !ok {
			t.Fatalf("bot said %q", line)
		}
		var v vabot.Value
		if err := json.Unmarshal([]byte(raw), &v); err != nil {
			t.Fatalf("the bot's handler saw %s: %v", raw, err)
		}
		if v.Event.ID != ans.ids[0] || v.Message != "Benefits enrolment opens Monday" || v.Event.Notification.Title != "Training due" {
			t.Fatalf("the bot's handler saw %+v", v)
		}
		seen[v.UserID] = true
	}
	if !seen["ada"] || !seen["grace"] {
		t.Fatalf("BroadcastEvents for %v, want ada and grace", seen)
	}
}
