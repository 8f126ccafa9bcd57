package event

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

// fields is a JSON object under construction; test cases start from
// validEvent and change one thing.
type fields = map[string]any

var receivedAt = time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)

// validEvent returns a minimal valid structured CloudEvent.
func validEvent() fields {
	return fields{
		"specversion": "1.0",
		"id":          "evt-1",
		"source":      "/training",
		"type":        "com.example.training.due",
		"data": fields{
			"audience":     fields{"users": []any{"u1"}},
			"notification": fields{"message": "Your training is due"},
		},
	}
}

func data(ev fields) fields         { return ev["data"].(fields) }
func audience(ev fields) fields     { return data(ev)["audience"].(fields) }
func notification(ev fields) fields { return data(ev)["notification"].(fields) }

// marshal encodes a test value; the values are built by the tests, so a
// failure is a bug in the test.
func marshal(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

func users(n int) []any {
	out := make([]any, n)
	for i := range out {
		out[i] = fmt.Sprintf("u%d", i)
	}
	return out
}

func actions(n int) []any {
	out := make([]any, n)
	for i := range out {
		out[i] = fields{"id": fmt.Sprintf("a%d", i), "title": "Open"}
	}
	return out
}

// invalidCase is an input that must be refused, with the fields the refusal
// must name and a fragment each problem must contain.
type invalidCase struct {
	name    string
	body    string          // the whole body, when set
	change  func(ev fields) // otherwise applied to validEvent
	fields  []string        // every FieldError.Field expected, in any order
	problem string          // contained in the first expected field's Problem
}

func (c invalidCase) input() []byte {
	if c.body != "" || c.change == nil {
		return []byte(c.body)
	}
	ev := validEvent()
	c.change(ev)
	return marshal(ev)
}

var structuredInvalid = []invalidCase{
	// The body itself.
	{name: "empty body", body: "", fields: []string{"(event)"}, problem: "malformed JSON"},
	{name: "truncated JSON", body: `{"specversion":"1.0","id":`, fields: []string{"(event)"}, problem: "malformed JSON at byte"},
	{name: "trailing comma", body: `{"specversion":"1.0",}`, fields: []string{"(event)"}, problem: "invalid character"},
	{name: "null body", body: `null`, fields: []string{"(event)"}, problem: "not a JSON object"},
	{name: "array body", body: `[]`, fields: []string{"(event)"}, problem: "expected an object, got array"},
	{name: "string body", body: `"hello"`, fields: []string{"(event)"}, problem: "got string"},

	// Required attributes.
	{name: "specversion missing", change: func(ev fields) { delete(ev, "specversion") }, fields: []string{"specversion"}, problem: "required CloudEvents attribute is missing"},
	{name: "id missing", change: func(ev fields) { delete(ev, "id") }, fields: []string{"id"}, problem: "required CloudEvents attribute is missing"},
	{name: "source missing", change: func(ev fields) { delete(ev, "source") }, fields: []string{"source"}, problem: "required CloudEvents attribute is missing"},
	{name: "type missing", change: func(ev fields) { delete(ev, "type") }, fields: []string{"type"}, problem: "required CloudEvents attribute is missing"},
	{name: "id null", change: func(ev fields) { ev["id"] = nil }, fields: []string{"id"}, problem: "missing"},
	{name: "id empty", change: func(ev fields) { ev["id"] = "" }, fields: []string{"id"}, problem: "must not be empty"},
	{name: "type empty", change: func(ev fields) { ev["type"] = "" }, fields: []string{"type"}, problem: "must not be empty"},
	{name: "all required missing", body: `{"data":{"audience":{"users":["u1"]},"notification":{"message":"m"}}}`,
		fields: []string{"specversion", "id", "source", "type"}, problem: "missing"},

	// Attribute types.
	{name: "id number", change: func(ev fields) { ev["id"] = 42 }, fields: []string{"id"}, problem: "must be a string, got number"},
	{name: "specversion number", change: func(ev fields) { ev["specversion"] = 1.0 }, fields: []string{"specversion"}, problem: "got number"},
	{name: "source boolean", change: func(ev fields) { ev["source"] = true }, fields: []string{"source"}, problem: "got boolean"},
	{name: "type object", change: func(ev fields) { ev["type"] = fields{} }, fields: []string{"type"}, problem: "got object"},
	{name: "subject array", change: func(ev fields) { ev["subject"] = []any{"u1"} }, fields: []string{"subject"}, problem: "got array"},
	{name: "time number", change: func(ev fields) { ev["time"] = 1767225600 }, fields: []string{"time"}, problem: "got number"},
	{name: "datacontenttype number", change: func(ev fields) { ev["datacontenttype"] = 7 }, fields: []string{"datacontenttype"}, problem: "got number"},
	{name: "dataschema boolean", change: func(ev fields) { ev["dataschema"] = false }, fields: []string{"dataschema"}, problem: "got boolean"},

	// Attribute values.
	{name: "specversion 0.3", change: func(ev fields) { ev["specversion"] = "0.3" }, fields: []string{"specversion"}, problem: `must be "1.0", got "0.3"`},
	{name: "specversion 1", change: func(ev fields) { ev["specversion"] = "1" }, fields: []string{"specversion"}, problem: `"1.0"`},
	{name: "id over 256 bytes", change: func(ev fields) { ev["id"] = strings.Repeat("x", MaxIDLen+1) }, fields: []string{"id"}, problem: "at most 256"},
	{name: "source bad escape", change: func(ev fields) { ev["source"] = "/training/%zz" }, fields: []string{"source"}, problem: "URI-reference"},
	{name: "source control character", change: func(ev fields) { ev["source"] = "/a\x00b" }, fields: []string{"source"}, problem: "URI-reference"},
	{name: "source without scheme before colon", change: func(ev fields) { ev["source"] = ":training" }, fields: []string{"source"}, problem: "URI-reference"},
	{name: "dataschema bad escape", change: func(ev fields) { ev["dataschema"] = "https://x/%zz" }, fields: []string{"dataschema"}, problem: "URI"},
	{name: "time with a space", change: func(ev fields) { ev["time"] = "2026-01-02 15:04:05Z" }, fields: []string{"time"}, problem: "RFC 3339"},
	{name: "time without zone", change: func(ev fields) { ev["time"] = "2026-01-02T15:04:05" }, fields: []string{"time"}, problem: "RFC 3339"},
	{name: "time month 13", change: func(ev fields) { ev["time"] = "2026-13-02T15:04:05Z" }, fields: []string{"time"}, problem: `"2026-13-02T15:04:05Z"`},
	{name: "time in words", change: func(ev fields) { ev["time"] = "yesterday" }, fields: []string{"time"}, problem: "such as 2026-01-02T15:04:05Z"},
	{name: "datacontenttype text", change: func(ev fields) { ev["datacontenttype"] = "text/plain" }, fields: []string{"datacontenttype"}, problem: "JSON data only"},
	{name: "datacontenttype xml", change: func(ev fields) { ev["datacontenttype"] = "application/xml" }, fields: []string{"datacontenttype"}, problem: `"application/xml"`},
	{name: "datacontenttype not a media type", change: func(ev fields) { ev["datacontenttype"] = "json" }, fields: []string{"datacontenttype"}, problem: "application/json"},

	// data and data_base64.
	{name: "data missing", change: func(ev fields) { delete(ev, "data") }, fields: []string{"data"}, problem: "required"},
	{name: "data null", change: func(ev fields) { ev["data"] = nil }, fields: []string{"data"}, problem: "required"},
	{name: "data string", change: func(ev fields) { ev["data"] = "hello" }, fields: []string{"data"}, problem: "expected an object, got string"},
	{name: "data array", change: func(ev fields) { ev["data"] = []any{} }, fields: []string{"data"}, problem: "expected an object, got array"},
	{name: "data empty object", change: func(ev fields) { ev["data"] = fields{} }, fields: []string{"data.audience", "data.notification"}, problem: "no recipients"},
	{name: "data unknown member", change: func(ev fields) { data(ev)["extra"] = 1 }, fields: []string{"data"}, problem: `unknown field "extra"`},
	{name: "data and data_base64", change: func(ev fields) { ev["data_base64"] = "e30=" }, fields: []string{"data_base64"}, problem: "mutually exclusive"},
	{name: "data_base64 not base64", change: func(ev fields) { delete(ev, "data"); ev["data_base64"] = "not base64!" }, fields: []string{"data_base64"}, problem: "not valid base64"},
	{name: "data_base64 number", change: func(ev fields) { delete(ev, "data"); ev["data_base64"] = 12 }, fields: []string{"data_base64"}, problem: "must be a base64 string, got number"},
	{name: "data_base64 null", change: func(ev fields) { delete(ev, "data"); ev["data_base64"] = nil }, fields: []string{"data"}, problem: "required"},
	{name: "data_base64 not JSON", change: func(ev fields) {
		delete(ev, "data")
		ev["data_base64"] = base64.StdEncoding.EncodeToString([]byte("hello"))
	}, fields: []string{"data"}, problem: "malformed JSON"},
	{name: "data_base64 with a stray closing brace", change: func(ev fields) {
		ev["data_base64"] = base64.StdEncoding.EncodeToString(append(marshal(ev["data"]), '}'))
		delete(ev, "data")
	}, fields: []string{"data"}, problem: "unexpected data after the object"},
	{name: "data_base64 with two objects", change: func(ev fields) {
		b := marshal(ev["data"])
		ev["data_base64"] = base64.StdEncoding.EncodeToString(append(append(b, ' '), b...))
		delete(ev, "data")
	}, fields: []string{"data"}, problem: "unexpected data after the object"},

	// Extensions.
	{name: "extension with upper case", change: func(ev fields) { ev["traceParent"] = "x" }, fields: []string{"traceParent"}, problem: "lower-case letters or digits"},
	{name: "extension with underscore", change: func(ev fields) { ev["trace_id"] = "x" }, fields: []string{"trace_id"}, problem: "lower-case"},
	{name: "extension with dash", change: func(ev fields) { ev["trace-id"] = "x" }, fields: []string{"trace-id"}, problem: "lower-case"},
	{name: "extension over 20 characters", change: func(ev fields) { ev[strings.Repeat("a", 21)] = "x" }, fields: []string{strings.Repeat("a", 21)}, problem: "1-20"},
	{name: "extension with empty name", body: `{"specversion":"1.0","id":"e","source":"/s","type":"t","":"x","data":{"audience":{"users":["u1"]},"notification":{"message":"m"}}}`,
		fields: []string{`""`}, problem: "extension names must be 1-20"},
	{name: "case variant of a core attribute", change: func(ev fields) { ev["ID"] = "x" }, fields: []string{"ID"}, problem: "not a CloudEvents attribute"},
	{name: "extension object value", change: func(ev fields) { ev["traceparent"] = fields{"a": 1} }, fields: []string{"traceparent"}, problem: "string, number or boolean, got object"},
	{name: "extension array value", change: func(ev fields) { ev["tags"] = []any{"a"} }, fields: []string{"tags"}, problem: "got array"},

	// Audience.
	{name: "no audience and no subject", change: func(ev fields) { delete(data(ev), "audience") }, fields: []string{"data.audience"}, problem: "no recipients: give data.audience users, topics or all, or the CloudEvent subject"},
	{name: "audience null and no subject", change: func(ev fields) { data(ev)["audience"] = nil }, fields: []string{"data.audience"}, problem: "no recipients"},
	{name: "no users and no subject", change: func(ev fields) { audience(ev)["users"] = []any{} }, fields: []string{"data.audience"}, problem: "no recipients"},
	{name: "users null and no subject", change: func(ev fields) { audience(ev)["users"] = nil }, fields: []string{"data.audience"}, problem: "no recipients"},
	{name: "audience array", change: func(ev fields) { data(ev)["audience"] = []any{"u1"} }, fields: []string{"data.audience"}, problem: "expected an object, got array"},
	{name: "audience unknown member", change: func(ev fields) { audience(ev)["groups"] = []any{"g1"} }, fields: []string{"data.audience"}, problem: `unknown field "groups"`},
	{name: "users string", change: func(ev fields) { audience(ev)["users"] = "u1" }, fields: []string{"data.audience.users"}, problem: "must be an array of user ids, got string"},
	{name: "users object", change: func(ev fields) { audience(ev)["users"] = fields{"u1": true} }, fields: []string{"data.audience.users"}, problem: "got object"},
	{name: "user number", change: func(ev fields) { audience(ev)["users"] = []any{"u1", 7} }, fields: []string{"data.audience.users[1]"}, problem: "must be a string, got number"},
	{name: "user null", change: func(ev fields) { audience(ev)["users"] = []any{nil} }, fields: []string{"data.audience.users[0]"}, problem: "got null"},
	{name: "user object", change: func(ev fields) { audience(ev)["users"] = []any{fields{"id": "u1"}} }, fields: []string{"data.audience.users[0]"}, problem: "got object"},
	{name: "user empty", change: func(ev fields) { audience(ev)["users"] = []any{""} }, fields: []string{"data.audience.users[0]"}, problem: "must not be empty"},
	{name: "user with slash", change: func(ev fields) { audience(ev)["users"] = []any{"u1", "team/u2"} }, fields: []string{"data.audience.users[1]"}, problem: "'/'"},
	{name: "user with question mark", change: func(ev fields) { audience(ev)["users"] = []any{"u?x"} }, fields: []string{"data.audience.users[0]"}, problem: "'?'"},
	{name: "user with hash", change: func(ev fields) { audience(ev)["users"] = []any{"u#x"} }, fields: []string{"data.audience.users[0]"}, problem: "'#'"},
	{name: "user with newline", change: func(ev fields) { audience(ev)["users"] = []any{"u1\n"} }, fields: []string{"data.audience.users[0]"}, problem: "control characters"},
	{name: "user with NUL", change: func(ev fields) { audience(ev)["users"] = []any{"u\x001"} }, fields: []string{"data.audience.users[0]"}, problem: "control characters"},
	{name: "user with DEL", change: func(ev fields) { audience(ev)["users"] = []any{"u\x7f"} }, fields: []string{"data.audience.users[0]"}, problem: "control characters"},
	{name: "user over 256 bytes", change: func(ev fields) { audience(ev)["users"] = []any{strings.Repeat("é", 129)} }, fields: []string{"data.audience.users[0]"}, problem: "at most 256 bytes"},
	{name: "every bad user named", change: func(ev fields) { audience(ev)["users"] = []any{"a/b", "ok", 3, ""} },
		fields: []string{"data.audience.users[0]", "data.audience.users[2]", "data.audience.users[3]"}, problem: "'/'"},
	{name: "1001 users", change: func(ev fields) { audience(ev)["users"] = users(MaxRecipients + 1) }, fields: []string{"data.audience.users"}, problem: "has 1001 users; at most 1000"},
	{name: "1001 users counted before removing duplicates", change: func(ev fields) {
		u := users(MaxRecipients)
		audience(ev)["users"] = append(u, u[0])
	}, fields: []string{"data.audience.users"}, problem: "at most 1000"},
	{name: "subject recipient with slash", change: func(ev fields) { delete(data(ev), "audience"); ev["subject"] = "users/u1" }, fields: []string{"subject"}, problem: "used as the recipient, but a user id must not contain '/'"},
	{name: "subject recipient with control character", change: func(ev fields) { delete(data(ev), "audience"); ev["subject"] = "u\t1" }, fields: []string{"subject"}, problem: "control characters"},

	// Notification.
	{name: "notification missing", change: func(ev fields) { delete(data(ev), "notification") }, fields: []string{"data.notification"}, problem: "required: an object with at least a message"},
	{name: "notification null", change: func(ev fields) { data(ev)["notification"] = nil }, fields: []string{"data.notification"}, problem: "required"},
	{name: "notification string", change: func(ev fields) { data(ev)["notification"] = "hello" }, fields: []string{"data.notification"}, problem: "must be an object"},
	{name: "notification unknown member", change: func(ev fields) { notification(ev)["body"] = "hello" }, fields: []string{"data.notification"}, problem: `unknown field "body"`},
	{name: "message missing", change: func(ev fields) { delete(notification(ev), "message") }, fields: []string{"data.notification.message"}, problem: "required"},
	{name: "message null", change: func(ev fields) { notification(ev)["message"] = nil }, fields: []string{"data.notification.message"}, problem: "required"},
	{name: "message empty", change: func(ev fields) { notification(ev)["message"] = "" }, fields: []string{"data.notification.message"}, problem: "must not be empty"},
	{name: "message white space", change: func(ev fields) { notification(ev)["message"] = " \t\n" }, fields: []string{"data.notification.message"}, problem: "must not be empty"},
	{name: "message number", change: func(ev fields) { notification(ev)["message"] = 12 }, fields: []string{"data.notification.message"}, problem: "must be a string, got number"},
	{name: "message 4001 characters", change: func(ev fields) { notification(ev)["message"] = strings.Repeat("m", MaxMessageLen+1) }, fields: []string{"data.notification.message"}, problem: "is 4001 characters; at most 4000"},
	{name: "title 257 characters", change: func(ev fields) { notification(ev)["title"] = strings.Repeat("t", MaxTitleLen+1) }, fields: []string{"data.notification.title"}, problem: "is 257 characters; at most 256"},
	{name: "title 257 emoji", change: func(ev fields) { notification(ev)["title"] = strings.Repeat("🔔", MaxTitleLen+1) }, fields: []string{"data.notification.title"}, problem: "257 characters"},
	{name: "title array", change: func(ev fields) { notification(ev)["title"] = []any{"a"} }, fields: []string{"data.notification.title"}, problem: "got array"},
	{name: "category upper case", change: func(ev fields) { notification(ev)["category"] = "Training" }, fields: []string{"data.notification.category"}, problem: `lower-case letters, digits, '.', '_' or '-', got "Training"`},
	{name: "category leading dash", change: func(ev fields) { notification(ev)["category"] = "-training" }, fields: []string{"data.notification.category"}, problem: "lower-case"},
	{name: "category with space", change: func(ev fields) { notification(ev)["category"] = "due soon" }, fields: []string{"data.notification.category"}, problem: "lower-case"},
	{name: "category 65 characters", change: func(ev fields) { notification(ev)["category"] = strings.Repeat("c", 65) }, fields: []string{"data.notification.category"}, problem: "at most 64"},
	{name: "category number", change: func(ev fields) { notification(ev)["category"] = 1 }, fields: []string{"data.notification.category"}, problem: "got number"},
	{name: "urgency unknown", change: func(ev fields) { notification(ev)["urgency"] = "urgent" }, fields: []string{"data.notification.urgency"}, problem: `must be one of low, normal, high; got "urgent"`},
	{name: "urgency upper case", change: func(ev fields) { notification(ev)["urgency"] = "HIGH" }, fields: []string{"data.notification.urgency"}, problem: "low, normal, high"},
	{name: "urgency number", change: func(ev fields) { notification(ev)["urgency"] = 2 }, fields: []string{"data.notification.urgency"}, problem: "got number"},
	{name: "expiresAt in words", change: func(ev fields) { notification(ev)["expiresAt"] = "tomorrow" }, fields: []string{"data.notification.expiresAt"}, problem: `RFC 3339 timestamp such as 2026-01-02T15:04:05Z, got "tomorrow"`},
	{name: "expiresAt date only", change: func(ev fields) { notification(ev)["expiresAt"] = "2026-01-02" }, fields: []string{"data.notification.expiresAt"}, problem: "RFC 3339"},
	{name: "expiresAt number", change: func(ev fields) { notification(ev)["expiresAt"] = 1767225600 }, fields: []string{"data.notification.expiresAt"}, problem: "got number"},
	{name: "deliverAt in words", change: func(ev fields) { notification(ev)["deliverAt"] = "at ten" }, fields: []string{"data.notification.deliverAt"}, problem: `RFC 3339 timestamp such as 2026-01-02T15:04:05Z, got "at ten"`},
	{name: "deliverAt number", change: func(ev fields) { notification(ev)["deliverAt"] = 1767225600 }, fields: []string{"data.notification.deliverAt"}, problem: "got number"},
	{name: "deliverAt over a year ahead", change: func(ev fields) { notification(ev)["deliverAt"] = "2027-03-02T09:00:01Z" }, fields: []string{"data.notification.deliverAt"}, problem: "more than 366 days ahead"},
	{name: "escalateAfter in words", change: func(ev fields) { notification(ev)["escalateAfter"] = "half an hour" }, fields: []string{"data.notification.escalateAfter"}, problem: `duration such as 30m or 2h, got "half an hour"`},
	{name: "escalateAfter in days", change: func(ev fields) { notification(ev)["escalateAfter"] = "1d" }, fields: []string{"data.notification.escalateAfter"}, problem: "duration such as 30m"},
	{name: "escalateAfter number", change: func(ev fields) { notification(ev)["escalateAfter"] = 30 }, fields: []string{"data.notification.escalateAfter"}, problem: "got number"},
	{name: "escalateAfter under a minute", change: func(ev fields) { notification(ev)["escalateAfter"] = "30s" }, fields: []string{"data.notification.escalateAfter"}, problem: "from 1m to 168h"},
	{name: "escalateAfter over a week", change: func(ev fields) { notification(ev)["escalateAfter"] = "169h" }, fields: []string{"data.notification.escalateAfter"}, problem: "from 1m to 168h"},
	{name: "locale in words", change: func(ev fields) { notification(ev)["locale"] = "english" }, fields: []string{"data.notification.locale"}, problem: `BCP 47 language tag such as en-US, got "english"`},
	{name: "locale unknown language", change: func(ev fields) { notification(ev)["locale"] = "xx-YY" }, fields: []string{"data.notification.locale"}, problem: "BCP 47"},
	{name: "locale number", change: func(ev fields) { notification(ev)["locale"] = 1 }, fields: []string{"data.notification.locale"}, problem: "got number"},
	{name: "data over 16 KiB", change: func(ev fields) { notification(ev)["data"] = fields{"blob": strings.Repeat("x", MaxDataBytes)} }, fields: []string{"data.notification.data"}, problem: "at most 16384"},

	// Actions.
	{name: "six actions", change: func(ev fields) { notification(ev)["actions"] = actions(MaxActions + 1) }, fields: []string{"data.notification.actions"}, problem: "has 6 actions; at most 5"},
	{name: "actions object", change: func(ev fields) { notification(ev)["actions"] = fields{"id": "a"} }, fields: []string{"data.notification.actions"}, problem: "must be an array of actions, got object"},
	{name: "action string", change: func(ev fields) { notification(ev)["actions"] = []any{"open"} }, fields: []string{"data.notification.actions[0]"}, problem: "must be an object with id and title"},
	{name: "action without id", change: func(ev fields) { notification(ev)["actions"] = []any{fields{"title": "Open"}} }, fields: []string{"data.notification.actions[0].id"}, problem: "required"},
	{name: "action without title", change: func(ev fields) { notification(ev)["actions"] = []any{fields{"id": "open"}} }, fields: []string{"data.notification.actions[0].title"}, problem: "required"},
	{name: "action with blank title", change: func(ev fields) { notification(ev)["actions"] = []any{fields{"id": "open", "title": " "}} }, fields: []string{"data.notification.actions[0].title"}, problem: "must not be empty"},
	{name: "action id 65 characters", change: func(ev fields) {
		notification(ev)["actions"] = []any{fields{"id": strings.Repeat("i", 65), "title": "Open"}}
	}, fields: []string{"data.notification.actions[0].id"}, problem: "at most 64"},
	{name: "action unknown member", change: func(ev fields) {
		notification(ev)["actions"] = []any{fields{"id": "open", "title": "Open", "style": "primary"}}
	}, fields: []string{"data.notification.actions[0]"}, problem: `unknown field "style"`},
	{name: "action relative url", change: func(ev fields) {
		notification(ev)["actions"] = []any{fields{"id": "open", "title": "Open", "url": "/courses/1"}}
	}, fields: []string{"data.notification.actions[0].url"}, problem: `absolute http or https URL, got "/courses/1"`},
	{name: "action ftp url", change: func(ev fields) {
		notification(ev)["actions"] = []any{fields{"id": "open", "title": "Open", "url": "ftp://example.com/x"}}
	}, fields: []string{"data.notification.actions[0].url"}, problem: "http or https"},
	{name: "action javascript url", change: func(ev fields) {
		notification(ev)["actions"] = []any{fields{"id": "open", "title": "Open", "url": "javascript:alert(1)"}}
	}, fields: []string{"data.notification.actions[0].url"}, problem: "http or https"},
	{name: "action url without host", change: func(ev fields) {
		notification(ev)["actions"] = []any{fields{"id": "open", "title": "Open", "url": "https://"}}
	}, fields: []string{"data.notification.actions[0].url"}, problem: "absolute"},
	{name: "second action named by index", change: func(ev fields) {
		notification(ev)["actions"] = []any{fields{"id": "a", "title": "A"}, fields{"id": "b", "url": "https://example.com"}}
	}, fields: []string{"data.notification.actions[1].title"}, problem: "required"},

	// Several problems at once: all are named, and a bad attribute does not
	// hide a missing audience.
	{name: "missing id and no audience", change: func(ev fields) { delete(ev, "id"); delete(data(ev), "audience") }, fields: []string{"id", "data.audience"}, problem: "missing"},
	{name: "many problems", change: func(ev fields) {
		ev["specversion"] = "0.3"
		ev["time"] = "now"
		notification(ev)["message"] = ""
		notification(ev)["urgency"] = "max"
		audience(ev)["users"] = []any{"a/b"}
	}, fields: []string{"specversion", "time", "data.notification.message", "data.notification.urgency", "data.audience.users[0]"}, problem: "0.3"},
}

// checkRefusal asserts that err refuses the input naming exactly want (with
// every problem attributed to event index), and that the first wanted field's
// problem contains problem.
func checkRefusal(t *testing.T, err error, index int, want []string, problem string) {
	t.Helper()
	if err == nil {
		t.Fatalf("accepted; want a refusal naming %v", want)
	}
	ve, ok := err.(*ValidationError)
	if !ok {
		t.Fatalf("error is %T (%v); want *ValidationError", err, err)
	}
	var got []string
	for _, fe := range ve.Errors {
		got = append(got, fe.Field)
		if fe.Index != index {
			t.Errorf("%s: Index = %d; want %d", fe.Field, fe.Index, index)
		}
		if strings.TrimSpace(fe.Problem) == "" {
			t.Errorf("%s: empty Problem", fe.Field)
		}
	}
	if !sameSet(got, want) {
		t.Fatalf("fields = %q; want %q\n%v", got, want, err)
	}
	for _, fe := range ve.Errors {
		if fe.Field == want[0] && !strings.Contains(fe.Problem, problem) {
			t.Errorf("%s: Problem = %q; want it to contain %q", fe.Field, fe.Problem, problem)
		}
	}
	if !strings.HasPrefix(err.Error(), "invalid event: ") {
		t.Errorf("Error() = %q; want the prefix \"invalid event: \"", err.Error())
	}
}

func sameSet(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}

func TestParseStructuredRefuses(t *testing.T) {
	t.Parallel()
	for _, tc := range structuredInvalid {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ev, err := ParseStructured(tc.input(), receivedAt)
			checkRefusal(t, err, -1, tc.fields, tc.problem)
			if !reflect.DeepEqual(ev, Event{}) {
				t.Errorf("refused event is not the zero Event: %+v", ev)
			}
		})
	}
}

// validCase is an input that must be accepted, and what the result holds.
type validCase struct {
	name   string
	change func(ev fields)
	check  func(t *testing.T, ev Event)
}

func (c validCase) input() []byte {
	ev := validEvent()
	if c.change != nil {
		c.change(ev)
	}
	return marshal(ev)
}

var structuredValid = []validCase{
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
	{name: "every optional attribute", change: func(ev fields) {
		ev["subject"] = "course-42"
		ev["time"] = "2026-01-02T15:04:05.5+02:00"
		ev["datacontenttype"] = "application/json; charset=utf-8"
		ev["dataschema"] = "https://example.com/schemas/training.json"
	}, check: func(t *testing.T, ev Event) {
		if ev.Subject != "course-42" {
			t.Errorf("Subject = %q", ev.Subject)
		}
		if want := time.Date(2026, 1, 2, 13, 4, 5, 5e8, time.UTC); !ev.Time.Equal(want) {
			t.Errorf("Time = %v; want %v", ev.Time, want)
		}
		if !slices.Equal(ev.Audience.Users, []string{"u1"}) {
			t.Errorf("users = %q; the subject must not be added when users are given", ev.Audience.Users)
		}
	}},
	{name: "structured +json content type", change: func(ev fields) { ev["datacontenttype"] = "application/vnd.herald.notification+json" }},
	{name: "id of 256 bytes", change: func(ev fields) { ev["id"] = strings.Repeat("x", MaxIDLen) }},
	{name: "source URN", change: func(ev fields) { ev["source"] = "urn:example:training" }, check: func(t *testing.T, ev Event) {
		if ev.ID != IDFor("urn:example:training", "evt-1") {
			t.Errorf("ID = %s; want IDFor(source, id)", ev.ID)
		}
	}},
	{name: "null optional attributes", change: func(ev fields) { ev["subject"] = nil; ev["time"] = nil }, check: func(t *testing.T, ev Event) {
		if ev.Subject != "" || !ev.Time.IsZero() {
			t.Errorf("subject %q, time %v; want both empty", ev.Subject, ev.Time)
		}
	}},
	{name: "extensions of every scalar type", change: func(ev fields) {
		ev["traceparent"] = "00-abc-def-01"
		ev["partitionkey"] = "u1"
		ev["sequence"] = 7
		ev["replay"] = true
		ev["nothing"] = nil
		ev[strings.Repeat("e", 20)] = "twenty characters"
		ev["v2"] = "digits allowed"
	}},
	{name: "data_base64", change: func(ev fields) {
		ev["data_base64"] = base64.StdEncoding.EncodeToString(marshal(ev["data"]))
		ev["datacontenttype"] = "application/json"
		delete(ev, "data")
	}, check: func(t *testing.T, ev Event) {
		if ev.Notification.Message != "Your training is due" || !slices.Equal(ev.Audience.Users, []string{"u1"}) {
			t.Errorf("decoded data not used: %+v", ev)
		}
	}},
	{name: "data_base64 null beside data", change: func(ev fields) { ev["data_base64"] = nil }},
	{name: "data null beside data_base64", change: func(ev fields) {
		ev["data_base64"] = base64.StdEncoding.EncodeToString(marshal(ev["data"]))
		ev["data"] = nil
	}},
	{name: "duplicate users removed in order", change: func(ev fields) { audience(ev)["users"] = []any{"u2", "u1", "u2", "u3", "u1"} }, check: func(t *testing.T, ev Event) {
		if want := []string{"u2", "u1", "u3"}; !slices.Equal(ev.Audience.Users, want) {
			t.Errorf("users = %q; want %q", ev.Audience.Users, want)
		}
	}},
	{name: "1000 users", change: func(ev fields) { audience(ev)["users"] = users(MaxRecipients) }, check: func(t *testing.T, ev Event) {
		if len(ev.Audience.Users) != MaxRecipients {
			t.Errorf("%d users; want %d", len(ev.Audience.Users), MaxRecipients)
		}
	}},
	{name: "unusual but valid user ids", change: func(ev fields) {
		audience(ev)["users"] = []any{"alice@example.com", "Jürgen Müller", "8f14e45f-ceea-467f", strings.Repeat("é", 128)}
	}, check: func(t *testing.T, ev Event) {
		if len(ev.Audience.Users) != 4 {
			t.Errorf("users = %q", ev.Audience.Users)
		}
	}},
	{name: "audience from subject", change: func(ev fields) { delete(data(ev), "audience"); ev["subject"] = "u9" }, check: func(t *testing.T, ev Event) {
		if !slices.Equal(ev.Audience.Users, []string{"u9"}) {
			t.Errorf("users = %q; want the subject", ev.Audience.Users)
		}
	}},
	{name: "empty users fall back to subject", change: func(ev fields) { audience(ev)["users"] = []any{}; ev["subject"] = "u9" }, check: func(t *testing.T, ev Event) {
		if !slices.Equal(ev.Audience.Users, []string{"u9"}) {
			t.Errorf("users = %q; want the subject", ev.Audience.Users)
		}
	}},
	{name: "every notification field", change: func(ev fields) {
		n := notification(ev)
		n["title"] = "Training due"
		n["category"] = "training.due_soon-1"
		n["urgency"] = "high"
		n["expiresAt"] = "2026-01-02T17:04:05+02:00"
		n["locale"] = "fr-FR"
		n["data"] = fields{"course": 42}
		n["actions"] = []any{
			fields{"id": "open", "title": "Open course", "url": "https://example.com/courses/42"},
			fields{"id": "snooze", "title": "Later", "value": fields{"minutes": 30}},
		}
	}, check: func(t *testing.T, ev Event) {
		n := ev.Notification
		exp := time.Date(2026, 1, 2, 15, 4, 5, 0, time.UTC)
		want := Notification{
			Title: "Training due", Message: "Your training is due", Category: "training.due_soon-1",
			Urgency: UrgencyHigh, ExpiresAt: &exp, Locale: "fr-FR", Data: json.RawMessage(`{"course":42}`),
			Actions: []Action{
				{ID: "open", Title: "Open course", URL: "https://example.com/courses/42"},
				{ID: "snooze", Title: "Later", Value: json.RawMessage(`{"minutes":30}`)},
			},
		}
		if !reflect.DeepEqual(n, want) {
			t.Errorf("got  %+v\nwant %+v", n, want)
		}
		if n.ExpiresAt.Location() != time.UTC {
			t.Errorf("expiresAt in %v; want UTC", n.ExpiresAt.Location())
		}
	}},
	{name: "timing fields", change: func(ev fields) {
		n := notification(ev)
		n["deliverAt"] = "2026-03-01T12:00:00+02:00"
		n["escalateAfter"] = "1h30m"
	}, check: func(t *testing.T, ev Event) {
		n := ev.Notification
		if want := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC); n.DeliverAt == nil || !n.DeliverAt.Equal(want) || n.DeliverAt.Location() != time.UTC {
			t.Errorf("deliverAt = %v; want %v in UTC", n.DeliverAt, want)
		}
		if time.Duration(n.EscalateAfter) != 90*time.Minute {
			t.Errorf("escalateAfter = %v; want 1h30m", time.Duration(n.EscalateAfter))
		}
		if !n.Scheduled(receivedAt) || n.Scheduled(*n.DeliverAt) {
			t.Error("Scheduled is true before deliverAt and false from it")
		}
		// The hub carries the event as JSON: the fields survive it.
		b, _ := json.Marshal(ev)
		var back Event
		if err := json.Unmarshal(b, &back); err != nil || !reflect.DeepEqual(back.Notification, n) {
			t.Errorf("JSON round trip: %+v, %v; want %+v (%s)", back.Notification, err, n, b)
		}
	}},
	{name: "deliverAt in the past", change: func(ev fields) { notification(ev)["deliverAt"] = "2020-01-01T00:00:00Z" }, check: func(t *testing.T, ev Event) {
		if ev.Notification.DeliverAt == nil || ev.Notification.Scheduled(receivedAt) {
			t.Errorf("deliverAt in the past: %v; want kept and not scheduled", ev.Notification.DeliverAt)
		}
	}},
	{name: "urgency low", change: func(ev fields) { notification(ev)["urgency"] = "low" }, check: wantUrgency(UrgencyLow)},
	{name: "urgency normal", change: func(ev fields) { notification(ev)["urgency"] = "normal" }, check: wantUrgency(UrgencyNormal)},
	{name: "urgency null means normal", change: func(ev fields) { notification(ev)["urgency"] = nil }, check: wantUrgency(UrgencyNormal)},
	{name: "urgency empty means normal", change: func(ev fields) { notification(ev)["urgency"] = "" }, check: wantUrgency(UrgencyNormal)},
	{name: "title of 256 three-byte characters", change: func(ev fields) { notification(ev)["title"] = strings.Repeat("日", MaxTitleLen) }},
	{name: "message of 4000 two-byte characters", change: func(ev fields) { notification(ev)["message"] = strings.Repeat("é", MaxMessageLen) }},
	{name: "category of 64 characters", change: func(ev fields) { notification(ev)["category"] = strings.Repeat("c", 64) }},
	{name: "locales", change: func(ev fields) { notification(ev)["locale"] = "zh-Hant-TW" }},
	{name: "five actions", change: func(ev fields) { notification(ev)["actions"] = actions(MaxActions) }},
	{name: "http action url", change: func(ev fields) {
		notification(ev)["actions"] = []any{fields{"id": "open", "title": "Open", "url": "http://intranet.example/x"}}
	}},
	{name: "notification data of any JSON type", change: func(ev fields) { notification(ev)["data"] = "just a string" }},
	{name: "notification data null", change: func(ev fields) { notification(ev)["data"] = nil }, check: func(t *testing.T, ev Event) {
		if ev.Notification.Data != nil {
			t.Errorf("data = %s; want nil", ev.Notification.Data)
		}
	}},
}

func wantUrgency(u Urgency) func(*testing.T, Event) {
	return func(t *testing.T, ev Event) {
		t.Helper()
		if ev.Notification.Urgency != u {
			t.Errorf("urgency = %q; want %q", ev.Notification.Urgency, u)
		}
	}
}

func TestParseStructuredAccepts(t *testing.T) {
	t.Parallel()
	for _, tc := range structuredValid {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ev, err := ParseStructured(tc.input(), receivedAt)
			if err != nil {
				t.Fatalf("refused: %v", err)
			}
			if ev.ID != IDFor(ev.Source, ev.SourceID) {
				t.Errorf("ID = %q; want IDFor(source, id) = %q", ev.ID, IDFor(ev.Source, ev.SourceID))
			}
			if !ev.ReceivedAt.Equal(receivedAt) {
				t.Errorf("ReceivedAt = %v; want %v", ev.ReceivedAt, receivedAt)
			}
			if tc.check != nil {
				tc.check(t, ev)
			}
		})
	}
}

func TestParseStructuredIsIdempotent(t *testing.T) {
	t.Parallel()
	body := validCase{}.input()
	a, errA := ParseStructured(body, receivedAt)
	b, errB := ParseStructured(body, receivedAt.Add(time.Hour))
	if errA != nil || errB != nil {
		t.Fatal(errA, errB)
	}
	if a.ID != b.ID {
		t.Errorf("the same CloudEvent parsed twice has ids %s and %s", a.ID, b.ID)
	}
}

func TestParseStructuredCompactsJSONValues(t *testing.T) {
	t.Parallel()
	body := `{"specversion":"1.0","id":"e","source":"/s","type":"t","data":{
		"audience": {"users": ["u1"]},
		"notification": {"message": "m",
			"data": { "a" : [ 1 , 2 ] },
			"actions": [{"id": "x", "title": "X", "value": { "k" : "v" }}]}}}`
	ev, err := ParseStructured([]byte(body), receivedAt)
	if err != nil {
		t.Fatal(err)
	}
	if got := string(ev.Notification.Data); got != `{"a":[1,2]}` {
		t.Errorf("data = %s; want it compacted", got)
	}
	if got := string(ev.Notification.Actions[0].Value); got != `{"k":"v"}` {
		t.Errorf("action value = %s; want it compacted", got)
	}
}

func TestParseBatch(t *testing.T) {
	t.Parallel()
	event := func(id string, change func(fields)) fields {
		ev := validEvent()
		ev["id"] = id
		if change != nil {
			change(ev)
		}
		return ev
	}
	missingID := func(ev fields) { delete(ev, "id") }
	badUrgency := func(ev fields) { notification(ev)["urgency"] = "now" }

	t.Run("valid events in order", func(t *testing.T) {
		t.Parallel()
		body := marshal([]any{event("a", nil), event("b", nil), event("c", nil)})
		evs, err := ParseBatch(body, 3, receivedAt)
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, ev := range evs {
			ids = append(ids, ev.SourceID)
			if ev.ID != IDFor(ev.Source, ev.SourceID) || !ev.ReceivedAt.Equal(receivedAt) {
				t.Errorf("event %s: ID %s, ReceivedAt %v", ev.SourceID, ev.ID, ev.ReceivedAt)
			}
		}
		if !slices.Equal(ids, []string{"a", "b", "c"}) {
			t.Errorf("ids = %q; want a, b, c", ids)
		}
	})

	t.Run("one event", func(t *testing.T) {
		t.Parallel()
		evs, err := ParseBatch(marshal([]any{event("a", nil)}), 1, receivedAt)
		if err != nil || len(evs) != 1 {
			t.Fatalf("got %d events, %v", len(evs), err)
		}
	})

	t.Run("all or nothing, each problem with its index", func(t *testing.T) {
		t.Parallel()
		body := marshal([]any{event("a", nil), event("b", missingID), event("c", nil), event("d", badUrgency)})
		evs, err := ParseBatch(body, 10, receivedAt)
		if evs != nil {
			t.Errorf("got %d events from a batch with bad events; want none", len(evs))
		}
		ve, ok := err.(*ValidationError)
		if !ok {
			t.Fatalf("error %T %v; want *ValidationError", err, err)
		}
		want := []FieldError{{Index: 1, Field: "id"}, {Index: 3, Field: "data.notification.urgency"}}
		if len(ve.Errors) != len(want) {
			t.Fatalf("errors = %v; want %v", ve.Errors, want)
		}
		for i, fe := range ve.Errors {
			if fe.Index != want[i].Index || fe.Field != want[i].Field || fe.Problem == "" {
				t.Errorf("error %d = %+v; want index %d field %s", i, fe, want[i].Index, want[i].Field)
			}
		}
		if msg := err.Error(); !strings.Contains(msg, "event 1: id: ") || !strings.Contains(msg, "event 3: data.notification.urgency: ") {
			t.Errorf("Error() = %q; want each problem prefixed with its event index", msg)
		}
	})

	bodyCases := []struct {
		name    string
		body    string
		max     int
		problem string
	}{
		{"empty batch", `[]`, 10, "the batch is empty"},
		{"empty batch with white space", " [ ] ", 10, "empty"},
		{"over the maximum", string(marshal([]any{event("a", nil), event("b", nil), event("c", nil)})), 2, "the batch has 3 events; at most 2 are allowed"},
		{"object instead of array", string(marshal(validEvent())), 10, "not a JSON array of CloudEvents: expected an array, got object"},
		{"null", `null`, 10, "empty"},
		{"malformed", `[{"id":"a"},`, 10, "malformed JSON"},
		{"empty body", ``, 10, "malformed JSON"},
	}
	for _, tc := range bodyCases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			evs, err := ParseBatch([]byte(tc.body), tc.max, receivedAt)
			if evs != nil {
				t.Errorf("got %d events", len(evs))
			}
			checkRefusal(t, err, -1, []string{"(body)"}, tc.problem)
		})
	}

	// Every single-event refusal is also a refusal inside a batch, with the
	// event's index on every problem.
	for _, tc := range structuredInvalid {
		if tc.change == nil {
			continue
		}
		t.Run("element/"+tc.name, func(t *testing.T) {
			t.Parallel()
			body := []byte(`[` + string(marshal(event("ok", nil))) + `,` + string(tc.input()) + `]`)
			evs, err := ParseBatch(body, 2, receivedAt)
			if evs != nil {
				t.Errorf("got %d events", len(evs))
			}
			checkRefusal(t, err, 1, tc.fields, tc.problem)
		})
	}

	t.Run("element not an object", func(t *testing.T) {
		t.Parallel()
		_, err := ParseBatch([]byte(`[null, 3]`), 2, receivedAt)
		ve, ok := err.(*ValidationError)
		if !ok || len(ve.Errors) != 2 || ve.Errors[0].Index != 0 || ve.Errors[1].Index != 1 || ve.Errors[0].Field != "(event)" {
			t.Fatalf("got %v; want (event) problems at indexes 0 and 1", err)
		}
	})
}

func TestIDFor(t *testing.T) {
	t.Parallel()
	id := IDFor("/training", "evt-1")
	if id != IDFor("/training", "evt-1") {
		t.Error("IDFor is not deterministic")
	}
	if len(id) != 32 || strings.Trim(id, "0123456789abcdef") != "" {
		t.Errorf("IDFor = %q; want 32 lower-case hex digits", id)
	}
	pairs := [][2]string{
		{"/training", "evt-1"},
		{"/training", "evt-2"},
		{"/billing", "evt-1"},
		{"a", "bc"},
		{"ab", "c"},
		{"abc", ""},
		{"", "abc"},
		{"", ""},
	}
	seen := map[string][2]string{}
	for _, p := range pairs {
		id := IDFor(p[0], p[1])
		if q, dup := seen[id]; dup {
			t.Errorf("IDFor(%q, %q) = IDFor(%q, %q) = %s", p[0], p[1], q[0], q[1], id)
		}
		seen[id] = p
	}
}

func TestIsJSONMediaType(t *testing.T) {
	t.Parallel()
	for mt, want := range map[string]bool{
		"application/json":                true,
		"application/json; charset=utf-8": true,
		"Application/JSON":                true,
		"application/cloudevents+json":    true,
		"application/vnd.example+json":    true,
		"text/plain":                      false,
		"application/xml":                 false,
		"application/jsonp":               false,
		"json":                            false,
		"":                                false,
	} {
		if got := IsJSONMediaType(mt); got != want {
			t.Errorf("IsJSONMediaType(%q) = %v; want %v", mt, got, want)
		}
	}
}

func TestCheckUserID(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		id, problem string // problem "" means valid
	}{
		{"u1", ""},
		{"alice@example.com", ""},
		{"Zoë", ""},
		{strings.Repeat("x", MaxUserIDLen), ""},
		{"", "must not be empty"},
		{strings.Repeat("x", MaxUserIDLen+1), "at most 256 bytes"},
		{"a/b", "'/'"},
		{"a?b", "'?'"},
		{"a#b", "'#'"},
		{"a\x00b", "control characters"},
		{"a\rb", "control characters"},
		{"a\x7fb", "control characters"},
		{"a\xffb", "valid UTF-8"},
	} {
		got := CheckUserID(tc.id)
		if (got == "") != (tc.problem == "") || !strings.Contains(got, tc.problem) {
			t.Errorf("CheckUserID(%q) = %q; want %q", tc.id, got, tc.problem)
		}
	}
}

func TestNotificationExpired(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 1, 2, 15, 0, 0, 0, time.UTC)
	if (Notification{}).Expired(at) {
		t.Error("a notification without expiresAt expired")
	}
	n := Notification{ExpiresAt: &at}
	if n.Expired(at.Add(-time.Nanosecond)) {
		t.Error("expired before expiresAt")
	}
	if !n.Expired(at) {
		t.Error("not expired at expiresAt")
	}
	if !n.Expired(at.Add(time.Hour)) {
		t.Error("not expired after expiresAt")
	}
}

func TestFieldErrorString(t *testing.T) {
	t.Parallel()
	if got := (FieldError{Index: -1, Field: "id", Problem: "required"}).String(); got != "id: required" {
		t.Errorf("outside a batch: %q", got)
	}
	if got := (FieldError{Index: 2, Field: "id", Problem: "required"}).String(); got != "event 2: id: required" {
		t.Errorf("in a batch: %q", got)
	}
	err := &ValidationError{Errors: []FieldError{{Index: -1, Field: "id", Problem: "required"}, {Index: -1, Field: "type", Problem: "required"}}}
	if got := err.Error(); got != "invalid event: id: required; type: required" {
		t.Errorf("Error() = %q", got)
	}
}
