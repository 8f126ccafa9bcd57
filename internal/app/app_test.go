package app_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/herald/herald/internal/app"
	"github.com/herald/herald/internal/auth"
	"github.com/herald/herald/internal/client"
	"github.com/herald/herald/internal/event"
	"github.com/herald/herald/internal/hub"
	"github.com/herald/herald/internal/ingest"
	"github.com/herald/herald/internal/store"
)

// bundle is what an integration test needs: a running herald with embedded
// NATS and SQLite, its URL, and clients holding keys of each role.
type bundle struct {
	app      *app.App
	url      string
	dataDir  string
	admin    *client.Client
	producer *client.Client
	reader   *client.Client
	keys     map[store.Role]string
	stop     func()
}

// setup starts herald on a loopback port over dataDir (a fresh temporary
// directory when empty) and stops it at the end of the test.
func setup(t *testing.T, dataDir string) *bundle {
	t.Helper()
	return setupWith(t, app.Options{DataDir: dataDir})
}

// setupWith is setup with options; the address and partitions are set here.
func setupWith(t *testing.T, opts app.Options) *bundle {
	t.Helper()
	dataDir := opts.DataDir
	if dataDir == "" {
		dataDir = t.TempDir()
	}
	ctx := context.Background()
	opts.DataDir, opts.Addr, opts.Partitions = dataDir, "127.0.0.1:0", 2
	a, err := app.Open(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	addr, err := a.Listen()
	if err != nil {
		t.Fatal(err)
	}
	b := &bundle{app: a, url: "http://" + addr.String(), dataDir: dataDir, keys: map[store.Role]string{}}
	for _, role := range auth.Roles {
		key, rec, err := auth.NewKey(role, "test", time.Now())
		if err != nil {
			t.Fatal(err)
		}
		if err := a.Store.CreateAPIKey(ctx, rec); err != nil {
			t.Fatal(err)
		}
		b.keys[role] = key
	}
	b.admin = client.New(b.url, b.keys[store.RoleAdmin])
	b.producer = client.New(b.url, b.keys[store.RoleProducer])
	b.reader = client.New(b.url, b.keys[store.RoleReader])
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- a.Run(runCtx) }()
	stopped := false
	b.stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		if err := <-done; err != nil {
			t.Errorf("herald stopped with an error: %v", err)
		}
	}
	t.Cleanup(b.stop)
	return b
}

// cloudEvent builds a structured CloudEvent for users.
func cloudEvent(id string, users []string, message string, extra map[string]any) []byte {
	notif := map[string]any{"title": "Training due", "message": message}
	for k, v := range extra {
		notif[k] = v
	}
	body, _ := json.Marshal(map[string]any{
		"specversion": "1.0", "id": id, "source": "urn:test", "type": "com.example.training.due",
		"data": map[string]any{"audience": map[string]any{"users": users}, "notification": notif},
	})
	return body
}

type inboxPage struct {
	Notifications []store.InboxItem `json:"notifications"`
	Unread        int               `json:"unread"`
	NextCursor    string            `json:"nextCursor"`
}

func (b *bundle) inbox(t *testing.T, user, query string) inboxPage {
	t.Helper()
	var p inboxPage
	if err := b.reader.Do(context.Background(), http.MethodGet, client.UserPath(user, "/notifications"+query), "", nil, &p); err != nil {
		t.Fatal(err)
	}
	return p
}

type statusDoc struct {
	State      string `json:"state"`
	Targeted   int    `json:"targeted"`
	Pending    int    `json:"pending"`
	Channels   map[string]store.ChannelCounts
	Recipients []struct {
		UserID  string `json:"userId"`
		Channel string `json:"channel"`
		Outcome string `json:"outcome"`
		Reason  string `json:"reason"`
	} `json:"recipients"`
}

// eventually polls cond until it holds, failing the test with what (and
// cond's last word on why not) after within.
func eventually(t *testing.T, within time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		ok, why := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s: %s", what, within, why)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// pollStatus reads event id's status through c into out until done says it
// is what the test waits for.
func pollStatus(t *testing.T, c *client.Client, id string, within time.Duration, out any, done func() bool) {
	t.Helper()
	eventually(t, within, "status of event "+id, func() (bool, string) {
		err := c.Do(context.Background(), http.MethodGet, "/v1/events/"+id, "", nil, out)
		return err == nil && done(), fmt.Sprintf("%+v, err %v", out, err)
	})
}

// waitCompleted polls an event's status until nothing is pending.
func (b *bundle) waitCompleted(t *testing.T, id string) statusDoc {
	t.Helper()
	var st statusDoc
	pollStatus(t, b.reader, id, 10*time.Second, &st, func() bool { return st.State == "completed" })
	return st
}

func (b *bundle) post(t *testing.T, contentType string, body []byte) ingestAnswer {
	t.Helper()
	resp, err := b.producer.PostEvents(context.Background(), contentType, body)
	if err != nil {
		t.Fatalf("post events: %v", err)
	}
	return ingestAnswer{ids: ids(resp.Accepted)}
}

type ingestAnswer struct{ ids []string }

func ids(acc []ingest.Accepted) []string {
	out := make([]string, len(acc))
	for i, a := range acc {
		out[i] = a.ID
	}
	return out
}

func TestEventReachesInbox(t *testing.T) {
	t.Parallel()
	b := setup(t, "")
	ans := b.post(t, event.MediaCloudEvent, cloudEvent("e1", []string{"alice"}, "Finish security training by Friday", nil))
	if len(ans.ids) != 1 || ans.ids[0] != event.IDFor("urn:test", "e1") {
		t.Fatalf("accepted ids = %v", ans.ids)
	}
	st := b.waitCompleted(t, ans.ids[0])
	if got := st.Channels["inbox"].Outcomes["delivered"]; got != 1 {
		t.Errorf("inbox delivered = %d, want 1 (status %+v)", got, st)
	}
	if got := st.Channels["conversation"].Outcomes["unreachable"]; got != 1 {
		t.Errorf("conversation unreachable = %d, want 1: alice never talked to the assistant", got)
	}
	for _, ch := range []string{"mobile", "webpush"} {
		if got := st.Channels[ch].Outcomes["not_configured"]; got != 1 {
			t.Errorf("%s not_configured = %d, want 1: a channel herald cannot reach yet is recorded, never dropped", ch, got)
		}
	}
	page := b.inbox(t, "alice", "")
	if len(page.Notifications) != 1 || page.Notifications[0].Message != "Finish security training by Friday" || page.Unread != 1 {
		t.Fatalf("inbox = %+v", page)
	}
}

func TestBareSampleBodyIsAccepted(t *testing.T) {
	t.Parallel()
	b := setup(t, "")
	ans := b.post(t, "application/json", []byte(`{"userid":"bob","message":"Benefits enrollment opened"}`))
	b.waitCompleted(t, ans.ids[0])
	page := b.inbox(t, "bob", "")
	if len(page.Notifications) != 1 || page.Notifications[0].Message != "Benefits enrollment opened" {
		t.Fatalf("inbox = %+v", page)
	}
}

func TestBatchAndBinaryModes(t *testing.T) {
	t.Parallel()
	b := setup(t, "")
	batch := "[" + string(cloudEvent("b1", []string{"carol"}, "one", nil)) + "," + string(cloudEvent("b2", []string{"carol"}, "two", nil)) + "]"
	ans := b.post(t, event.MediaCloudEventBatch, []byte(batch))
	if len(ans.ids) != 2 {
		t.Fatalf("batch accepted %v", ans.ids)
	}
	req, _ := http.NewRequest(http.MethodPost, b.url+"/v1/events", strings.NewReader(`{"audience":{"users":["carol"]},"notification":{"message":"three"}}`))
	req.Header.Set("Authorization", "Bearer "+b.keys[store.RoleProducer])
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("ce-specversion", "1.0")
	req.Header.Set("ce-id", "b3")
	req.Header.Set("ce-source", "urn%3Atest")
	req.Header.Set("ce-type", "com.example.x")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("binary mode answered %d", resp.StatusCode)
	}
	for _, id := range append(ans.ids, event.IDFor("urn:test", "b3")) {
		b.waitCompleted(t, id)
	}
	page := b.inbox(t, "carol", "")
	var msgs []string
	for _, n := range page.Notifications {
		msgs = append(msgs, n.Message)
	}
	if strings.Join(msgs, ",") != "three,two,one" {
		t.Fatalf("inbox newest first = %v", msgs)
	}
}

func TestDuplicateEventDeliveredOnce(t *testing.T) {
	t.Parallel()
	b := setup(t, "")
	body := cloudEvent("dup-1", []string{"dave"}, "only once", nil)
	first := b.post(t, event.MediaCloudEvent, body)
	b.waitCompleted(t, first.ids[0])
	second := b.post(t, event.MediaCloudEvent, body)
	if first.ids[0] != second.ids[0] {
		t.Fatalf("the same (source, id) got ids %s and %s", first.ids[0], second.ids[0])
	}
	// A different event after the duplicate: once it is delivered, the
	// duplicate has been handled too (same partition, in order).
	marker := b.post(t, event.MediaCloudEvent, cloudEvent("dup-2", []string{"dave"}, "marker", nil))
	b.waitCompleted(t, marker.ids[0])
	page := b.inbox(t, "dave", "")
	if len(page.Notifications) != 2 {
		t.Fatalf("inbox has %d notifications, want 2 (duplicate delivered once + marker): %+v", len(page.Notifications), page.Notifications)
	}
}

func TestInvalidInputIsRefusedAndNothingEntersTheHub(t *testing.T) {
	t.Parallel()
	b := setup(t, "")
	good := string(cloudEvent("ok", []string{"eve"}, "fine", nil))
	big := strings.Repeat("x", 2<<20)
	cases := []struct {
		name        string
		contentType string
		body        string
		status      int
		field       string
		index       int
	}{
		{"malformed JSON", event.MediaCloudEvent, `{"specversion":"1.0",`, 400, "(event)", -1},
		{"missing id", event.MediaCloudEvent, `{"specversion":"1.0","source":"s","type":"t","data":{"audience":{"users":["eve"]},"notification":{"message":"m"}}}`, 400, "id", -1},
		{"missing specversion", event.MediaCloudEvent, `{"id":"x","source":"s","type":"t","data":{"audience":{"users":["eve"]},"notification":{"message":"m"}}}`, 400, "specversion", -1},
		{"wrong type", event.MediaCloudEvent, `{"specversion":"1.0","id":7,"source":"s","type":"t","data":{"audience":{"users":["eve"]},"notification":{"message":"m"}}}`, 400, "id", -1},
		{"message not a string", event.MediaCloudEvent, `{"specversion":"1.0","id":"x","source":"s","type":"t","data":{"audience":{"users":["eve"]},"notification":{"message":5}}}`, 400, "data.notification.message", -1},
		{"empty audience", event.MediaCloudEvent, `{"specversion":"1.0","id":"x","source":"s","type":"t","data":{"audience":{"users":[]},"notification":{"message":"m"}}}`, 400, "data.audience", -1},
		{"oversized body", event.MediaCloudEvent, `{"specversion":"1.0","id":"x","pad":"` + big + `"}`, 413, "", -1},
		{"unknown media type", "text/plain", "hello", 415, "", -1},
		{"batch with one bad event", event.MediaCloudEventBatch, "[" + good + `,{"specversion":"1.0","id":"y","source":"s","type":"t","data":{"audience":{"users":["eve"]}}}]`, 400, "data.notification", 1},
		{"bare body without message", "application/json", `{"userId":"eve"}`, 400, "message", -1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := b.producer.PostEvents(context.Background(), tc.contentType, []byte(tc.body))
			ae, ok := err.(*client.APIError)
			if !ok {
				t.Fatalf("want an API error, got %v", err)
			}
			if ae.Status != tc.status {
				t.Fatalf("status = %d, want %d (%v)", ae.Status, tc.status, ae)
			}
			if ae.Problem.Code == "" || ae.Problem.Title == "" {
				t.Errorf("problem document lacks code or title: %+v", ae.Problem)
			}
			if tc.field == "" {
				return
			}
			found := false
			for _, fe := range ae.Problem.Errors {
				if fe.Field == tc.field && fe.Index == tc.index && fe.Problem != "" {
					found = true
				}
			}
			if !found {
				t.Errorf("no error for field %q at index %d in %+v", tc.field, tc.index, ae.Problem.Errors)
			}
		})
	}
	// Nothing reached the hub: the good event of the refused batch never
	// arrives, while a marker sent afterwards does.
	marker := b.post(t, event.MediaCloudEvent, cloudEvent("marker", []string{"eve"}, "marker", nil))
	b.waitCompleted(t, marker.ids[0])
	page := b.inbox(t, "eve", "")
	if len(page.Notifications) != 1 || page.Notifications[0].Message != "marker" {
		t.Fatalf("eve's inbox = %+v, want only the marker", page.Notifications)
	}
	if lag, err := b.app.Hub.Lag(context.Background(), "events", "handler"); err != nil || lag.Pending != 0 {
		t.Fatalf("events lag = %+v, %v", lag, err)
	}
}

func TestPreferences(t *testing.T) {
	t.Parallel()
	// No conversation channel: its deliveries would wait for the end of
	// frank's quiet hours whenever the test runs inside them.
	b := setupWith(t, app.Options{Conversation: app.ConversationOptions{Mode: app.ConversationOff}})
	ctx := context.Background()
	var p map[string]any
	if err := b.reader.Do(ctx, http.MethodGet, client.UserPath("frank", "/preferences"), "", nil, &p); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"sendNotificationToConversation", "sendNotificationToMobileDevice", "sendNotificationToWebPush", "sendNotificationToInbox"} {
		if p[f] != true {
			t.Errorf("default %s = %v, want true", f, p[f])
		}
	}
	// Turning the inbox off makes the next notification skipped by preference.
	if err := b.admin.Do(ctx, http.MethodPatch, client.UserPath("frank", "/preferences"), "application/json", []byte(`{"sendNotificationToInbox":false}`), &p); err != nil {
		t.Fatal(err)
	}
	ans := b.post(t, event.MediaCloudEvent, cloudEvent("pref-1", []string{"frank"}, "hidden", nil))
	st := b.waitCompleted(t, ans.ids[0])
	if st.Channels["inbox"].Outcomes["skipped_preference"] != 1 {
		t.Fatalf("inbox outcomes = %+v, want skipped_preference", st.Channels["inbox"])
	}
	if n := len(b.inbox(t, "frank", "").Notifications); n != 0 {
		t.Fatalf("frank's inbox has %d notifications", n)
	}
	// A category switched off skips that category only.
	if err := b.admin.Do(ctx, http.MethodPut, client.UserPath("frank", "/preferences"), "application/json", []byte(`{"categories":{"marketing":false},"timeZone":"Europe/Paris","quietHours":{"start":"22:00","end":"07:00"}}`), &p); err != nil {
		t.Fatal(err)
	}
	m := b.post(t, event.MediaCloudEvent, cloudEvent("pref-2", []string{"frank"}, "ad", map[string]any{"category": "marketing"}))
	h := b.post(t, event.MediaCloudEvent, cloudEvent("pref-3", []string{"frank"}, "hr news", map[string]any{"category": "hr"}))
	if got := b.waitCompleted(t, m.ids[0]).Channels["inbox"].Outcomes["skipped_preference"]; got != 1 {
		t.Errorf("marketing skipped = %d, want 1", got)
	}
	if got := b.waitCompleted(t, h.ids[0]).Channels["inbox"].Outcomes["delivered"]; got != 1 {
		t.Errorf("hr delivered = %d, want 1", got)
	}
	// Validation names the field.
	err := b.admin.Do(ctx, http.MethodPatch, client.UserPath("frank", "/preferences"), "application/json", []byte(`{"timeZone":"Mars/Olympus","quietHours":{"start":"25:00","end":"07:00"}}`), nil)
	ae, ok := err.(*client.APIError)
	if !ok || ae.Status != 400 {
		t.Fatalf("want 400, got %v", err)
	}
	fields := map[string]bool{}
	for _, fe := range ae.Problem.Errors {
		fields[fe.Field] = true
	}
	if !fields["timeZone"] || !fields["quietHours.start"] {
		t.Errorf("errors name %v, want timeZone and quietHours.start", fields)
	}
}

func TestDefaultPreferencesCreatedOnFirstSight(t *testing.T) {
	t.Parallel()
	b := setup(t, "")
	ans := b.post(t, event.MediaCloudEvent, cloudEvent("first", []string{"grace"}, "hello", nil))
	b.waitCompleted(t, ans.ids[0])
	got, err := b.app.Store.LoadPreferences(context.Background(), []string{"grace"})
	if err != nil {
		t.Fatal(err)
	}
	p := got["grace"]
	if p.UserID != "grace" || !p.SendNotificationToInbox || !p.SendNotificationToConversation || p.TimeZone != "UTC" {
		t.Fatalf("preferences after first event = %+v", p)
	}
}

func TestStreamReceivesLive(t *testing.T) {
	t.Parallel()
	b := setup(t, "")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, b.url+client.UserPath("heidi", "/notifications/stream"), nil)
	req.Header.Set("Authorization", "Bearer "+b.keys[store.RoleReader])
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("content type %q", ct)
	}
	events := make(chan string, 4)
	go readSSE(resp.Body, events)
	sent := time.Now()
	b.post(t, event.MediaCloudEvent, cloudEvent("live-1", []string{"heidi"}, "live!", nil))
	select {
	case data := <-events:
		if !strings.Contains(data, `"message":"live!"`) {
			t.Fatalf("stream data %s", data)
		}
		t.Logf("ingest -> stream in %s", time.Since(sent))
	case <-ctx.Done():
		t.Fatal("no notification on the stream")
	}
}

// readSSE sends the data of each "notification" event to out.
func readSSE(r io.Reader, out chan<- string) {
	sc := bufio.NewScanner(r)
	var name, data string
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "event: "):
			name = strings.TrimPrefix(line, "event: ")
		case strings.HasPrefix(line, "data: "):
			data = strings.TrimPrefix(line, "data: ")
		case line == "":
			if name == "notification" {
				out <- data
			}
			name, data = "", ""
		}
	}
	close(out)
}

func TestReadAndPagination(t *testing.T) {
	t.Parallel()
	b := setup(t, "")
	var last []string
	for i := range 5 {
		a := b.post(t, event.MediaCloudEvent, cloudEvent(fmt.Sprintf("p%d", i), []string{"ivan"}, fmt.Sprintf("n%d", i), nil))
		last = a.ids
	}
	b.waitCompleted(t, last[0])
	first := b.inbox(t, "ivan", "?limit=2")
	if len(first.Notifications) != 2 || first.NextCursor == "" || first.Notifications[0].Message != "n4" {
		t.Fatalf("first page %+v", first)
	}
	second := b.inbox(t, "ivan", "?limit=2&cursor="+first.NextCursor)
	if second.Notifications[0].Message != "n2" {
		t.Fatalf("second page %+v", second)
	}
	id := first.Notifications[0].ID
	if err := b.reader.Do(context.Background(), http.MethodPost, client.UserPath("ivan", "/notifications/"+id+"/read"), "", nil, nil); err != nil {
		t.Fatal(err)
	}
	unread := b.inbox(t, "ivan", "?unread=true")
	if unread.Unread != 4 || len(unread.Notifications) != 4 {
		t.Fatalf("after one read: unread %d, %d items", unread.Unread, len(unread.Notifications))
	}
	err := b.reader.Do(context.Background(), http.MethodPost, client.UserPath("ivan", "/notifications/nope/read"), "", nil, nil)
	if ae, ok := err.(*client.APIError); !ok || ae.Status != 404 {
		t.Fatalf("unknown notification: %v", err)
	}
}

func TestRestartKeepsInboxAndPreferences(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	b := setup(t, dir)
	if err := b.admin.Do(context.Background(), http.MethodPatch, client.UserPath("judy", "/preferences"), "application/json", []byte(`{"locale":"fr-FR"}`), nil); err != nil {
		t.Fatal(err)
	}
	a := b.post(t, event.MediaCloudEvent, cloudEvent("r1", []string{"judy"}, "kept", nil))
	b.waitCompleted(t, a.ids[0])
	b.stop()

	b2 := setup(t, dir)
	page := b2.inbox(t, "judy", "")
	if len(page.Notifications) != 1 || page.Notifications[0].Message != "kept" {
		t.Fatalf("inbox after restart %+v", page)
	}
	var p map[string]any
	if err := b2.reader.Do(context.Background(), http.MethodGet, client.UserPath("judy", "/preferences"), "", nil, &p); err != nil {
		t.Fatal(err)
	}
	if p["locale"] != "fr-FR" {
		t.Fatalf("preferences after restart %+v", p)
	}
}

func TestAPIKeysAndRoles(t *testing.T) {
	t.Parallel()
	b := setup(t, "")
	body := cloudEvent("auth", []string{"kim"}, "x", nil)
	try := func(key, method, path string, body []byte) int {
		req, _ := http.NewRequest(method, b.url+path, strings.NewReader(string(body)))
		if key != "" {
			req.Header.Set("Authorization", "Bearer "+key)
		}
		req.Header.Set("Content-Type", event.MediaCloudEvent)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if s := try("", "POST", "/v1/events", body); s != 401 {
		t.Errorf("no key: %d, want 401", s)
	}
	if s := try("hrd_nope_nope", "POST", "/v1/events", body); s != 401 {
		t.Errorf("bad key: %d, want 401", s)
	}
	if s := try(b.keys[store.RoleReader], "POST", "/v1/events", body); s != 403 {
		t.Errorf("reader posting events: %d, want 403", s)
	}
	if s := try(b.keys[store.RoleProducer], "GET", "/v1/users/kim/notifications", nil); s != 403 {
		t.Errorf("producer reading an inbox: %d, want 403", s)
	}
	if s := try(b.keys[store.RoleReader], "PATCH", "/v1/users/kim/preferences", []byte(`{}`)); s != 403 {
		t.Errorf("reader changing preferences: %d, want 403", s)
	}
	if s := try(b.keys[store.RoleProducer], "POST", "/v1/events", body); s != 202 {
		t.Errorf("producer posting events: %d, want 202", s)
	}
	if s := try("", "GET", "/healthz", nil); s != 200 {
		t.Errorf("healthz without key: %d", s)
	}
	if s := try("", "GET", "/readyz", nil); s != 200 {
		t.Errorf("readyz without key: %d", s)
	}
	// Every registered /v1 route refuses a request without a key.
	for _, r := range b.app.API.Routes() {
		path := strings.NewReplacer("{id}", "x", "{userId}", "kim").Replace(r.Pattern)
		if s := try("", r.Method, path, nil); s != 401 {
			t.Errorf("%s %s without a key: %d, want 401", r.Method, r.Pattern, s)
		}
	}
}

func TestMetricsExposed(t *testing.T) {
	t.Parallel()
	b := setup(t, "")
	a := b.post(t, event.MediaCloudEvent, cloudEvent("m1", []string{"leo"}, "x", nil))
	b.waitCompleted(t, a.ids[0])
	resp, err := http.Get(b.url + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	text, _ := io.ReadAll(resp.Body)
	for _, want := range []string{
		`herald_events_ingested_total{mode="structured"} 1`,
		`herald_deliveries_total{channel="inbox",outcome="delivered"} 1`,
		`herald_delivery_latency_seconds_count{channel="inbox"} 1`,
		`herald_hub_lag_messages{group="handler",topic="events"}`,
	} {
		if !strings.Contains(string(text), want) {
			t.Errorf("metrics lack %q", want)
		}
	}
}

func TestPoisonEventIsDeadLetteredAndThePartitionMovesOn(t *testing.T) {
	t.Parallel()
	b := setup(t, "")
	ctx := context.Background()
	// Bytes no ingest would ever produce, on the same partition key as
	// the good event that follows.
	if err := b.app.Hub.Publish(ctx, "events", hub.Message{Key: "mia", Data: []byte("{not json")}); err != nil {
		t.Fatal(err)
	}
	a := b.post(t, event.MediaCloudEvent, cloudEvent("after-poison", []string{"mia"}, "still delivered", nil))
	b.waitCompleted(t, a.ids[0])
	dls, err := b.app.Hub.DeadLetters(ctx, 0, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(dls) != 1 || string(dls[0].Message.Data) != "{not json" || !strings.Contains(dls[0].Reason, "undecodable event") {
		t.Fatalf("dead letters = %+v, want the poison event with its reason", dls)
	}
	// Operators see it over HTTP and can replay it; a poison event comes
	// straight back to the dead letters, and the partition still moves on.
	var listed struct {
		DeadLetters []struct {
			Seq    uint64 `json:"seq"`
			Topic  string `json:"topic"`
			Reason string `json:"reason"`
		} `json:"deadLetters"`
	}
	if err := b.admin.Do(ctx, http.MethodGet, "/v1/deadletters", "", nil, &listed); err != nil {
		t.Fatal(err)
	}
	if len(listed.DeadLetters) != 1 || listed.DeadLetters[0].Topic != "events" {
		t.Fatalf("GET /v1/deadletters = %+v", listed)
	}
	if err := b.admin.Do(ctx, http.MethodPost, fmt.Sprintf("/v1/deadletters/%d/replay", listed.DeadLetters[0].Seq), "", nil, nil); err != nil {
		t.Fatal(err)
	}
	a2 := b.post(t, event.MediaCloudEvent, cloudEvent("after-replay", []string{"mia"}, "still delivered", nil))
	b.waitCompleted(t, a2.ids[0])
	eventually(t, 10*time.Second, "the replayed poison event dead-lettered again", func() (bool, string) {
		dls, err = b.app.Hub.DeadLetters(ctx, 0, 10)
		return err == nil && len(dls) == 2, fmt.Sprintf("%+v %v", dls, err)
	})
	err = b.admin.Do(ctx, http.MethodPost, "/v1/deadletters/999/replay", "", nil, nil)
	if ae, ok := err.(*client.APIError); !ok || ae.Status != 404 {
		t.Fatalf("replaying an unknown dead letter: %v", err)
	}
}
