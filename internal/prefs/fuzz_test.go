package prefs

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"github.com/herald/herald/internal/event"
)

// FuzzApply applies arbitrary documents as PUT and PATCH: a refused
// document leaves the record unchanged and names each problem's field; an
// accepted one gives a valid record for the same person, which written out
// and applied as a PUT gives the same record again; deciding channels and
// quiet hours on it never fails.
func FuzzApply(f *testing.F) {
	for _, s := range []string{
		`{"sendNotificationToMobileDevice": false, "categories": {"marketing": false, "security": true}}`,
		`{"quietHours": {"start": "22:00", "end": "07:00", "allowUrgent": ["security", "*"]}, "timeZone": "Europe/Paris", "locale": "fr-FR"}`,
		`{"quietHours": null, "categories": {"marketing": null}}`,
		`{"quietHours": {"start": "07:00", "end": "07:00"}}`,
		`{"timeZone": "Mars/Olympus", "locale": "not a locale", "categories": {"UPPER": true}}`,
		`{"userId": "someone-else", "sendNotificationToInbox": null, "colour": "red", "": 1}`,
		`{"quietHours": {"start": "23:30", "end": "00:15", "extra": 1}}`,
		`{"timeZone": "America/New_York", "quietHours": {"start": "01:30", "end": "02:30"}}`,
		`[]`, `null`, `{}`, `"x"`,
	} {
		f.Add([]byte(s), false)
		f.Add([]byte(s), true)
	}
	base := Default("u1")
	base.Categories = map[string]bool{"marketing": false}
	base.QuietHours = &QuietHours{Start: "22:00", End: "07:00"}
	base.TimeZone = "Europe/Paris"
	f.Fuzz(func(t *testing.T, doc []byte, replace bool) {
		before := base
		before.Categories = map[string]bool{"marketing": false}
		before.QuietHours = &QuietHours{Start: "22:00", End: "07:00"}
		next, errs := Apply(before, doc, replace)
		if len(errs) > 0 {
			if !reflect.DeepEqual(next, before) {
				t.Fatalf("a refused document changed the record: %+v", next)
			}
			for _, e := range errs {
				if e.Field == "" || e.Problem == "" {
					t.Fatalf("a problem without its field: %+v", e)
				}
			}
			return
		}
		if v := next.Validate(); len(v) > 0 {
			t.Fatalf("an accepted document gave an invalid record: %v", v)
		}
		if next.UserID != before.UserID {
			t.Fatalf("the record moved to person %q", next.UserID)
		}
		written, err := json.Marshal(next)
		if err != nil {
			t.Fatal(err)
		}
		again, errs := Apply(Default(next.UserID), written, true)
		if len(errs) > 0 || !reflect.DeepEqual(again, next) {
			t.Fatalf("the record written out and put back is %+v (%v), want %+v", again, errs, next)
		}
		for _, cat := range []string{"", "marketing", "security"} {
			for _, u := range []event.Urgency{event.UrgencyNormal, event.UrgencyHigh} {
				n := event.Notification{Category: cat, Urgency: u}
				if d := next.Decide(n); len(d) != len(Channels) {
					t.Fatalf("Decide gave %d decisions", len(d))
				}
				_ = next.BreaksQuietHours(n)
			}
		}
		for _, at := range []time.Time{
			time.Date(2026, 3, 29, 0, 30, 0, 0, time.UTC), // Europe's spring change
			time.Date(2026, 11, 1, 5, 45, 0, 0, time.UTC), // America's autumn change
			time.Date(2026, 6, 15, 12, 0, 0, 0, time.UTC),
		} {
			if until := next.QuietUntil(at); !until.IsZero() && !until.After(at) {
				t.Fatalf("quiet hours containing %s end at %s", at, until)
			}
		}
	})
}
