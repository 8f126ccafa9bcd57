package app_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/herald/herald/internal/app"
	"github.com/herald/herald/internal/client"
	"github.com/herald/herald/internal/event"
	"github.com/herald/herald/internal/ingest"
	"github.com/herald/herald/internal/problem"
	"github.com/herald/herald/internal/source"
	"github.com/herald/herald/internal/store"
)

// shippedSources copies examples/sources into a temporary directory with
// each env: secret turned into a file: one (tests run in parallel and do
// not set the environment), and loads them as herald will, for signing.
func shippedSources(t *testing.T) (string, *source.Registry) {
	t.Helper()
	dir := t.TempDir()
	secrets := map[string]string{
		"env:HR_TRAINING_SECRET": "hr-secret-for-tests-0123456789",
		"env:BENEFITS_KEY":       "benefits-key-for-tests-0123456789",
		"env:WEBHOOK_SECRET":     "webhook-secret-for-tests-0123456789",
	}
	files, err := filepath.Glob("../../examples/sources/*.yaml")
	if err != nil || len(files) != 3 {
		t.Fatalf("shipped definitions %v (%v)", files, err)
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		def := string(b)
		for ref, secret := range secrets {
			name := strings.ToLower(strings.TrimPrefix(ref, "env:")) + ".secret"
			if err := os.WriteFile(filepath.Join(dir, name), []byte(secret+"\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			def = strings.ReplaceAll(def, ref, "file:"+name)
		}
		if err := os.WriteFile(filepath.Join(dir, filepath.Base(f)), []byte(def), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	reg, err := source.LoadDir(dir, source.LoadOptions{Secrets: true})
	if err != nil {
		t.Fatal(err)
	}
	return dir, reg
}

func shippedSample(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("../../examples/sources/samples", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// signer signs as the source's upstream system does, at the given time.
func signer(src *source.Source, body []byte, at time.Time) func(http.Header) error {
	return func(h http.Header) error { return src.Sign(h, body, at) }
}

func TestSignedUpstreamPayloadsReachTheInbox(t *testing.T) {
	t.Parallel()
	dir, reg := shippedSources(t)
	b := setupWith(t, app.Options{SourcesDir: dir})
	ctx := context.Background()
	c := client.New(b.url, "") // upstream systems hold no herald key

	// HR: one person, signed with a timestamp.
	hr, _ := reg.Get("hr-training")
	body := shippedSample(t, "hr-training-assigned.json")
	resp, err := c.PostSource(ctx, "hr-training", body, signer(hr, body, time.Now()))
	if err != nil {
		t.Fatal(err)
	}
	want := event.IDFor("urn:example:hr", "evt-7f3a9c")
	if len(resp.Accepted) != 1 || resp.Accepted[0].ID != want || resp.Filtered {
		t.Fatalf("answer %+v, want event %s", resp, want)
	}
	b.waitCompleted(t, want)
	page := b.inbox(t, "alice", "")
	if len(page.Notifications) != 1 || page.Notifications[0].Title != "Training assigned: Security awareness" {
		t.Fatalf("alice's inbox %+v", page)
	}
	// Sent again (an upstream retry), it is accepted and delivered once.
	if _, err := c.PostSource(ctx, "hr-training", body, signer(hr, body, time.Now())); err != nil {
		t.Fatal(err)
	}

	// Another HR event is filtered: accepted, nothing stored.
	other := shippedSample(t, "hr-training-completed.json")
	resp, err = c.PostSource(ctx, "hr-training", other, signer(hr, other, time.Now()))
	if err != nil || !resp.Filtered || len(resp.Accepted) != 0 {
		t.Fatalf("filtered answer %+v, err %v", resp, err)
	}

	// Benefits: a topic broadcast, with the platform's bearer key.
	for topic, member := range map[string]string{"full-time-us": "dan", "part-time-us": "eve"} {
		if err := b.admin.Do(ctx, http.MethodPost, "/v1/topics", "application/json", []byte(`{"name":"`+topic+`"}`), nil); err != nil {
			t.Fatal(err)
		}
		if err := b.admin.Do(ctx, http.MethodPost, "/v1/topics/"+topic+"/members", "application/json", []byte(`{"users":["`+member+`"]}`), nil); err != nil {
			t.Fatal(err)
		}
	}
	benefits, _ := reg.Get("benefits-enrollment")
	body = shippedSample(t, "benefits-enrollment-opened.json")
	resp, err = c.PostSource(ctx, "benefits-enrollment", body, signer(benefits, body, time.Now()))
	if err != nil {
		t.Fatal(err)
	}
	st := b.waitCompleted(t, resp.Accepted[0].ID)
	if got := st.Channels["inbox"].Outcomes["delivered"]; got != 2 {
		t.Errorf("benefits broadcast: inbox delivered %d, want 2 (status %+v)", got, st)
	}
	for _, user := range []string{"dan", "eve"} {
		if page := b.inbox(t, user, ""); len(page.Notifications) != 1 || page.Notifications[0].Category != "benefits" {
			t.Errorf("%s's inbox %+v", user, page)
		}
	}
	if page := b.inbox(t, "alice", ""); len(page.Notifications) != 1 {
		t.Errorf("alice got %d notifications; the HR retry must not add one and she is in no benefits topic", len(page.Notifications))
	}
}

// postRaw posts to a source and returns the status and problem document.
func postRaw(t *testing.T, url string, body []byte, header http.Header) (int, problem.Document) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var doc problem.Document
	_ = json.Unmarshal(raw, &doc)
	if resp.StatusCode >= 400 && resp.Header.Get("Content-Type") != "application/problem+json" {
		t.Errorf("%d answered as %s: %s", resp.StatusCode, resp.Header.Get("Content-Type"), raw)
	}
	return resp.StatusCode, doc
}

func TestSourceRequestsRefused(t *testing.T) {
	t.Parallel()
	dir, reg := shippedSources(t)
	b := setupWith(t, app.Options{SourcesDir: dir, Ingest: ingest.Config{MaxBodyBytes: 8 << 10}})
	hr, _ := reg.Get("hr-training")
	hook, _ := reg.Get("webhook")
	good := shippedSample(t, "hr-training-assigned.json")
	signed := func(src *source.Source, body []byte, at time.Time) http.Header {
		h := http.Header{}
		if err := src.Sign(h, body, at); err != nil {
			t.Fatal(err)
		}
		return h
	}
	without := func(h http.Header, name string) http.Header { h = h.Clone(); h.Del(name); return h }
	noEmployee := []byte(`{"eventId":"e9","event":"training.assigned","course":{"name":"Fire safety","dueDate":"2026-05-01"}}`)
	badLink := []byte(`{"id":"w9","user":"bob","message":"hi","link":"ftp://files.example.com/x"}`)
	for _, tc := range []struct {
		name       string
		source     string
		body       []byte
		header     http.Header
		status     int
		code       problem.Code
		field      string // errors[0].field
		problemHas string // errors[0].problem contains
	}{
		{"missing signature", "hr-training", good, without(signed(hr, good, time.Now()), "X-Signature"), 401, problem.SourceUnauthenticated, "X-Signature", source.ReasonMissingSignature},
		{"signature does not match", "hr-training", good, mix(signed(hr, good, time.Now()), "X-Signature", "sha256="+strings.Repeat("0", 64)), 401, problem.SourceUnauthenticated, "X-Signature", source.ReasonSignatureMismatch},
		{"timestamp too old", "hr-training", good, signed(hr, good, time.Now().Add(-10*time.Minute)), 401, problem.SourceUnauthenticated, "X-Timestamp", source.ReasonTimestampTooOld},
		{"bearer key wrong", "benefits-enrollment", good, http.Header{"Authorization": {"Bearer " + b.keys[store.RoleAdmin]}}, 401, problem.SourceUnauthenticated, "Authorization", source.ReasonKeyMismatch},
		{"malformed JSON", "webhook", []byte(`{"id": "w1", "user": `), signed(hook, []byte(`{"id": "w1", "user": `), time.Now()), 400, problem.MappingFailed, "body", "malformed JSON"},
		{"jq error", "hr-training", []byte(`{"event":"training.assigned","eventId":"e8","employee":"ann"}`), nil, 400, problem.MappingFailed, "map.audience", "jq error: expected an object but got: string"},
		{"invalid event: no recipient", "hr-training", noEmployee, nil, 400, problem.InvalidEvent, "data.audience.users[0]", "must be a string, got null (from map.audience)"},
		{"invalid event: bad link", "webhook", badLink, signed(hook, badLink, time.Now()), 400, problem.InvalidEvent, "data.notification.actions[0].url", "must be an absolute http or https URL"},
		{"unknown source", "payroll", good, nil, 404, problem.NotFound, "", ""},
		{"too large", "webhook", bytes.Repeat([]byte(" "), 9<<10), nil, 413, problem.PayloadTooLarge, "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := tc.header
			if h == nil && tc.source == "hr-training" {
				h = signed(hr, tc.body, time.Now())
			}
			status, doc := postRaw(t, b.url+"/v1/sources/"+tc.source, tc.body, h)
			if status != tc.status || doc.Code != tc.code {
				t.Fatalf("answered %d %s (%s), want %d %s", status, doc.Code, doc.Detail, tc.status, tc.code)
			}
			if tc.field == "" {
				return
			}
			if len(doc.Errors) == 0 || doc.Errors[0].Field != tc.field || !strings.Contains(doc.Errors[0].Problem, tc.problemHas) {
				t.Fatalf("errors %+v (detail %q); want %s: ...%s", doc.Errors, doc.Detail, tc.field, tc.problemHas)
			}
			if tc.status == 401 && !strings.HasPrefix(doc.Detail, tc.problemHas) {
				t.Errorf("detail %q does not start with the reason", doc.Detail)
			}
		})
	}
}

func mix(h http.Header, name, value string) http.Header {
	h = h.Clone()
	h.Set(name, value)
	return h
}

func TestSourcesListedForAdminsWithoutSecrets(t *testing.T) {
	t.Parallel()
	dir, _ := shippedSources(t)
	b := setupWith(t, app.Options{SourcesDir: dir})
	ctx := context.Background()
	var list struct {
		Sources []source.View `json:"sources"`
	}
	if err := b.admin.Do(ctx, http.MethodGet, "/v1/sources", "", nil, &list); err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, v := range list.Sources {
		names = append(names, v.Name)
	}
	if strings.Join(names, ",") != "benefits-enrollment,hr-training,webhook" {
		t.Fatalf("sources %v", names)
	}
	raw, _ := json.Marshal(list)
	if strings.Contains(string(raw), "for-tests") {
		t.Fatalf("a secret is shown: %s", raw)
	}
	var one source.View
	if err := b.admin.Do(ctx, http.MethodGet, "/v1/sources/hr-training", "", nil, &one); err != nil {
		t.Fatal(err)
	}
	if one.Auth.Kind != "hmac" || one.Auth.TimestampHeader != "X-Timestamp" || one.Auth.Tolerance != "5m0s" || !strings.HasPrefix(one.Auth.Secret, "file:") {
		t.Errorf("hr-training %+v", one)
	}
	var ae *client.APIError
	if err := b.reader.Do(ctx, http.MethodGet, "/v1/sources", "", nil, nil); !errors.As(err, &ae) || ae.Status != 403 {
		t.Errorf("reader listing sources: %v, want 403", err)
	}
	if err := b.admin.Do(ctx, http.MethodGet, "/v1/sources/payroll", "", nil, nil); !errors.As(err, &ae) || ae.Status != 404 {
		t.Errorf("unknown source: %v, want 404", err)
	}
}

func TestBadSourceDefinitionStopsStart(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "hr.yaml"), []byte("auth: {hmac: {secret: env:HERALD_TEST_UNSET_SECRET}}\nmap: {type: '\"t\"', notification: '{message: .m'}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := app.Open(context.Background(), app.Options{DataDir: t.TempDir(), SourcesDir: dir})
	if err == nil || !strings.Contains(err.Error(), "auth.hmac.secret: environment variable HERALD_TEST_UNSET_SECRET is not set") ||
		!strings.Contains(err.Error(), "map.notification: jq syntax error") {
		t.Fatalf("Open: %v", err)
	}
}
