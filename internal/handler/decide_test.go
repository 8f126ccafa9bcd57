package handler

import (
	"log/slog"
	"testing"
	"time"

	"github.com/herald/herald/internal/event"
	"github.com/herald/herald/internal/prefs"
	"github.com/herald/herald/internal/store"
)

// TestDecidePerPerson applies preferences with a fixed clock: channel and
// category switches, quiet hours in each person's own time zone (across a
// daylight-saving change), expiry, and channels herald cannot reach.
func TestDecidePerPerson(t *testing.T) {
	t.Parallel()
	// 2026-03-29 00:30 UTC: 01:30 in Paris (CET, the night the clocks go
	// forward at 02:00), 20:30 the day before in New York, 09:30 in Tokyo.
	now := time.Date(2026, 3, 29, 0, 30, 0, 0, time.UTC)
	h := New(nil, nil, nil, Config{Now: func() time.Time { return now }, Configured: func(ch string) bool { return ch == prefs.Mobile }},
		slog.New(slog.DiscardHandler), nil)
	quiet := func(id, zone string) prefs.Preferences {
		p := prefs.Default(id)
		p.TimeZone = zone
		p.QuietHours = &prefs.QuietHours{Start: "22:00", End: "07:00"}
		return p
	}
	mobileOff := prefs.Default("m")
	mobileOff.SendNotificationToMobileDevice = false
	noMarketing := prefs.Default("c")
	noMarketing.Categories = map[string]bool{"marketing": false}
	ev := event.Event{ID: "e", Notification: event.Notification{Message: "m", Category: "marketing"}}
	expires := now.Add(-time.Minute)
	stale := event.Event{ID: "s", Notification: event.Notification{Message: "m", ExpiresAt: &expires}}

	type want struct {
		outcome   store.Outcome
		queue     bool
		notBefore string
	}
	for _, tc := range []struct {
		name string
		p    prefs.Preferences
		ev   event.Event
		want map[string]want
	}{
		{"defaults", prefs.Default("d"), ev, map[string]want{
			prefs.Inbox:        {store.Delivered, false, ""},
			prefs.Mobile:       {"", true, ""},
			prefs.Conversation: {store.NotConfigured, false, ""},
			prefs.WebPush:      {store.NotConfigured, false, ""},
		}},
		{"Paris, inside quiet hours on the spring-forward night", quiet("p", "Europe/Paris"), ev, map[string]want{
			prefs.Inbox:  {store.Delivered, false, ""},
			prefs.Mobile: {store.Deferred, true, "2026-03-29T05:00:00Z"}, // 07:00 CEST
		}},
		{"New York, before quiet hours", quiet("n", "America/New_York"), ev, map[string]want{
			prefs.Mobile: {"", true, ""},
		}},
		{"Tokyo, after quiet hours", quiet("k", "Asia/Tokyo"), ev, map[string]want{
			prefs.Mobile: {"", true, ""},
		}},
		{"mobile switched off", mobileOff, ev, map[string]want{
			prefs.Mobile: {store.SkippedPreference, false, ""},
			prefs.Inbox:  {store.Delivered, false, ""},
		}},
		{"category switched off", noMarketing, ev, map[string]want{
			prefs.Mobile: {store.SkippedPreference, false, ""},
			prefs.Inbox:  {store.SkippedPreference, false, ""},
		}},
		{"expired", prefs.Default("x"), stale, map[string]want{
			prefs.Mobile: {store.Expired, false, ""},
			prefs.Inbox:  {store.Expired, false, ""},
		}},
	} {
		got := map[string]verdict{}
		for _, v := range h.decide(tc.p, tc.ev, now, holds{}) {
			got[v.channel] = v
		}
		for ch, w := range tc.want {
			v := got[ch]
			nb := ""
			if !v.notBefore.IsZero() {
				nb = v.notBefore.UTC().Format(time.RFC3339)
			}
			if v.outcome != w.outcome || v.queue != w.queue || nb != w.notBefore {
				t.Errorf("%s, %s: outcome %q queue %v notBefore %q; want %q %v %q", tc.name, ch, v.outcome, v.queue, nb, w.outcome, w.queue, w.notBefore)
			}
		}
	}
}
