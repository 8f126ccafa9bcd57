package event

import (
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

// checkOutcome asserts what holds for every parse, whatever the input: a
// refusal is a *ValidationError naming at least one field, and an accepted
// event is deliverable.
func checkOutcome(t *testing.T, ev Event, err error) {
	t.Helper()
	if err != nil {
		ve, ok := err.(*ValidationError)
		if !ok {
			t.Fatalf("error %T (%v); want *ValidationError", err, err)
		}
		if len(ve.Errors) == 0 {
			t.Fatal("ValidationError without FieldErrors")
		}
		for _, fe := range ve.Errors {
			if fe.Field == "" || fe.Problem == "" {
				t.Fatalf("FieldError without field or problem: %+v", fe)
			}
		}
		return
	}
	checkEvent(t, ev)
}

func checkEvent(t *testing.T, ev Event) {
	t.Helper()
	if ev.ID == "" || ev.ID != IDFor(ev.Source, ev.SourceID) {
		t.Fatalf("ID %q; want IDFor(%q, %q)", ev.ID, ev.Source, ev.SourceID)
	}
	if ev.Source == "" || ev.SourceID == "" || ev.Type == "" {
		t.Fatalf("accepted without source, id or type: %+v", ev)
	}
	users := ev.Audience.Users
	if (len(users) == 0 && !ev.Audience.Broadcast()) || len(users) > MaxRecipients {
		t.Fatalf("accepted with %d recipients", len(users))
	}
	for _, u := range users {
		if msg := CheckUserID(u); msg != "" {
			t.Fatalf("accepted recipient %q: %s", u, msg)
		}
	}
	if sorted := slices.Sorted(slices.Values(users)); len(slices.Compact(sorted)) != len(users) {
		t.Fatalf("accepted duplicate recipients %q", users)
	}
	n := ev.Notification
	if strings.TrimSpace(n.Message) == "" {
		t.Fatal("accepted an empty message")
	}
	if utf8.RuneCountInString(n.Message) > MaxMessageLen || utf8.RuneCountInString(n.Title) > MaxTitleLen {
		t.Fatal("accepted a message or title over the limit")
	}
	switch n.Urgency {
	case UrgencyLow, UrgencyNormal, UrgencyHigh:
	default:
		t.Fatalf("accepted urgency %q", n.Urgency)
	}
	if len(n.Actions) > MaxActions || len(n.Data) > MaxDataBytes {
		t.Fatalf("accepted %d actions, %d bytes of data", len(n.Actions), len(n.Data))
	}
	for _, a := range n.Actions {
		if a.ID == "" || a.Title == "" {
			t.Fatalf("accepted action %+v", a)
		}
	}
}

func FuzzParseStructured(f *testing.F) {
	for _, tc := range structuredInvalid {
		f.Add(tc.input())
	}
	for _, tc := range structuredValid {
		f.Add(tc.input())
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		ev, err := ParseStructured(body, time.Unix(0, 0))
		checkOutcome(t, ev, err)
		if err == nil && !ev.ReceivedAt.Equal(time.Unix(0, 0)) {
			t.Fatal("ReceivedAt not stamped")
		}
	})
}

func FuzzParseBatch(f *testing.F) {
	valid := string(validCase{}.input())
	for _, tc := range structuredInvalid {
		f.Add([]byte("["+valid+","+string(tc.input())+"]"), uint8(2))
	}
	for _, tc := range structuredValid[:5] {
		f.Add([]byte("["+string(tc.input())+"]"), uint8(1))
	}
	f.Add([]byte("[]"), uint8(10))
	f.Add([]byte("["+valid+","+valid+","+valid+"]"), uint8(2))
	f.Add([]byte("null"), uint8(1))
	f.Fuzz(func(t *testing.T, body []byte, max uint8) {
		evs, err := ParseBatch(body, int(max), time.Unix(0, 0))
		if err != nil {
			if evs != nil {
				t.Fatalf("refused batch returned %d events", len(evs))
			}
			checkOutcome(t, Event{}, err)
			for _, fe := range err.(*ValidationError).Errors {
				if fe.Index < -1 || fe.Index >= int(max) {
					t.Fatalf("FieldError index %d outside [-1, %d)", fe.Index, max)
				}
			}
			return
		}
		if len(evs) == 0 || len(evs) > int(max) {
			t.Fatalf("accepted %d events with max %d", len(evs), max)
		}
		for _, ev := range evs {
			checkEvent(t, ev)
		}
	})
}
