package push_test

import (
	"encoding/json"
	"regexp"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/herald/herald/internal/channel/push"
	"github.com/herald/herald/internal/event"
)

func TestMessageIDIsADeterministicUUID(t *testing.T) {
	a := push.MessageID("event-1", "device-1")
	if a != push.MessageID("event-1", "device-1") {
		t.Fatal("MessageID is not deterministic")
	}
	if !regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-8[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`).MatchString(a) {
		t.Errorf("MessageID = %q, want a lowercase version-8 UUID", a)
	}
	for _, other := range []string{push.MessageID("event-1", "device-2"), push.MessageID("event-2", "device-1"), push.MessageID("event-1d", "evice-1")} {
		if other == a {
			t.Errorf("different (event, device) pairs share id %s", a)
		}
	}
}

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2025, 3, 14, 9, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		in   string
		want time.Duration
	}{
		{"", 0}, {"7", 7 * time.Second}, {" 120 ", 2 * time.Minute}, {"-3", 0}, {"soon", 0},
		{"Fri, 14 Mar 2025 09:00:30 GMT", 30 * time.Second},
		{"Fri, 14 Mar 2025 08:00:00 GMT", 0},
	} {
		if got := push.ParseRetryAfter(tc.in, now); got != tc.want {
			t.Errorf("ParseRetryAfter(%q) = %v, want %v", tc.in, got, tc.want)
		}
	}
}

func TestLocalize(t *testing.T) {
	n := event.Notification{Title: "Training due", Message: "Finish it by Friday",
		Data: json.RawMessage(`{"course":"x","translations":{"fr":{"title":"Formation","message":"Terminez-la vendredi"},"pt-BR":{"message":"Termine até sexta"}}}`)}
	for _, tc := range []struct {
		locale string
		want   push.Text
	}{
		{"", push.Text{Title: "Training due", Message: "Finish it by Friday"}},
		{"fr", push.Text{Title: "Formation", Message: "Terminez-la vendredi"}},
		{"fr-CA", push.Text{Title: "Formation", Message: "Terminez-la vendredi"}},
		{"FR_ca", push.Text{Title: "Formation", Message: "Terminez-la vendredi"}},
		{"pt-br", push.Text{Title: "Training due", Message: "Termine até sexta"}},
		{"pt-PT", push.Text{Title: "Training due", Message: "Finish it by Friday"}},
		{"de", push.Text{Title: "Training due", Message: "Finish it by Friday"}},
	} {
		if got := push.Localize(n, tc.locale); got != tc.want {
			t.Errorf("Localize(%q) = %+v, want %+v", tc.locale, got, tc.want)
		}
	}
	if got := string(push.DeviceData(n)); got != `{"course":"x"}` {
		t.Errorf("DeviceData = %s, want the data without translations", got)
	}
	only := event.Notification{Data: json.RawMessage(`{"translations":{}}`)}
	if got := push.DeviceData(only); got != nil {
		t.Errorf("DeviceData of translations only = %s, want nil", got)
	}
}

func build(t push.Text, lean bool) ([]byte, error) {
	doc := map[string]any{"title": t.Title, "body": t.Message}
	if !lean {
		doc["data"] = strings.Repeat("d", 500)
	}
	return json.Marshal(doc)
}

func TestFitTruncatesOnARuneBoundaryAndStaysValidJSON(t *testing.T) {
	for _, msg := range []string{
		strings.Repeat("é", 3000),
		strings.Repeat("日本語のテキスト", 400),
		strings.Repeat("😀", 2000),
		strings.Repeat("\"quoted\\ ", 700), // escaping grows the JSON
		strings.Repeat("a", 10000),
	} {
		b, err := push.Fit(1024, push.Text{Title: "Title", Message: msg}, build)
		if err != nil {
			t.Fatalf("Fit: %v", err)
		}
		if len(b) > 1024 {
			t.Errorf("payload is %d bytes, limit 1024", len(b))
		}
		var doc map[string]string
		if err := json.Unmarshal(b, &doc); err != nil {
			t.Fatalf("payload is not JSON: %v\n%s", err, b)
		}
		if !utf8.ValidString(doc["body"]) || !strings.HasSuffix(doc["body"], push.Ellipsis) {
			t.Errorf("body is not valid text ending in an ellipsis: %q", doc["body"])
		}
		if doc["title"] != "Title" || doc["data"] == "" {
			t.Errorf("title or data lost while the message could be cut: %v", doc)
		}
		if len(b) < 1024-8 {
			t.Errorf("payload of %d bytes leaves more room than one rune and an ellipsis", len(b))
		}
	}
}

func TestFitLeavesSmallPayloadsAloneAndGoesLeanLast(t *testing.T) {
	b, err := push.Fit(1024, push.Text{Title: "T", Message: "short"}, build)
	if err != nil || !strings.Contains(string(b), `"body":"short"`) {
		t.Fatalf("Fit changed a small payload: %s, %v", b, err)
	}
	// 400 bytes cannot hold the 500-byte data: the lean form is used.
	b, err = push.Fit(400, push.Text{Title: "T", Message: strings.Repeat("x", 1000)}, build)
	if err != nil || len(b) > 400 || strings.Contains(string(b), `"data"`) {
		t.Fatalf("Fit(400) = %s, %v: want a lean payload within 400 bytes", b, err)
	}
	if _, err := push.Fit(5, push.Text{Message: "x"}, build); err == nil {
		t.Fatal("Fit(5) succeeded; nothing fits in 5 bytes")
	}
}

func TestCollapseIdentifiers(t *testing.T) {
	ev := event.IDFor("urn:hr", "42") // 32 hex characters, as every ingested event's id
	if got := push.CollapseID(ev); got != ev {
		t.Errorf("CollapseID(%s) = %s, want the event id", ev, got)
	}
	long := strings.Repeat("x", 65)
	if got := push.CollapseID(long); len(got) > 64 || got != push.CollapseID(long) || got == push.CollapseID(long+"y") {
		t.Errorf("CollapseID of a 65-byte id = %q: want at most 64 bytes, stable, distinct", got)
	}
	topic := regexp.MustCompile(`^[A-Za-z0-9_-]{1,32}$`) // RFC 8030 section 5.4
	for _, id := range []string{ev, "", long, "événement/1"} {
		if got := push.Topic(id); !topic.MatchString(got) || got != push.Topic(id) {
			t.Errorf("Topic(%q) = %q, want up to 32 base64url characters, stable", id, got)
		}
	}
	if push.Topic("a") == push.Topic("b") {
		t.Error("two events share a Topic")
	}
}
