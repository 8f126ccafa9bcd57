package source

import (
	"context"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/herald/herald/internal/event"
)

const examplesDir = "../../examples/sources"

// exampleSecrets are the secrets the shipped examples read, for tests.
var exampleSecrets = map[string]string{
	"HR_TRAINING_SECRET": "hr-shared-secret-0123456789abcdef",
	"BENEFITS_KEY":       "benefits-key-0123456789abcdef",
	"WEBHOOK_SECRET":     "webhook-secret-0123456789abcdef",
}

func lookup(vars map[string]string) func(string) (string, bool) {
	return func(name string) (string, bool) { v, ok := vars[name]; return v, ok }
}

// examples loads the shipped definitions with their test secrets.
func examples(t *testing.T) *Registry {
	t.Helper()
	reg, err := LoadDir(examplesDir, LoadOptions{Secrets: true, LookupEnv: lookup(exampleSecrets)})
	if err != nil {
		t.Fatal(err)
	}
	return reg
}

func sample(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(examplesDir, "samples", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// mustParse compiles an inline definition named name.yaml.
func mustParse(t *testing.T, name, yaml string) *Source {
	t.Helper()
	src, err := Parse(name+".yaml", []byte(yaml), LoadOptions{Secrets: true, LookupEnv: lookup(map[string]string{"S": "test-secret"})})
	if err != nil {
		t.Fatal(err)
	}
	return src
}

var received = time.Date(2026, 3, 2, 9, 16, 0, 0, time.UTC)

func TestShippedExamplesMapTheirSamples(t *testing.T) {
	t.Parallel()
	reg := examples(t)
	if got := len(reg.List()); got != 3 {
		t.Fatalf("%d shipped sources, want 3", got)
	}
	type want struct {
		source, sourceID, typ, subject string
		users, topics                  []string
		title, message, category       string
		urgency                        event.Urgency
		actions                        []string
		expiresAt, locale, data        string
	}
	for _, tc := range []struct {
		source, sample string
		header         http.Header
		filtered       bool
		want           want
	}{
		{source: "hr-training", sample: "hr-training-assigned.json", want: want{
			source: "urn:example:hr", sourceID: "evt-7f3a9c", typ: "com.example.hr.training.assigned",
			users: []string{"alice"}, title: "Training assigned: Security awareness",
			message:  "Security awareness is due on 2035-03-31. It takes about 45 minutes.",
			category: "training", urgency: event.UrgencyHigh, actions: []string{"startConversation", "open"},
			expiresAt: "2035-03-31T23:59:59Z", locale: "en-US", data: `{"courseId":"SEC-101","dueDate":"2035-03-31"}`,
		}},
		{source: "hr-training", sample: "hr-training-completed.json", filtered: true},
		{source: "benefits-enrollment", sample: "benefits-enrollment-opened.json", want: want{
			source: "urn:example:benefits", sourceID: "enr-2036-open", typ: "com.example.benefits.enrollment.opened",
			topics: []string{"full-time-us", "part-time-us"}, title: "Benefits enrollment is open",
			message:  "Open enrollment for 2036 runs until 2035-11-30. Would you like to know more?",
			category: "benefits", urgency: event.UrgencyNormal, actions: []string{"details", "enroll"},
			expiresAt: "2035-11-30T23:59:59Z", data: `{"planYear":2036}`,
		}},
		{source: "webhook", sample: "webhook-message.json", header: http.Header{"X-Event-Type": {"it.laptop.ready"}}, want: want{
			source: "urn:herald:source:webhook", sourceID: "wh-1001", typ: "com.example.webhook.it.laptop.ready", subject: "bob",
			users: []string{"bob"}, title: "Laptop ready", message: "Your new laptop is ready for pickup at the IT desk in building B.",
			category: "it", urgency: event.UrgencyNormal, actions: []string{"open"}, data: `{"ticket":1001}`,
		}},
		{source: "webhook", sample: "webhook-topics.json", want: want{
			source: "urn:herald:source:webhook", sourceID: "wh-1002", typ: "com.example.webhook.message",
			topics:  []string{"engineering", "it-staff"},
			message: "The VPN will be down for maintenance on Saturday from 22:00 to 23:00 UTC.", urgency: event.UrgencyLow,
		}},
	} {
		t.Run(tc.sample, func(t *testing.T) {
			t.Parallel()
			src, ok := reg.Get(tc.source)
			if !ok {
				t.Fatalf("no source %s", tc.source)
			}
			res, err := src.Map(context.Background(), sample(t, tc.sample), tc.header, received)
			if err != nil {
				t.Fatalf("Map: %v", err)
			}
			if res.Filtered != tc.filtered {
				t.Fatalf("filtered = %v, want %v", res.Filtered, tc.filtered)
			}
			if tc.filtered {
				return
			}
			ev, w := res.Event, tc.want
			n := ev.Notification
			var actions []string
			for _, a := range n.Actions {
				actions = append(actions, a.ID)
			}
			exp, loc := "", n.Locale
			if n.ExpiresAt != nil {
				exp = n.ExpiresAt.Format(time.RFC3339)
			}
			got := want{ev.Source, ev.SourceID, ev.Type, ev.Subject, ev.Audience.Users, ev.Audience.Topics,
				n.Title, n.Message, n.Category, n.Urgency, actions, exp, loc, string(n.Data)}
			if !equalWant(got, w) {
				t.Errorf("mapped\n got  %+v\n want %+v", got, w)
			}
			if ev.ID != event.IDFor(w.source, w.sourceID) || !ev.ReceivedAt.Equal(received) {
				t.Errorf("id %s, receivedAt %s", ev.ID, ev.ReceivedAt)
			}
		})
	}
}

func equalWant[T any](a, b T) bool {
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	return string(ja) == string(jb)
}

func TestSignatureFailures(t *testing.T) {
	t.Parallel()
	reg := examples(t)
	hr, _ := reg.Get("hr-training")
	hook, _ := reg.Get("webhook")
	benefits, _ := reg.Get("benefits-enrollment")
	body := sample(t, "hr-training-assigned.json")
	now := time.Unix(1_770_000_000, 0)
	signed := func(src *Source, at time.Time, b []byte) http.Header {
		h := http.Header{}
		if err := src.Sign(h, b, at); err != nil {
			t.Fatal(err)
		}
		return h
	}
	with := func(h http.Header, name, value string) http.Header {
		h = h.Clone()
		if value == "" {
			h.Del(name)
		} else {
			h.Set(name, value)
		}
		return h
	}
	good := signed(hr, now, body)
	mac := strings.TrimPrefix(good.Get("X-Signature"), "sha256=")
	for _, tc := range []struct {
		name   string
		src    *Source
		header http.Header
		body   []byte
		reason string // "" means accepted
	}{
		{"signed", hr, good, body, ""},
		{"hex without prefix", hr, with(good, "X-Signature", mac), body, ""},
		{"base64", hr, with(good, "X-Signature", "sha256="+b64(t, mac)), body, ""},
		{"prefix in capitals", hr, with(good, "X-Signature", "SHA256="+mac), body, ""},
		{"signed 4m ago", hr, signed(hr, now.Add(-4*time.Minute), body), body, ""},
		{"no signature", hr, with(good, "X-Signature", ""), body, ReasonMissingSignature},
		{"not a MAC", hr, with(good, "X-Signature", "sha256=zzzz"), body, ReasonMalformedSignature},
		{"wrong secret", hr, with(good, "X-Signature", "sha256="+strings.Repeat("ab", 32)), body, ReasonSignatureMismatch},
		{"body changed", hr, good, append([]byte(" "), body...), ReasonSignatureMismatch},
		{"timestamp changed", hr, with(good, "X-Timestamp", "1770000001"), body, ReasonSignatureMismatch},
		{"no timestamp", hr, with(good, "X-Timestamp", ""), body, ReasonMissingTimestamp},
		{"timestamp not a time", hr, with(good, "X-Timestamp", "yesterday"), body, ReasonMalformedTimestamp},
		{"signed 6m ago", hr, signed(hr, now.Add(-6*time.Minute), body), body, ReasonTimestampTooOld},
		{"signed 6m ahead", hr, signed(hr, now.Add(6*time.Minute), body), body, ReasonTimestampInFuture},
		{"github style", hook, signed(hook, now.Add(-time.Hour), body), body, ""},
		{"github style, another source's signature", hook, with(good, "X-Hub-Signature-256", good.Get("X-Signature")), body, ReasonSignatureMismatch},
		{"bearer", benefits, signed(benefits, now, body), body, ""},
		{"bearer, none", benefits, http.Header{}, body, ReasonMissingKey},
		{"bearer, basic scheme", benefits, http.Header{"Authorization": {"Basic eDp5"}}, body, ReasonMissingKey},
		{"bearer, wrong", benefits, http.Header{"Authorization": {"Bearer nope"}}, body, ReasonKeyMismatch},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			err := tc.src.Verify(tc.header, tc.body, now)
			if tc.reason == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			var ae *AuthError
			if !errors.As(err, &ae) || ae.Reason != tc.reason {
				t.Fatalf("error %v, want reason %q", err, tc.reason)
			}
			if ae.Detail == "" || ae.Header == "" {
				t.Errorf("no detail or header: %+v", ae)
			}
			for _, secret := range exampleSecrets {
				if strings.Contains(err.Error(), secret) {
					t.Errorf("the error shows a secret: %v", err)
				}
			}
		})
	}
}

func b64(t *testing.T, hexMAC string) string {
	t.Helper()
	raw, err := hex.DecodeString(hexMAC)
	if err != nil {
		t.Fatal(err)
	}
	return base64.StdEncoding.EncodeToString(raw)
}

func TestMapFailuresNameTheStep(t *testing.T) {
	t.Parallel()
	src := mustParse(t, "steps", `
auth: {bearer: {key: env:S}}
filter: '.kind == "x" or .kind == "broken"'
map:
  id: '.id'
  type: '"com.example.x"'
  audience: '{users: [.to]}'
  notification: '{message: .text, title: .title}'
`)
	for _, tc := range []struct {
		name, body string
		step       string // a *MapError's step, or "" for a *event.ValidationError
		field      string // with step "", the field named
		contains   string
	}{
		{"malformed JSON", `{"kind": "x",`, StepBody, "", "malformed JSON"},
		{"not JSON at all", `kind=x`, StepBody, "", "malformed JSON at byte 1"},
		{"two values", `{"kind":"x"} {}`, StepBody, "", "more data after the payload"},
		{"empty", ``, StepBody, "", "empty"},
		{"filter on a string", `"x"`, StepFilter, "", "jq error: expected an object but got: string"},
		{"no id", `{"kind":"x","to":"ann","text":"hi"}`, StepID, "", "yielded null"},
		{"audience of a number", `{"kind":"x","id":"1","to":{"a":1},"text":"hi"}`, "", "data.audience.users[0]", "must be a string, got object (from map.audience)"},
		{"no message", `{"kind":"x","id":"1","to":"ann"}`, "", "data.notification.message", "required (from map.notification)"},
		{"title too long", `{"kind":"x","id":"1","to":"ann","text":"hi","title":"` + strings.Repeat("t", 300) + `"}`, "", "data.notification.title", "at most 256 are allowed (from map.notification)"},
		{"id a number", `{"kind":"x","id":7,"to":"ann","text":"hi"}`, "", "id", "must be a string, got number (from map.id)"},
		{"user id with a slash", `{"kind":"x","id":"1","to":"corp/ann","text":"hi"}`, "", "data.audience.users[0]", "must not contain '/'"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := src.Map(context.Background(), []byte(tc.body), nil, received)
			if tc.step != "" {
				var me *MapError
				if !errors.As(err, &me) || me.Step != tc.step || !strings.Contains(me.Problem, tc.contains) {
					t.Fatalf("error %v; want step %s with %q", err, tc.step, tc.contains)
				}
				return
			}
			var ve *event.ValidationError
			if !errors.As(err, &ve) {
				t.Fatalf("error %v; want a validation error", err)
			}
			i := slices.IndexFunc(ve.Errors, func(fe event.FieldError) bool { return fe.Field == tc.field })
			if i < 0 || !strings.Contains(ve.Errors[i].Problem, tc.contains) {
				t.Fatalf("errors %+v; want %s: ...%s", ve.Errors, tc.field, tc.contains)
			}
		})
	}
}

func TestMapProgramsMisbehaving(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, filter, notification, step, contains string
	}{
		{"filter not a boolean", `.kind`, `{message: "m"}`, StepFilter, `must yield true or false, got string "x"`},
		{"filter yields nothing", `empty`, `{message: "m"}`, StepFilter, "yielded no value"},
		{"two notifications", `true`, `{message: "a"}, {message: "b"}`, StepNotification, "more than one value"},
		{"error()", `true`, `error("no message here")`, StepNotification, "jq error: no message here"},
		{"halt", `true`, `halt`, StepNotification, "halted"},
		{"environment is empty", `true`, `{message: env.HOME}`, StepNotification, "yielded"},
		{"a loop", `true`, `def f: f; f`, StepNotification, "did not finish within"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			src := mustParse(t, "misbehaving", `
auth: {bearer: {key: env:S}}
filter: '`+tc.filter+`'
map: {type: '"t"', subject: '"ann"', notification: '`+tc.notification+`'}
`)
			_, err := src.Map(context.Background(), []byte(`{"kind":"x"}`), nil, received)
			var me *MapError
			if tc.name == "environment is empty" {
				// env.HOME is null: the message is missing, as the
				// environment is not the mapping's to read.
				var ve *event.ValidationError
				if !errors.As(err, &ve) || ve.Errors[0].Field != "data.notification.message" {
					t.Fatalf("error %v; want data.notification.message required", err)
				}
				return
			}
			if !errors.As(err, &me) || me.Step != tc.step || !strings.Contains(me.Problem, tc.contains) {
				t.Fatalf("error %v; want step %s with %q", err, tc.step, tc.contains)
			}
		})
	}
}

func TestDefaultsAndHeaders(t *testing.T) {
	t.Parallel()
	src := mustParse(t, "defaults", `
auth: {hmac: {secret: env:S}}
map:
  type: '"t." + $headers["x-kind"]'
  notification: '{message: ($headers | has("authorization") | tostring)}'
  subject: '.who'
`)
	body := []byte(`{"who":"ann", "n": 12345678901234567890}`)
	res, err := src.Map(context.Background(), body, http.Header{"X-Kind": {"k"}, "Authorization": {"Bearer secret"}}, received)
	if err != nil {
		t.Fatal(err)
	}
	ev := res.Event
	if ev.Source != "urn:herald:source:defaults" || ev.Type != "t.k" || len(ev.SourceID) != 32 || ev.Notification.Message != "false" {
		t.Fatalf("event %+v", ev)
	}
	if !slices.Equal(ev.Audience.Users, []string{"ann"}) {
		t.Fatalf("subject did not become the recipient: %+v", ev.Audience)
	}
	again, _ := src.Map(context.Background(), body, nil, received)
	if again.Event.ID != ev.ID {
		t.Errorf("the same body got ids %s and %s; the default id is the body's digest", ev.ID, again.Event.ID)
	}
	// Large numbers stay exact on their way through jq.
	big := mustParse(t, "big", `
auth: {hmac: {secret: env:S}}
map: {id: '.n | tostring', type: '"t"', subject: '"ann"', notification: '{message: "m"}'}
`)
	res, err = big.Map(context.Background(), body, nil, received)
	if err != nil || res.Event.SourceID != "12345678901234567890" {
		t.Fatalf("id %q, err %v", res.Event.SourceID, err)
	}
}

func TestDefinitionProblems(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	secretFile := filepath.Join(dir, "secret.txt")
	if err := os.WriteFile(secretFile, []byte("from-a-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	const mapOK = "\nmap: {type: '\"t\"', notification: '{message: .m}'}\n"
	for _, tc := range []struct {
		name, file, yaml string
		problems         []string
	}{
		{"no auth", "a.yaml", "map: {type: '\"t\"', notification: '{message: .m}'}", []string{"auth: required"}},
		{"both", "a.yaml", "auth: {hmac: {secret: env:S}, bearer: {key: env:S}}" + mapOK, []string{"not both"}},
		{"inline secret", "a.yaml", "auth: {hmac: {secret: hunter2hunter2}}" + mapOK, []string{"auth.hmac.secret: must be a reference"}},
		{"unset variable", "a.yaml", "auth: {bearer: {key: env:NOPE}}" + mapOK, []string{"auth.bearer.key: environment variable NOPE is not set"}},
		{"missing file", "a.yaml", "auth: {bearer: {key: file:nope.txt}}" + mapOK, []string{"auth.bearer.key: read the secret file"}},
		{"tolerance without timestamp", "a.yaml", "auth: {hmac: {secret: env:S, tolerance: 1m}}" + mapOK, []string{"needs auth.hmac.timestampHeader"}},
		{"typo", "a.yaml", "auth: {bearer: {key: env:S}}\nfilters: 'true'" + mapOK, []string{"field filters not found"}},
		{"name differs", "a.yaml", "name: b\nauth: {bearer: {key: env:S}}" + mapOK, []string{`name: "b" differs from the file name "a"`}},
		{"bad file name", "Bad Name.yaml", "auth: {bearer: {key: env:S}}" + mapOK, []string{"name: the file name gives the name"}},
		{"required steps", "a.yaml", "auth: {bearer: {key: env:S}}\nmap: {id: .id}", []string{"map.type: required", "map.notification: required"}},
		{"jq syntax", "a.yaml", "auth: {bearer: {key: env:S}}\nmap: {type: '\"t\"', notification: '{message: .m', audience: '[.a'}", []string{
			`map.audience: jq syntax error at offset 3 of "[.a"`, "map.notification: jq syntax error at offset 12"}},
		{"unknown function", "a.yaml", "auth: {bearer: {key: env:S}}\nfilter: 'nosuch(1)'" + mapOK, []string{"filter: jq: function not defined: nosuch/1"}},
		{"input is not allowed", "a.yaml", "auth: {bearer: {key: env:S}}\nfilter: 'input'" + mapOK, []string{"filter: jq: input(s)/0 is not allowed"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := Parse(filepath.Join(dir, tc.file), []byte(tc.yaml), LoadOptions{Secrets: true, LookupEnv: lookup(map[string]string{"S": "s3cret-value"})})
			var de *DefinitionError
			if !errors.As(err, &de) {
				t.Fatalf("error %v; want a DefinitionError", err)
			}
			for _, p := range tc.problems {
				if !strings.Contains(err.Error(), p) {
					t.Errorf("error %q; want it to say %q", err, p)
				}
			}
			if strings.Contains(err.Error(), "hunter2") || strings.Contains(err.Error(), "s3cret") {
				t.Errorf("the error shows a secret: %v", err)
			}
		})
	}
	// A file reference relative to the definition, read without its newline.
	src, err := Parse(filepath.Join(dir, "f.yaml"), []byte("auth: {bearer: {key: file:secret.txt}}"+mapOK), LoadOptions{Secrets: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := src.Verify(http.Header{"Authorization": {"Bearer from-a-file"}}, nil, received); err != nil {
		t.Fatalf("file secret: %v", err)
	}
	// Without Secrets, a definition compiles but cannot verify.
	src, err = Parse(filepath.Join(dir, "g.yaml"), []byte("auth: {bearer: {key: env:NOT_SET}}"+mapOK), LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := src.Verify(http.Header{}, nil, received); !errors.Is(err, ErrNoSecret) {
		t.Fatalf("verify without secrets: %v", err)
	}
}

func TestLoadDirReportsEveryFile(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	write := func(name, s string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("one.yaml", "auth: {bearer: {key: env:S}}\nmap: {type: '\"t\"'}")
	write("two.yml", "auth: {}\nmap: {type: '\"t\"', notification: '{message: .m}'}")
	write("notes.txt", "not a definition")
	write(".hidden.yaml", "broken: [")
	_, err := LoadDir(dir, LoadOptions{})
	if err == nil || !strings.Contains(err.Error(), "one.yaml: map.notification: required") || !strings.Contains(err.Error(), "two.yml: auth: required") {
		t.Fatalf("error %v", err)
	}
	if _, err := LoadDir(filepath.Join(dir, "missing"), LoadOptions{}); err == nil {
		t.Fatal("a missing directory loaded")
	}
	var none *Registry
	if _, ok := none.Get("x"); ok || len(none.List()) != 0 {
		t.Fatal("a nil registry has sources")
	}
}

func TestViewHidesSecrets(t *testing.T) {
	t.Parallel()
	for _, src := range examples(t).List() {
		v := src.View()
		b, _ := json.Marshal(v)
		for _, secret := range exampleSecrets {
			if strings.Contains(string(b), secret) {
				t.Errorf("%s: the view shows a secret: %s", src.Name(), b)
			}
		}
		if !strings.HasPrefix(v.Auth.Secret, "env:") || v.Endpoint != "/v1/sources/"+src.Name() || v.Map["notification"] == "" {
			t.Errorf("%s: view %s", src.Name(), b)
		}
	}
}

func TestUpstreamSignsWhatItSends(t *testing.T) {
	t.Parallel()
	hr, _ := examples(t).Get("hr-training")
	up, err := NewUpstream(hr, sample(t, "hr-training-assigned.json"), `.eventId += "-\($run)-\($n)"`, "r1")
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for n := range 3 {
		body, err := up.Payload(n)
		if err != nil {
			t.Fatal(err)
		}
		h := http.Header{}
		if err := up.Sign(h, body, time.Now()); err != nil {
			t.Fatal(err)
		}
		if err := hr.Verify(h, body, time.Now()); err != nil {
			t.Fatalf("payload %d: %v", n, err)
		}
		res, err := hr.Map(context.Background(), body, h, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		seen[res.Event.SourceID] = true
	}
	if len(seen) != 3 || !seen["evt-7f3a9c-r1-2"] {
		t.Fatalf("ids %v", seen)
	}
	if _, err := NewUpstream(hr, []byte(`{"a":1} {"b":`), "", "r"); err == nil || !strings.Contains(err.Error(), "sample 2") {
		t.Fatalf("error %v", err)
	}
	if _, err := NewUpstream(hr, []byte(`{}`), `.a +`, "r"); err == nil || !strings.Contains(err.Error(), "--vary") {
		t.Fatalf("error %v", err)
	}
}
