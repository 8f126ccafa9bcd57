package app_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/herald/herald/internal/app"
	"github.com/herald/herald/internal/client"
	"github.com/herald/herald/internal/event"
)

// importCSV posts a CSV of people through POST /v1/users:import.
func (b *bundle) importCSV(t *testing.T, csv string) map[string]any {
	t.Helper()
	var res map[string]any
	err := b.admin.Do(context.Background(), http.MethodPost, "/v1/users:import", "text/csv", []byte(csv), &res)
	if err != nil {
		t.Fatalf("import: %v", err)
	}
	return res
}

func broadcastEvent(id string, audience map[string]any, extra map[string]any) []byte {
	notif := map[string]any{"title": "Benefits", "message": "Enrollment opened"}
	for k, v := range extra {
		notif[k] = v
	}
	body, _ := json.Marshal(map[string]any{
		"specversion": "1.0", "id": id, "source": "urn:test", "type": "com.example.benefits",
		"data": map[string]any{"audience": audience, "notification": notif},
	})
	return body
}

type broadcastStatus struct {
	statusDoc
	Broadcast *struct {
		State      string `json:"state"`
		Recipients int    `json:"recipients"`
	} `json:"broadcast"`
}

func (b *bundle) waitBroadcast(t *testing.T, id string) broadcastStatus {
	t.Helper()
	var st broadcastStatus
	pollStatus(t, b.reader, id, 30*time.Second, &st, func() bool { return st.Broadcast != nil && st.Broadcast.State != "running" })
	return st
}

// waitBroadcastSettled waits until a broadcast is done and its channel
// workers have settled every delivery it queued.
func (b *bundle) waitBroadcastSettled(t *testing.T, id string) broadcastStatus {
	t.Helper()
	var st broadcastStatus
	pollStatus(t, b.reader, id, 30*time.Second, &st, func() bool {
		return st.Broadcast != nil && st.Broadcast.State != "running" && st.Pending == 0
	})
	return st
}

// inboxHas reports whether user's inbox holds event id.
func (b *bundle) inboxHas(t *testing.T, user, id string) bool {
	for _, n := range b.inbox(t, user, "?limit=500").Notifications {
		if n.EventID == id {
			return true
		}
	}
	return false
}

func TestBroadcastAudiencesAndPreferences(t *testing.T) {
	t.Parallel()
	b := setup(t, "")
	var csv strings.Builder
	csv.WriteString("id,topics,sendNotificationToInbox,timeZone\n")
	for i := range 30 {
		topics := "staff"
		if i%3 == 0 {
			topics += ";hr"
		}
		if i%5 == 0 {
			topics += ";contractors"
		}
		inbox := "true"
		if i == 7 {
			inbox = "false" // opted out of the inbox
		}
		fmt.Fprintf(&csv, "p%02d,%s,%s,Europe/Paris\n", i, topics, inbox)
	}
	res := b.importCSV(t, csv.String())
	if res["imported"] != float64(30) || res["failed"] != float64(0) {
		t.Fatalf("import = %v", res)
	}

	// Topics hr ∪ listed users, less contractors and one person.
	a := b.post(t, event.MediaCloudEvent, broadcastEvent("bc-1", map[string]any{
		"topics": []string{"hr"}, "users": []string{"p01", "newcomer"},
		"exclude": map[string]any{"topics": []string{"contractors"}, "users": []string{"p03"}},
	}, nil))
	st := b.waitBroadcast(t, a.ids[0])
	var want []string
	for i := range 30 {
		if (i%3 == 0 || i == 1) && i%5 != 0 && i != 3 {
			want = append(want, fmt.Sprintf("p%02d", i))
		}
	}
	want = append(want, "newcomer")
	sort.Strings(want)
	var got []string
	for _, u := range append(want, "p00", "p03", "p05", "p02", "p04") {
		if b.inboxHas(t, u, a.ids[0]) {
			got = append(got, u)
		}
	}
	sort.Strings(got)
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("inboxes with the broadcast = %v, want %v", got, want)
	}
	if st.Broadcast.Recipients != len(want) || st.Channels["inbox"].Outcomes["delivered"] != len(want) {
		t.Errorf("status %+v: want %d recipients delivered", st, len(want))
	}
	// The broadcast's inbox item carries the shared content.
	page := b.inbox(t, "newcomer", "")
	if len(page.Notifications) != 1 || page.Notifications[0].Message != "Enrollment opened" || page.Notifications[0].Title != "Benefits" {
		t.Fatalf("newcomer's inbox = %+v", page.Notifications)
	}

	// Everyone, with one person's inbox switched off and a category off.
	if err := b.admin.Do(context.Background(), http.MethodPatch, client.UserPath("p02", "/preferences"), "application/json", []byte(`{"categories":{"benefits":false}}`), nil); err != nil {
		t.Fatal(err)
	}
	all := b.post(t, event.MediaCloudEvent, broadcastEvent("bc-2", map[string]any{"all": true}, map[string]any{"category": "benefits"}))
	st = b.waitBroadcastSettled(t, all.ids[0])
	everyone := 31 // 30 imported + newcomer
	if st.Broadcast.Recipients != everyone {
		t.Errorf("everyone = %d recipients, want %d", st.Broadcast.Recipients, everyone)
	}
	in := st.Channels["inbox"].Outcomes
	if in["delivered"] != everyone-2 || in["skipped_preference"] != 2 {
		t.Errorf("inbox outcomes %v: want %d delivered and 2 skipped (p07 inbox off, p02 category off)", in, everyone-2)
	}
	if b.inboxHas(t, "p07", all.ids[0]) || b.inboxHas(t, "p02", all.ids[0]) {
		t.Error("an opted-out person got the broadcast")
	}
	if st.State != "completed" || st.Pending != 0 {
		t.Errorf("state %q pending %d", st.State, st.Pending)
	}

	// The same event again is delivered once.
	again := b.post(t, event.MediaCloudEvent, broadcastEvent("bc-2", map[string]any{"all": true}, map[string]any{"category": "benefits"}))
	marker := b.post(t, event.MediaCloudEvent, cloudEvent("after-dup", []string{"p10"}, "marker", nil))
	b.waitCompleted(t, marker.ids[0])
	count := 0
	for _, n := range b.inbox(t, "p10", "?limit=500").Notifications {
		if n.EventID == again.ids[0] {
			count++
		}
	}
	if count != 1 {
		t.Fatalf("p10 has the broadcast %d times", count)
	}
}

func TestTopicsAPI(t *testing.T) {
	t.Parallel()
	b := setup(t, "")
	ctx := context.Background()
	if err := b.admin.Do(ctx, http.MethodPost, "/v1/topics", "application/json", []byte(`{"name":"engineering","description":"All engineers"}`), nil); err != nil {
		t.Fatal(err)
	}
	err := b.admin.Do(ctx, http.MethodPost, "/v1/topics", "application/json", []byte(`{"name":"engineering"}`), nil)
	if ae, ok := err.(*client.APIError); !ok || ae.Status != http.StatusConflict {
		t.Fatalf("creating a topic twice: %v, want 409", err)
	}
	var added map[string]int
	if err := b.admin.Do(ctx, http.MethodPost, "/v1/topics/engineering/members", "application/json", []byte(`{"users":["ann","bob","cat","bob"]}`), &added); err != nil {
		t.Fatal(err)
	}
	if added["added"] != 3 {
		t.Fatalf("added = %v", added)
	}
	if err := b.admin.Do(ctx, http.MethodDelete, "/v1/topics/engineering/members", "application/json", []byte(`{"users":["bob"]}`), nil); err != nil {
		t.Fatal(err)
	}
	var members struct {
		Members []string `json:"members"`
	}
	if err := b.reader.Do(ctx, http.MethodGet, "/v1/topics/engineering/members", "", nil, &members); err != nil {
		t.Fatal(err)
	}
	if strings.Join(members.Members, ",") != "ann,cat" {
		t.Fatalf("members = %v", members.Members)
	}
	var topic struct {
		Members int `json:"members"`
	}
	if err := b.reader.Do(ctx, http.MethodGet, "/v1/topics/engineering", "", nil, &topic); err != nil || topic.Members != 2 {
		t.Fatalf("topic = %+v, %v", topic, err)
	}
	err = b.admin.Do(ctx, http.MethodPost, "/v1/topics/Bad%20Name/members", "application/json", []byte(`{"users":["x"]}`), nil)
	if ae, ok := err.(*client.APIError); !ok || ae.Status != 400 {
		t.Fatalf("bad topic name: %v", err)
	}
	if err := b.admin.Do(ctx, http.MethodDelete, "/v1/topics/engineering", "", nil, nil); err != nil {
		t.Fatal(err)
	}
	err = b.reader.Do(ctx, http.MethodGet, "/v1/topics/engineering", "", nil, nil)
	if ae, ok := err.(*client.APIError); !ok || ae.Status != 404 {
		t.Fatalf("deleted topic: %v", err)
	}
}

func TestImportReportsBadRowsWithLineNumbers(t *testing.T) {
	t.Parallel()
	b := setup(t, "")
	csv := "id,timeZone,sendNotificationToInbox,topics\n" +
		"ok1,UTC,true,a\n" +
		",UTC,true,a\n" + // line 3: no id
		"ok2,Mars/Base,true,a\n" + // line 4: bad zone
		"ok3,UTC,maybe,a\n" + // line 5: bad bool
		"ok4,UTC,true,BAD TOPIC\n" + // line 6
		"ok5,UTC\n" // line 7: too few fields
	var res struct {
		Imported int `json:"imported"`
		Failed   int `json:"failed"`
		Complete bool
		Errors   []struct {
			Line  int    `json:"line"`
			Field string `json:"field"`
		} `json:"errors"`
	}
	err := b.admin.Do(context.Background(), http.MethodPost, "/v1/users:import", "text/csv", []byte(csv), &res)
	if err != nil {
		t.Fatal(err)
	}
	if res.Imported != 1 || res.Failed != 5 || !res.Complete {
		t.Fatalf("result %+v", res)
	}
	want := map[int]string{3: "id", 4: "timeZone", 5: "sendNotificationToInbox", 6: "topics", 7: ""}
	for _, e := range res.Errors {
		if f, ok := want[e.Line]; !ok || f != e.Field {
			t.Errorf("error at line %d field %q not expected", e.Line, e.Field)
		}
		delete(want, e.Line)
	}
	if len(want) != 0 {
		t.Errorf("missing errors for lines %v", want)
	}
	jsonl := `{"id":"j1","topics":["x"],"preferences":{"sendNotificationToMobileDevice":false}}
{"id":"j2","preferences":{"quietHours":{"start":"25:00","end":"07:00"}}}
`
	var res2 struct {
		Imported int `json:"imported"`
		Errors   []struct {
			Line  int    `json:"line"`
			Field string `json:"field"`
		} `json:"errors"`
	}
	if err := b.admin.Do(context.Background(), http.MethodPost, "/v1/users:import", "application/x-ndjson", []byte(jsonl), &res2); err != nil {
		t.Fatal(err)
	}
	if res2.Imported != 1 || len(res2.Errors) != 1 || res2.Errors[0].Line != 2 || res2.Errors[0].Field != "preferences.quietHours.start" {
		t.Fatalf("jsonl result %+v", res2)
	}
}

func TestCancelBroadcast(t *testing.T) {
	t.Parallel()
	// Small chunks, so the broadcast is still running when cancelled.
	b := setupWith(t, app.Options{BroadcastChunk: 50})
	var csv strings.Builder
	csv.WriteString("id\n")
	for i := range 60000 {
		fmt.Fprintf(&csv, "c%06d\n", i)
	}
	b.importCSV(t, csv.String())
	a := b.post(t, event.MediaCloudEvent, broadcastEvent("bc-cancel", map[string]any{"all": true}, nil))
	// Cancel once some people have it.
	var started broadcastStatus
	pollStatus(t, b.reader, a.ids[0], 10*time.Second, &started, func() bool {
		return started.Broadcast != nil && started.Broadcast.Recipients >= 500
	})
	if err := b.producer.Do(context.Background(), http.MethodDelete, "/v1/events/"+a.ids[0], "", nil, nil); err != nil {
		t.Fatalf("cancel: %v", err)
	}
	st := b.waitBroadcast(t, a.ids[0])
	if st.State != "cancelled" || st.Broadcast.State != "cancelled" {
		t.Fatalf("state after cancel: %+v", st)
	}
	if st.Broadcast.Recipients >= 60000 {
		t.Fatalf("the cancelled broadcast reached everyone (%d)", st.Broadcast.Recipients)
	}
	delivered := st.Channels["inbox"].Outcomes["delivered"]
	if delivered != st.Broadcast.Recipients {
		t.Errorf("delivered %d, recipients %d: the status must report exactly what was delivered", delivered, st.Broadcast.Recipients)
	}
	err := b.producer.Do(context.Background(), http.MethodDelete, "/v1/events/"+a.ids[0], "", nil, nil)
	if ae, ok := err.(*client.APIError); !ok || ae.Status != http.StatusConflict {
		t.Fatalf("cancelling twice: %v, want 409", err)
	}
	t.Logf("cancelled after %d of 60000 recipients", st.Broadcast.Recipients)
}
