package event

import (
	"net/http"
	"reflect"
	"slices"
	"strings"
	"testing"
)

// binaryRequest is a valid binary-mode CloudEvent: attributes in ce-*
// headers, data in the body.
type binaryRequest struct {
	header http.Header
	body   []byte
}

func validBinary() binaryRequest {
	h := http.Header{}
	h.Set("Ce-Specversion", "1.0")
	h.Set("Ce-Id", "evt-1")
	h.Set("Ce-Source", "/training")
	h.Set("Ce-Type", "com.example.training.due")
	h.Set("Content-Type", "application/json")
	return binaryRequest{header: h, body: []byte(`{"audience":{"users":["u1"]},"notification":{"message":"Your training is due"}}`)}
}

func TestParseBinaryAccepts(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		change func(r *binaryRequest)
		check  func(t *testing.T, ev Event)
	}{
		{name: "minimal", check: func(t *testing.T, ev Event) {
			want := Event{
				ID: IDFor("/training", "evt-1"), Source: "/training", SourceID: "evt-1",
				Type: "com.example.training.due", ReceivedAt: receivedAt,
				Audience:     Audience{Users: []string{"u1"}},
				Notification: Notification{Message: "Your training is due", Urgency: UrgencyNormal},
			}
			if !reflect.DeepEqual(ev, want) {
				t.Errorf("got  %+v\nwant %+v", ev, want)
			}
		}},
		{name: "percent-encoded attributes", change: func(r *binaryRequest) {
			r.header.Set("Ce-Source", "%2Ftraining%20portal")
			r.header.Set("Ce-Id", "evt%3A1+2")
			r.header.Set("Ce-Subject", "J%C3%BCrgen")
			r.body = []byte(`{"notification":{"message":"m"}}`)
		}, check: func(t *testing.T, ev Event) {
			if ev.Source != "/training portal" || ev.SourceID != "evt:1+2" {
				t.Errorf("source %q, id %q; want them percent-decoded, with '+' kept", ev.Source, ev.SourceID)
			}
			if !slices.Equal(ev.Audience.Users, []string{"Jürgen"}) {
				t.Errorf("users = %q; want the decoded subject", ev.Audience.Users)
			}
		}},
		{name: "time", change: func(r *binaryRequest) { r.header.Set("Ce-Time", "2026-01-02T15:04:05Z") }, check: func(t *testing.T, ev Event) {
			if ev.Time.IsZero() {
				t.Error("time not read")
			}
		}},
		{name: "no content type", change: func(r *binaryRequest) { r.header.Del("Content-Type") }},
		{name: "+json content type with parameters", change: func(r *binaryRequest) {
			r.header.Set("Content-Type", "application/vnd.herald+json; charset=utf-8")
		}},
		{name: "extensions", change: func(r *binaryRequest) {
			r.header.Set("Ce-Traceparent", "00-abc-def-01")
			r.header.Set("Ce-Partitionkey", "u1")
			r.header.Set("Ce-"+strings.Repeat("e", 20), "x")
		}},
		{name: "other headers ignored", change: func(r *binaryRequest) {
			r.header.Set("X_Weird Header", "x")
			r.header.Set("Authorization", "Bearer x")
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := validBinary()
			if tc.change != nil {
				tc.change(&r)
			}
			if !HasBinaryHeaders(r.header) {
				t.Error("HasBinaryHeaders = false")
			}
			ev, err := ParseBinary(r.header, r.body, receivedAt)
			if err != nil {
				t.Fatalf("refused: %v", err)
			}
			if ev.ID != IDFor(ev.Source, ev.SourceID) {
				t.Errorf("ID = %s; want IDFor(source, id)", ev.ID)
			}
			if tc.check != nil {
				tc.check(t, ev)
			}
		})
	}
}

func TestParseBinaryRefuses(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		change  func(r *binaryRequest)
		fields  []string
		problem string
	}{
		{"specversion missing", func(r *binaryRequest) { r.header.Del("Ce-Specversion") }, []string{"ce-specversion"}, "required CloudEvents header is missing"},
		{"id missing", func(r *binaryRequest) { r.header.Del("Ce-Id") }, []string{"ce-id"}, "required CloudEvents header is missing"},
		{"source missing", func(r *binaryRequest) { r.header.Del("Ce-Source") }, []string{"ce-source"}, "missing"},
		{"type missing", func(r *binaryRequest) { r.header.Del("Ce-Type") }, []string{"ce-type"}, "missing"},
		{"id empty", func(r *binaryRequest) { r.header.Set("Ce-Id", "") }, []string{"ce-id"}, "missing"},
		{"bad percent-encoding", func(r *binaryRequest) { r.header.Set("Ce-Id", "evt%zz") }, []string{"ce-id"}, "bad percent-encoding"},
		{"specversion 0.3", func(r *binaryRequest) { r.header.Set("Ce-Specversion", "0.3") }, []string{"specversion"}, `must be "1.0"`},
		{"bad time", func(r *binaryRequest) { r.header.Set("Ce-Time", "Fri, 02 Jan 2026 15:04:05 GMT") }, []string{"time"}, "RFC 3339"},
		{"source decoded to a control character", func(r *binaryRequest) { r.header.Set("Ce-Source", "/a%00b") }, []string{"source"}, "URI-reference"},
		{"text content type", func(r *binaryRequest) { r.header.Set("Content-Type", "text/plain") }, []string{"datacontenttype"}, `got "text/plain"`},
		{"extension with underscore", func(r *binaryRequest) { r.header.Set("Ce-Trace_id", "x") }, []string{"ce-trace_id"}, "lower-case letters or digits"},
		{"extension over 20 characters", func(r *binaryRequest) { r.header.Set("Ce-"+strings.Repeat("e", 21), "x") }, []string{"ce-" + strings.Repeat("e", 21)}, "1-20"},
		{"empty body", func(r *binaryRequest) { r.body = nil }, []string{"data"}, "required"},
		{"malformed body", func(r *binaryRequest) { r.body = []byte(`{"audience":`) }, []string{"data"}, "malformed JSON"},
		{"white space body", func(r *binaryRequest) { r.body = []byte(" \n") }, []string{"data"}, "malformed JSON"},
		{"body with a syntax error", func(r *binaryRequest) { r.body = []byte(`{"audience" {}}`) }, []string{"data"}, "malformed JSON at byte"},
		{"body with a stray closing brace", func(r *binaryRequest) { r.body = append(r.body, '}') }, []string{"data"}, "unexpected data after the object"},
		{"body with a stray closing bracket", func(r *binaryRequest) { r.body = append(r.body, "\n]"...) }, []string{"data"}, "unexpected data"},
		{"body with two objects", func(r *binaryRequest) { r.body = append(r.body, r.body...) }, []string{"data"}, "unexpected data"},
		{"no recipients", func(r *binaryRequest) { r.body = []byte(`{"notification":{"message":"m"}}`) }, []string{"data.audience"}, "no recipients"},
		{"subject recipient with slash", func(r *binaryRequest) {
			r.header.Set("Ce-Subject", "users%2Fu1")
			r.body = []byte(`{"notification":{"message":"m"}}`)
		}, []string{"subject"}, "'/'"},
		{"subject recipient not UTF-8", func(r *binaryRequest) {
			r.header.Set("Ce-Subject", "%FF")
			r.body = []byte(`{"notification":{"message":"m"}}`)
		}, []string{"subject"}, "UTF-8"},
		{"message missing", func(r *binaryRequest) { r.body = []byte(`{"audience":{"users":["u1"]},"notification":{}}`) }, []string{"data.notification.message"}, "required"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := validBinary()
			tc.change(&r)
			ev, err := ParseBinary(r.header, r.body, receivedAt)
			checkRefusal(t, err, -1, tc.fields, tc.problem)
			if !reflect.DeepEqual(ev, Event{}) {
				t.Errorf("refused event is not the zero Event: %+v", ev)
			}
		})
	}
}

func TestHasBinaryHeaders(t *testing.T) {
	t.Parallel()
	if HasBinaryHeaders(http.Header{"Content-Type": {MediaCloudEvent}}) {
		t.Error("true for a structured request")
	}
	if HasBinaryHeaders(http.Header{"Ce-Id": {"x"}}) {
		t.Error("true without ce-specversion")
	}
	if !HasBinaryHeaders(http.Header{"Ce-Specversion": {"1.0"}}) {
		t.Error("false with ce-specversion")
	}
}

func TestParseLegacyAccepts(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		body string
		want Notification
	}{
		{"original sample", `{"userId":"u1","message":"hello"}`, Notification{Message: "hello"}},
		{"lower case keys", `{"userid":"u1","message":"hello"}`, Notification{Message: "hello"}},
		{"upper case keys", `{"USERID":"u1","MESSAGE":"hello"}`, Notification{Message: "hello"}},
		{"title case keys", `{"UserId":"u1","Message":"hello","Title":"Hi"}`, Notification{Message: "hello", Title: "Hi"}},
		{"title and category", `{"userId":"u1","message":"hello","title":"Hi","category":"training"}`,
			Notification{Message: "hello", Title: "Hi", Category: "training"}},
		{"nulls for optional keys", `{"userId":"u1","message":"hello","title":null,"id":null}`, Notification{Message: "hello"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ev, err := ParseLegacy([]byte(tc.body), receivedAt)
			if err != nil {
				t.Fatalf("refused: %v", err)
			}
			tc.want.Urgency = UrgencyNormal
			if !reflect.DeepEqual(ev.Notification, tc.want) {
				t.Errorf("notification = %+v; want %+v", ev.Notification, tc.want)
			}
			if !slices.Equal(ev.Audience.Users, []string{"u1"}) {
				t.Errorf("users = %q; want [u1]", ev.Audience.Users)
			}
			if ev.Source != LegacySource || ev.Type != "herald.notification" || ev.SourceID == "" {
				t.Errorf("source %q type %q id %q", ev.Source, ev.Type, ev.SourceID)
			}
			if ev.ID != IDFor(ev.Source, ev.SourceID) || !ev.ReceivedAt.Equal(receivedAt) {
				t.Errorf("ID %s, ReceivedAt %v", ev.ID, ev.ReceivedAt)
			}
		})
	}
}

func TestParseLegacyID(t *testing.T) {
	t.Parallel()
	t.Run("without id every post is a new event", func(t *testing.T) {
		t.Parallel()
		body := []byte(`{"userId":"u1","message":"hello"}`)
		a, errA := ParseLegacy(body, receivedAt)
		b, errB := ParseLegacy(body, receivedAt)
		if errA != nil || errB != nil {
			t.Fatal(errA, errB)
		}
		if a.ID == b.ID || a.SourceID == b.SourceID {
			t.Errorf("two posts without id share ID %s / source id %s", a.ID, a.SourceID)
		}
	})
	t.Run("with id the same post is the same event", func(t *testing.T) {
		t.Parallel()
		a, errA := ParseLegacy([]byte(`{"userId":"u1","message":"hello","id":"n-7"}`), receivedAt)
		b, errB := ParseLegacy([]byte(`{"USERID":"u2","MESSAGE":"other","ID":"n-7"}`), receivedAt)
		if errA != nil || errB != nil {
			t.Fatal(errA, errB)
		}
		if a.SourceID != "n-7" || a.ID != IDFor(LegacySource, "n-7") || b.ID != a.ID {
			t.Errorf("ids %s and %s (source id %q); want both IDFor(%q, \"n-7\")", a.ID, b.ID, a.SourceID, LegacySource)
		}
	})
	t.Run("different ids differ", func(t *testing.T) {
		t.Parallel()
		a, _ := ParseLegacy([]byte(`{"userId":"u1","message":"hello","id":"n-7"}`), receivedAt)
		b, _ := ParseLegacy([]byte(`{"userId":"u1","message":"hello","id":"n-8"}`), receivedAt)
		if a.ID == b.ID {
			t.Error("different ids give the same event ID")
		}
	})
}

func TestParseLegacyRefuses(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, body string
		fields     []string
		problem    string
	}{
		{"malformed", `{"userId":"u1",`, []string{"(body)"}, "malformed JSON"},
		{"empty body", ``, []string{"(body)"}, "malformed JSON"},
		{"null", `null`, []string{"(body)"}, `{"userId":"u1","message":"hello"}`},
		{"array", `[{"userId":"u1"}]`, []string{"(body)"}, "expected an object, got array"},
		{"unknown key", `{"userId":"u1","message":"hello","to":"u2"}`, []string{"to"}, "unknown field; the bare form takes userId, message"},
		{"cloudevent key", `{"userId":"u1","message":"hello","specversion":"1.0"}`, []string{"specversion"}, "unknown field"},
		{"every unknown key named", `{"userId":"u1","message":"hello","b":1,"a":2}`, []string{"a", "b"}, "unknown field"},
		{"empty key", `{"userId":"u1","message":"hello","":1}`, []string{`""`}, "unknown field"},
		{"same key in two cases", `{"userId":"u1","USERID":"u2","message":"hello"}`, []string{"userId"}, "more than once"},
		{"userId missing", `{"message":"hello"}`, []string{"userId"}, "required"},
		{"userId empty", `{"userId":"","message":"hello"}`, []string{"userId"}, "must not be empty"},
		{"userId number", `{"userId":42,"message":"hello"}`, []string{"userId"}, "must be a string, got number"},
		{"userId with slash", `{"userId":"a/b","message":"hello"}`, []string{"userId"}, "'/'"},
		{"userId with control character", `{"userId":"a\u0007b","message":"hello"}`, []string{"userId"}, "control characters"},
		{"message missing", `{"userId":"u1"}`, []string{"message"}, "required"},
		{"message blank", `{"userId":"u1","message":"  "}`, []string{"message"}, "must not be empty"},
		{"message array", `{"userId":"u1","message":["hello"]}`, []string{"message"}, "got array"},
		{"message too long", `{"userId":"u1","message":"` + strings.Repeat("m", MaxMessageLen+1) + `"}`, []string{"message"}, "at most 4000"},
		{"title too long", `{"userId":"u1","message":"m","title":"` + strings.Repeat("t", MaxTitleLen+1) + `"}`, []string{"title"}, "at most 256"},
		{"bad category", `{"userId":"u1","message":"m","category":"Training Due"}`, []string{"category"}, "lower-case"},
		{"id number", `{"userId":"u1","message":"m","id":7}`, []string{"id"}, "must be a string"},
		{"everything wrong", `{"userId":1,"message":"","x":0}`, []string{"userId", "message", "x"}, "must be a string"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ev, err := ParseLegacy([]byte(tc.body), receivedAt)
			checkRefusal(t, err, -1, tc.fields, tc.problem)
			if !reflect.DeepEqual(ev, Event{}) {
				t.Errorf("refused event is not the zero Event: %+v", ev)
			}
		})
	}
}
