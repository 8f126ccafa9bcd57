package event

import (
	"encoding/json"
	"reflect"
	"slices"
	"testing"
	"time"
)

// FuzzAudience parses arbitrary audiences (with or without a subject) in
// an otherwise valid event: an accepted audience names somebody, holds only
// valid, distinct user ids and topic names within the limits, and survives
// the canonical event's JSON round trip (hub and store) unchanged.
func FuzzAudience(f *testing.F) {
	for _, s := range []string{
		`{"users":["a","b","a"]}`,
		`{"topics":["benefits-eligible"],"exclude":{"users":["x"],"topics":["contractors"]}}`,
		`{"all":true,"exclude":{"topics":["contractors"]}}`,
		`{"all":false}`, `{}`, `null`, `{"users":[]}`, `{"users":"a"}`, `{"topics":["UPPER"]}`,
		`{"exclude":{"users":["a"]}}`, `{"users":["a/b","c?","d#"]}`, `{"users":["a"],"exclude":{"users":["a"]}}`,
		`{"users":[null]}`, `{"all":"yes"}`, `{"everyone":true}`, `{"users":["\u00e9t\u00e9"],"topics":[]}`,
	} {
		f.Add([]byte(s), "")
		f.Add([]byte(s), "subject-user")
	}
	f.Fuzz(func(t *testing.T, audience []byte, subject string) {
		body := `{"specversion":"1.0","id":"aud-1","source":"/fuzz","type":"t",`
		if subject != "" {
			sj, _ := json.Marshal(subject)
			body += `"subject":` + string(sj) + `,`
		}
		body += `"data":{"audience":` + string(audience) + `,"notification":{"message":"m"}}}`
		ev, err := ParseStructured([]byte(body), time.Unix(0, 0))
		checkOutcome(t, ev, err)
		if err != nil {
			return
		}
		a := ev.Audience
		if a.Empty() {
			t.Fatalf("accepted an audience naming nobody: %+v", a)
		}
		names := func(what string, list []string, max int, check func(string) string) {
			if len(list) > max {
				t.Fatalf("%s: %d accepted, at most %d allowed", what, len(list), max)
			}
			for _, n := range list {
				if msg := check(n); msg != "" {
					t.Fatalf("%s: accepted %q: %s", what, n, msg)
				}
			}
			if len(slices.Compact(slices.Sorted(slices.Values(list)))) != len(list) {
				t.Fatalf("%s: duplicates accepted: %q", what, list)
			}
		}
		names("users", a.Users, MaxRecipients, CheckUserID)
		names("topics", a.Topics, MaxTopics, CheckTopic)
		names("exclude.users", a.Exclude.Users, MaxRecipients, CheckUserID)
		names("exclude.topics", a.Exclude.Topics, MaxTopics, CheckTopic)
		data, err := json.Marshal(ev)
		if err != nil {
			t.Fatal(err)
		}
		var back Event
		if err := json.Unmarshal(data, &back); err != nil || !reflect.DeepEqual(back.Audience, a) {
			t.Fatalf("the audience after a JSON round trip is %+v (%v), want %+v", back.Audience, err, a)
		}
	})
}
