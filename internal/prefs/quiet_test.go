package prefs

import (
	"testing"
	"time"

	"github.com/herald/herald/internal/event"
)

func TestQuietUntil(t *testing.T) {
	t.Parallel()
	paris := Default("u")
	paris.TimeZone = "Europe/Paris"
	paris.QuietHours = &QuietHours{Start: "22:00", End: "07:00"}
	ny := Default("v")
	ny.TimeZone = "America/New_York"
	ny.QuietHours = &QuietHours{Start: "01:00", End: "03:00"}
	for _, tc := range []struct {
		name string
		p    Preferences
		at   string
		want string // "" when outside quiet hours
	}{
		{"before midnight", paris, "2026-06-10T21:30:00Z", "2026-06-11T05:00:00Z"},            // 23:30 CEST -> 07:00 CEST
		{"after midnight", paris, "2026-06-11T01:00:00Z", "2026-06-11T05:00:00Z"},             // 03:00 CEST
		{"daytime", paris, "2026-06-11T10:00:00Z", ""},                                        // 12:00 CEST
		{"night of the spring change", paris, "2026-03-28T22:30:00Z", "2026-03-29T05:00:00Z"}, // 23:30 CET -> 07:00 CEST
		{"night of the autumn change", paris, "2026-10-24T21:30:00Z", "2026-10-25T06:00:00Z"}, // 23:30 CEST -> 07:00 CET
		{"the repeated hour in New York", ny, "2026-11-01T05:30:00Z", "2026-11-01T08:00:00Z"}, // 01:30 EDT... ends 03:00 EST
		{"no quiet hours", Default("w"), "2026-06-11T01:00:00Z", ""},
	} {
		at, _ := time.Parse(time.RFC3339, tc.at)
		got := tc.p.QuietUntil(at)
		if tc.want == "" {
			if !got.IsZero() {
				t.Errorf("%s: QuietUntil = %s, want outside quiet hours", tc.name, got)
			}
			continue
		}
		want, _ := time.Parse(time.RFC3339, tc.want)
		if !got.Equal(want) {
			t.Errorf("%s: QuietUntil(%s) = %s, want %s", tc.name, tc.at, got.UTC().Format(time.RFC3339), tc.want)
		}
	}
	if Interrupting(Inbox) || !Interrupting(Mobile) {
		t.Error("only the inbox waits for nobody")
	}
}

// TestBreaksQuietHours: only urgent notifications of a category the person
// allowed (or of any category with "*") break quiet hours.
func TestBreaksQuietHours(t *testing.T) {
	t.Parallel()
	security := Default("s")
	security.QuietHours = &QuietHours{Start: "22:00", End: "07:00", AllowUrgent: []string{"security"}}
	anything := Default("a")
	anything.QuietHours = &QuietHours{Start: "22:00", End: "07:00", AllowUrgent: []string{AnyCategory}}
	none := Default("n")
	none.QuietHours = &QuietHours{Start: "22:00", End: "07:00"}
	n := func(category string, u event.Urgency) event.Notification {
		return event.Notification{Message: "m", Category: category, Urgency: u}
	}
	for _, tc := range []struct {
		name string
		p    Preferences
		n    event.Notification
		want bool
	}{
		{"urgent security, security allowed", security, n("security", event.UrgencyHigh), true},
		{"normal security, security allowed", security, n("security", event.UrgencyNormal), false},
		{"urgent marketing, security allowed", security, n("marketing", event.UrgencyHigh), false},
		{"urgent uncategorised, security allowed", security, n("", event.UrgencyHigh), false},
		{"urgent uncategorised, every category allowed", anything, n("", event.UrgencyHigh), true},
		{"low marketing, every category allowed", anything, n("marketing", event.UrgencyLow), false},
		{"urgent security, nothing allowed", none, n("security", event.UrgencyHigh), false},
		{"no quiet hours", Default("d"), n("security", event.UrgencyHigh), false},
	} {
		if got := tc.p.BreaksQuietHours(tc.n); got != tc.want {
			t.Errorf("%s: BreaksQuietHours = %v, want %v", tc.name, got, tc.want)
		}
	}
}
