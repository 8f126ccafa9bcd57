package web_test

import (
	"encoding/json"
	"os/exec"
	"strings"
	"testing"

	"github.com/herald/herald/internal/channel/push"
	"github.com/herald/herald/internal/channel/webpush"
	"github.com/herald/herald/internal/event"
	"github.com/herald/herald/internal/store"
	"github.com/herald/herald/internal/testenv"
)

// TestServiceWorkerShowsARepeatOnce runs herald's service worker in Node
// with the Notifications API's replace rule and delivers what the webpush
// channel sends: a notification, the same one again (a send repeated after
// a crash), and another. The browser must show two notifications, each
// tagged with its notification's id, the repeat replacing the first
// without alerting again.
func TestServiceWorkerShowsARepeatOnce(t *testing.T) {
	node, err := testenv.Node()
	testenv.Need(t, err, "the service worker test", "install Node.js 20+")
	t.Parallel()
	d := store.Device{UserID: "ada", Platform: store.PlatformWebPush, Token: "https://push.example/sub1"}
	d.ID = store.DeviceID(d.Platform, d.Token)
	payload := func(eventID, message string) string {
		b, err := webpush.Payload(push.Message{Event: event.Event{ID: eventID, Notification: event.Notification{Title: "Desk", Message: message}},
			Device: d, ID: push.MessageID(eventID, d.ID), Attempt: 1})
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	first, second := event.IDFor("urn:t", "1"), event.IDFor("urn:t", "2")
	in, _ := json.Marshal([]string{payload(first, "one"), payload(first, "one"), payload(second, "two")})
	cmd := exec.Command(node, "testdata/sw-harness.mjs", "assets/app/sw.js")
	cmd.Stdin = strings.NewReader(string(in))
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("node: %v\n%s", err, out)
	}
	var got struct {
		Shown []struct {
			Title, Body, Tag string
			Renotify         bool
		}
	}
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatalf("harness output %q: %v", out, err)
	}
	if len(got.Shown) != 2 || got.Shown[0].Tag != first || got.Shown[0].Body != "one" || got.Shown[1].Tag != second ||
		got.Shown[0].Renotify || got.Shown[1].Renotify {
		t.Fatalf("shown = %+v, want the two notifications once each, tagged with their ids, renotify false", got.Shown)
	}
}
