package event

import (
	"slices"
	"strings"
	"testing"
	"time"
)

func TestAudienceForms(t *testing.T) {
	t.Parallel()
	parse := func(audience string) (Event, error) {
		body := `{"specversion":"1.0","id":"a","source":"s","type":"t","data":{"audience":` + audience + `,"notification":{"message":"m"}}}`
		return ParseStructured([]byte(body), time.Now())
	}
	ev, err := parse(`{"topics":["hr","all-staff","hr"],"users":["u1"],"exclude":{"users":["u9"],"topics":["contractors"]}}`)
	if err != nil {
		t.Fatal(err)
	}
	a := ev.Audience
	if !slices.Equal(a.Topics, []string{"hr", "all-staff"}) || !slices.Equal(a.Users, []string{"u1"}) ||
		!slices.Equal(a.Exclude.Users, []string{"u9"}) || !slices.Equal(a.Exclude.Topics, []string{"contractors"}) || a.All {
		t.Fatalf("audience = %+v", a)
	}
	if !a.Broadcast() {
		t.Error("a topic audience is a broadcast")
	}
	ev, err = parse(`{"all":true}`)
	if err != nil || !ev.Audience.All || !ev.Audience.Broadcast() {
		t.Fatalf("all: %+v, %v", ev.Audience, err)
	}
	ev, err = parse(`{"users":["u1","u2","u3"],"exclude":{"users":["u2"]}}`)
	if err != nil || ev.Audience.Broadcast() || !slices.Equal(ev.Audience.Recipients(), []string{"u1", "u3"}) {
		t.Fatalf("users less exclusions: %+v, %v", ev.Audience, err)
	}
	for _, tc := range []struct{ audience, field, problem string }{
		{`{"topics":["HR"]}`, "data.audience.topics[0]", "topic name"},
		{`{"topics":"hr"}`, "data.audience.topics", "array of topic names"},
		{`{"all":"yes"}`, "data.audience.all", "true or false"},
		{`{"exclude":{"groups":["x"]}}`, "data.audience.exclude", `unknown field "groups"`},
		{`{"exclude":{"users":[""]},"all":true}`, "data.audience.exclude.users[0]", "must not be empty"},
		{`{"all":false}`, "data.audience", "no recipients"},
	} {
		_, err := parse(tc.audience)
		ve, ok := err.(*ValidationError)
		if !ok {
			t.Errorf("%s: want a validation error, got %v", tc.audience, err)
			continue
		}
		found := false
		for _, fe := range ve.Errors {
			if fe.Field == tc.field && strings.Contains(fe.Problem, tc.problem) {
				found = true
			}
		}
		if !found {
			t.Errorf("%s: errors %v lack %s: %s", tc.audience, ve.Errors, tc.field, tc.problem)
		}
	}
}
