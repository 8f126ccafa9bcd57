package prefs

import (
	"maps"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
	_ "time/tzdata" // the zone tests must not depend on the machine's zoneinfo

	"github.com/herald/herald/internal/event"
)

func TestDefault(t *testing.T) {
	t.Parallel()
	p := Default("u1")
	if p.UserID != "u1" {
		t.Errorf("UserID = %q", p.UserID)
	}
	for _, ch := range Channels {
		if !p.Allows(ch) {
			t.Errorf("channel %s is off by default", ch)
		}
	}
	if p.Categories == nil || len(p.Categories) != 0 {
		t.Errorf("Categories = %#v; want an empty, non-nil map", p.Categories)
	}
	if p.QuietHours != nil || p.TimeZone != "UTC" || p.Locale != "" {
		t.Errorf("quiet hours %v, zone %q, locale %q; want none, UTC, none", p.QuietHours, p.TimeZone, p.Locale)
	}
	if errs := p.Validate(); len(errs) != 0 {
		t.Errorf("the default record is invalid: %v", errs)
	}
	if p.Allows("email") {
		t.Error("Allows an unknown channel")
	}
}

func TestChannelsAreTheFourSwitches(t *testing.T) {
	t.Parallel()
	want := []string{Inbox, Conversation, Mobile, WebPush}
	if !slices.Equal(Channels, want) {
		t.Fatalf("Channels = %q; want %q", Channels, want)
	}
	switches := map[string]func(*Preferences){
		Conversation: func(p *Preferences) { p.SendNotificationToConversation = false },
		Mobile:       func(p *Preferences) { p.SendNotificationToMobileDevice = false },
		WebPush:      func(p *Preferences) { p.SendNotificationToWebPush = false },
		Inbox:        func(p *Preferences) { p.SendNotificationToInbox = false },
	}
	for ch, off := range switches {
		p := Default("u1")
		off(&p)
		for _, other := range Channels {
			if p.Allows(other) == (other == ch) {
				t.Errorf("with %s switched off, Allows(%s) = %v", ch, other, p.Allows(other))
			}
		}
	}
}

func TestDecide(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		change   func(p *Preferences)
		category string
		skip     map[string]string // channel -> reason; absent means deliver
	}{
		{name: "defaults deliver everywhere", category: "training"},
		{name: "no category", change: func(p *Preferences) { p.Categories["training"] = false }},
		{name: "channel off", change: func(p *Preferences) { p.SendNotificationToMobileDevice = false },
			category: "training", skip: map[string]string{Mobile: SkipChannelOff}},
		{name: "category off", change: func(p *Preferences) { p.Categories["marketing"] = false },
			category: "marketing", skip: map[string]string{Inbox: SkipCategoryOff, Conversation: SkipCategoryOff, Mobile: SkipCategoryOff, WebPush: SkipCategoryOff}},
		{name: "category explicitly on", change: func(p *Preferences) { p.Categories["training"] = true }, category: "training"},
		{name: "unknown category", change: func(p *Preferences) { p.Categories["marketing"] = false }, category: "training"},
		{name: "channel off wins over category off", change: func(p *Preferences) {
			p.SendNotificationToConversation = false
			p.Categories["marketing"] = false
		}, category: "marketing", skip: map[string]string{Inbox: SkipCategoryOff, Conversation: SkipChannelOff, Mobile: SkipCategoryOff, WebPush: SkipCategoryOff}},
		{name: "every channel off", change: func(p *Preferences) {
			p.SendNotificationToConversation = false
			p.SendNotificationToMobileDevice = false
			p.SendNotificationToWebPush = false
			p.SendNotificationToInbox = false
		}, skip: map[string]string{Inbox: SkipChannelOff, Conversation: SkipChannelOff, Mobile: SkipChannelOff, WebPush: SkipChannelOff}},
		{name: "nil categories", change: func(p *Preferences) { p.Categories = nil }, category: "training"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p := Default("u1")
			if tc.change != nil {
				tc.change(&p)
			}
			got := p.Decide(event.Notification{Message: "m", Category: tc.category})
			var want []Decision
			for _, ch := range Channels {
				want = append(want, Decision{Channel: ch, Skip: tc.skip[ch]})
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("Decide = %+v; want %+v", got, want)
			}
		})
	}
}

func TestInQuietHours(t *testing.T) {
	t.Parallel()
	at := func(s string) time.Time {
		tm, err := time.Parse(time.RFC3339, s)
		if err != nil {
			t.Fatal(err)
		}
		return tm
	}
	tests := []struct {
		name       string
		zone       string
		start, end string
		at         string // an instant, in UTC unless it says otherwise
		want       bool
	}{
		// Within a day, in UTC: start inclusive, end exclusive.
		{"day window, before", "UTC", "12:00", "14:00", "2026-01-15T11:59:59Z", false},
		{"day window, at start", "UTC", "12:00", "14:00", "2026-01-15T12:00:00Z", true},
		{"day window, inside", "UTC", "12:00", "14:00", "2026-01-15T13:59:59Z", true},
		{"day window, at end", "UTC", "12:00", "14:00", "2026-01-15T14:00:00Z", false},
		{"day window, evening", "UTC", "12:00", "14:00", "2026-01-15T23:00:00Z", false},

		// Across midnight.
		{"night window, before", "UTC", "22:00", "07:00", "2026-01-15T21:59:00Z", false},
		{"night window, at start", "UTC", "22:00", "07:00", "2026-01-15T22:00:00Z", true},
		{"night window, before midnight", "UTC", "22:00", "07:00", "2026-01-15T23:59:59Z", true},
		{"night window, at midnight", "UTC", "22:00", "07:00", "2026-01-16T00:00:00Z", true},
		{"night window, early morning", "UTC", "22:00", "07:00", "2026-01-16T06:59:59Z", true},
		{"night window, at end", "UTC", "22:00", "07:00", "2026-01-16T07:00:00Z", false},
		{"night window, midday", "UTC", "22:00", "07:00", "2026-01-16T12:00:00Z", false},
		{"whole day but one minute", "UTC", "00:01", "00:00", "2026-01-16T00:00:30Z", false},

		// The person's zone, not UTC: 21:30Z is 22:30 in Paris in winter.
		{"Paris winter evening", "Europe/Paris", "22:00", "07:00", "2026-01-15T21:30:00Z", true},
		{"Paris winter morning", "Europe/Paris", "22:00", "07:00", "2026-01-16T06:30:00Z", false},
		{"instant given in another zone", "Europe/Paris", "22:00", "07:00", "2026-01-15T16:30:00-05:00", true},
		{"Tokyo", "Asia/Tokyo", "22:00", "07:00", "2026-01-15T13:30:00Z", true},

		// Paris on 2026-03-29: at 01:00Z clocks go from 02:00 CET to 03:00 CEST.
		{"Paris DST day, night before the change", "Europe/Paris", "22:00", "07:00", "2026-03-29T00:30:00Z", true},
		{"Paris DST day, 06:59 CEST", "Europe/Paris", "22:00", "07:00", "2026-03-29T04:59:00Z", true},
		{"Paris DST day, 07:00 CEST (06:00 in CET)", "Europe/Paris", "22:00", "07:00", "2026-03-29T05:00:00Z", false},
		{"Paris DST day, 01:59 CET before the skipped hour", "Europe/Paris", "02:00", "03:00", "2026-03-29T00:59:00Z", false},
		{"Paris DST day, 03:00 CEST after the skipped hour", "Europe/Paris", "02:00", "03:00", "2026-03-29T01:00:00Z", false},
		{"Paris the day before, 02:30 CET", "Europe/Paris", "02:00", "03:00", "2026-03-28T01:30:00Z", true},

		// New York on 2026-11-01: at 06:00Z clocks go from 02:00 EDT back to
		// 01:00 EST, so 01:00-02:00 happens twice and both are quiet.
		{"New York, first 01:15 (EDT)", "America/New_York", "01:00", "01:30", "2026-11-01T05:15:00Z", true},
		{"New York, second 01:15 (EST)", "America/New_York", "01:00", "01:30", "2026-11-01T06:15:00Z", true},
		{"New York, first 01:45 (EDT)", "America/New_York", "01:00", "01:30", "2026-11-01T05:45:00Z", false},
		{"New York, second 01:45 (EST)", "America/New_York", "01:00", "01:30", "2026-11-01T06:45:00Z", false},
		{"New York, 06:30 EST (07:30 in EDT)", "America/New_York", "22:00", "07:00", "2026-11-01T11:30:00Z", true},
		{"New York, 07:00 EST", "America/New_York", "22:00", "07:00", "2026-11-01T12:00:00Z", false},

		// A zone that does not load falls back to UTC.
		{"unknown zone as UTC", "Mars/Olympus_Mons", "22:00", "07:00", "2026-01-15T23:00:00Z", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p := Default("u1")
			p.TimeZone = tc.zone
			p.QuietHours = &QuietHours{Start: tc.start, End: tc.end}
			if got := p.InQuietHours(at(tc.at)); got != tc.want {
				t.Errorf("InQuietHours(%s) in %s with %s-%s = %v; want %v", tc.at, tc.zone, tc.start, tc.end, got, tc.want)
			}
		})
	}
	t.Run("without quiet hours", func(t *testing.T) {
		t.Parallel()
		if Default("u1").InQuietHours(at("2026-01-15T23:00:00Z")) {
			t.Error("quiet without quiet hours")
		}
	})
}

func TestValidate(t *testing.T) {
	t.Parallel()
	quiet := func(start, end string) func(p *Preferences) {
		return func(p *Preferences) { p.QuietHours = &QuietHours{Start: start, End: end} }
	}
	tests := []struct {
		name    string
		change  func(p *Preferences)
		fields  []string // nil means valid
		problem string   // in the first field's problem
	}{
		{name: "every field set", change: func(p *Preferences) {
			p.QuietHours = &QuietHours{Start: "22:00", End: "07:00"}
			p.TimeZone = "Europe/Paris"
			p.Locale = "fr-FR"
			p.Categories = map[string]bool{"training.due_soon-1": false, strings.Repeat("c", 64): true}
		}},
		{name: "quiet hours at the day's edges", change: quiet("00:00", "23:59")},
		{name: "start 24:00", change: quiet("24:00", "07:00"), fields: []string{"quietHours.start"}, problem: `HH:MM such as 22:00, got "24:00"`},
		{name: "start without leading zero", change: quiet("7:00", "09:00"), fields: []string{"quietHours.start"}, problem: "HH:MM"},
		{name: "start minute 60", change: quiet("07:60", "09:00"), fields: []string{"quietHours.start"}, problem: `"07:60"`},
		{name: "start without colon", change: quiet("0700", "09:00"), fields: []string{"quietHours.start"}, problem: "HH:MM"},
		{name: "start with seconds", change: quiet("07:00:00", "09:00"), fields: []string{"quietHours.start"}, problem: "HH:MM"},
		{name: "start empty", change: quiet("", "09:00"), fields: []string{"quietHours.start"}, problem: `got ""`},
		{name: "start 12-hour", change: quiet("10pm", "07:00"), fields: []string{"quietHours.start"}, problem: "24-hour"},
		{name: "end 25:00", change: quiet("22:00", "25:00"), fields: []string{"quietHours.end"}, problem: `HH:MM such as 07:00, got "25:00"`},
		{name: "both bad", change: quiet("late", "early"), fields: []string{"quietHours.start", "quietHours.end"}, problem: `"late"`},
		{name: "start equals end", change: quiet("22:00", "22:00"), fields: []string{"quietHours"}, problem: "start and end are equal; remove quietHours (null)"},
		{name: "zone empty", change: func(p *Preferences) { p.TimeZone = "" }, fields: []string{"timeZone"}, problem: "IANA time zone such as Europe/Paris"},
		{name: "zone unknown", change: func(p *Preferences) { p.TimeZone = "Mars/Olympus_Mons" }, fields: []string{"timeZone"}, problem: `unknown IANA time zone "Mars/Olympus_Mons"`},
		{name: "zone as offset", change: func(p *Preferences) { p.TimeZone = "+02:00" }, fields: []string{"timeZone"}, problem: "examples: UTC, Europe/Paris"},
		{name: "zone path", change: func(p *Preferences) { p.TimeZone = "../../etc/passwd" }, fields: []string{"timeZone"}, problem: "unknown"},
		{name: "zone in wrong case", change: func(p *Preferences) { p.TimeZone = "europe/paris" }, fields: []string{"timeZone"}, problem: "unknown"},
		{name: "locale in words", change: func(p *Preferences) { p.Locale = "french" }, fields: []string{"locale"}, problem: `BCP 47 language tag such as en-US, got "french"`},
		{name: "locale empty is allowed", change: func(p *Preferences) { p.Locale = "" }},
		{name: "category upper case", change: func(p *Preferences) { p.Categories["Marketing"] = false }, fields: []string{"categories.Marketing"}, problem: "lower-case"},
		{name: "category empty", change: func(p *Preferences) { p.Categories[""] = false }, fields: []string{"categories."}, problem: "1-64"},
		{name: "category 65 characters", change: func(p *Preferences) { p.Categories[strings.Repeat("c", 65)] = false }, fields: []string{"categories." + strings.Repeat("c", 65)}, problem: "1-64"},
		{name: "category with space", change: func(p *Preferences) { p.Categories["due soon"] = true }, fields: []string{"categories.due soon"}, problem: "lower-case"},
		{name: "every bad category named", change: func(p *Preferences) {
			p.Categories = map[string]bool{"B": true, "ok": true, "A": false}
		}, fields: []string{"categories.A", "categories.B"}, problem: "lower-case"},
		{name: "everything wrong", change: func(p *Preferences) {
			p.QuietHours = &QuietHours{Start: "x", End: "07:00"}
			p.TimeZone = "Nowhere"
			p.Locale = "?"
			p.Categories["X"] = true
		}, fields: []string{"quietHours.start", "timeZone", "locale", "categories.X"}, problem: "HH:MM"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p := Default("u1")
			tc.change(&p)
			checkFieldErrors(t, p.Validate(), tc.fields, tc.problem)
		})
	}
}

// checkFieldErrors asserts that errs names exactly want, in that order, each
// outside a batch and with a problem, the first containing problem.
func checkFieldErrors(t *testing.T, errs []event.FieldError, want []string, problem string) {
	t.Helper()
	var got []string
	for _, fe := range errs {
		got = append(got, fe.Field)
		if fe.Index != -1 || strings.TrimSpace(fe.Problem) == "" {
			t.Errorf("FieldError %+v; want index -1 and a problem", fe)
		}
	}
	if !slices.Equal(got, want) {
		t.Fatalf("fields = %q; want %q\n%v", got, want, errs)
	}
	if len(want) > 0 && !strings.Contains(errs[0].Problem, problem) {
		t.Errorf("%s: problem %q; want it to contain %q", errs[0].Field, errs[0].Problem, problem)
	}
}

// customised is a record with every field away from its default.
func customised() Preferences {
	p := Default("u1")
	p.SendNotificationToConversation = false
	p.SendNotificationToMobileDevice = false
	p.Categories = map[string]bool{"marketing": false, "training": true}
	p.QuietHours = &QuietHours{Start: "22:00", End: "07:00"}
	p.TimeZone = "Europe/Paris"
	p.Locale = "fr-FR"
	p.UpdatedAt = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	return p
}

// clone copies p deeply, to check later that Apply left it alone.
func clone(p Preferences) Preferences {
	c := p
	c.Categories = maps.Clone(p.Categories)
	if p.QuietHours != nil {
		q := *p.QuietHours
		c.QuietHours = &q
	}
	return c
}

func TestApplyAccepts(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		base    func() Preferences // nil: customised()
		doc     string
		replace bool
		want    func() Preferences // from customised()
	}{
		{
			name: "PUT resets what it leaves out", replace: true,
			doc: `{"sendNotificationToInbox": false}`,
			want: func() Preferences {
				p := Default("u1")
				p.SendNotificationToInbox = false
				return p
			},
		},
		{
			name: "PUT of an empty document restores the defaults", replace: true, doc: `{}`,
			want: func() Preferences { return Default("u1") },
		},
		{
			name: "PUT of everything", replace: true,
			doc: `{"userId":"u1","sendNotificationToConversation":true,"sendNotificationToMobileDevice":false,
				"sendNotificationToWebPush":false,"sendNotificationToInbox":true,"categories":{"news":false},
				"quietHours":{"start":"23:00","end":"06:30"},"timeZone":"America/New_York","locale":"en-US"}`,
			want: func() Preferences {
				p := Default("u1")
				p.SendNotificationToMobileDevice = false
				p.SendNotificationToWebPush = false
				p.Categories = map[string]bool{"news": false}
				p.QuietHours = &QuietHours{Start: "23:00", End: "06:30"}
				p.TimeZone = "America/New_York"
				p.Locale = "en-US"
				return p
			},
		},
		{
			name: "PATCH changes only what it gives",
			doc:  `{"sendNotificationToMobileDevice": true}`,
			want: func() Preferences {
				p := customised()
				p.SendNotificationToMobileDevice = true
				return p
			},
		},
		{
			name: "PATCH of an empty document changes nothing", doc: `{}`,
			want: customised,
		},
		{
			name: "PATCH merges categories key by key",
			doc:  `{"categories": {"news": false, "training": false}}`,
			want: func() Preferences {
				p := customised()
				p.Categories = map[string]bool{"marketing": false, "training": false, "news": false}
				return p
			},
		},
		{
			name: "PATCH null removes a category",
			doc:  `{"categories": {"marketing": null, "unknown": null}}`,
			want: func() Preferences {
				p := customised()
				p.Categories = map[string]bool{"training": true}
				return p
			},
		},
		{
			name: "PATCH null removes quiet hours",
			doc:  `{"quietHours": null}`,
			want: func() Preferences {
				p := customised()
				p.QuietHours = nil
				return p
			},
		},
		{
			name: "PATCH replaces quiet hours",
			doc:  `{"quietHours": {"start": "12:00", "end": "13:00"}}`,
			want: func() Preferences {
				p := customised()
				p.QuietHours = &QuietHours{Start: "12:00", End: "13:00"}
				return p
			},
		},
		{
			name: "PATCH quiet hours that urgent security notifications break",
			doc:  `{"quietHours": {"start": "22:00", "end": "07:00", "allowUrgent": ["security", "*"]}}`,
			want: func() Preferences {
				p := customised()
				p.QuietHours = &QuietHours{Start: "22:00", End: "07:00", AllowUrgent: []string{"security", "*"}}
				return p
			},
		},
		{
			name: "PATCH moving quiet hours keeps the urgent categories",
			base: func() Preferences {
				p := customised()
				p.QuietHours = &QuietHours{Start: "22:00", End: "07:00", AllowUrgent: []string{"security"}}
				return p
			},
			doc: `{"quietHours": {"start": "23:00", "end": "06:00"}}`,
			want: func() Preferences {
				p := customised()
				p.QuietHours = &QuietHours{Start: "23:00", End: "06:00", AllowUrgent: []string{"security"}}
				return p
			},
		},
		{
			name: "PATCH allowUrgent null clears them",
			base: func() Preferences {
				p := customised()
				p.QuietHours = &QuietHours{Start: "22:00", End: "07:00", AllowUrgent: []string{"security"}}
				return p
			},
			doc: `{"quietHours": {"start": "22:00", "end": "07:00", "allowUrgent": null}}`,
			want: func() Preferences {
				p := customised()
				p.QuietHours = &QuietHours{Start: "22:00", End: "07:00"}
				return p
			},
		},
		{
			name: "PATCH zone and locale",
			doc:  `{"timeZone": "Asia/Tokyo", "locale": ""}`,
			want: func() Preferences {
				p := customised()
				p.TimeZone = "Asia/Tokyo"
				p.Locale = ""
				return p
			},
		},
		{
			name: "PATCH with the same userId",
			doc:  `{"userId": "u1", "sendNotificationToWebPush": false}`,
			want: func() Preferences {
				p := customised()
				p.SendNotificationToWebPush = false
				return p
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p := customised()
			if tc.base != nil {
				p = tc.base()
			}
			before := clone(p)
			got, errs := Apply(p, []byte(tc.doc), tc.replace)
			if errs != nil {
				t.Fatalf("refused: %v", errs)
			}
			want := tc.want()
			if tc.replace {
				want.UpdatedAt = time.Time{} // a PUT builds the record afresh
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("got  %+v\nwant %+v", got, want)
			}
			if !reflect.DeepEqual(p, before) {
				t.Errorf("Apply changed its input: %+v", p)
			}
			// The result must not share the input's category map.
			got.Categories["zzz"] = true
			if _, shared := p.Categories["zzz"]; shared {
				t.Error("result shares the input's categories map")
			}
		})
	}
}

func TestApplyRefuses(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		doc     string
		fields  []string
		problem string
	}{
		{"not JSON", `{"timeZone":`, []string{"(body)"}, "JSON object of preference fields"},
		{"empty", ``, []string{"(body)"}, "JSON object"},
		{"null", `null`, []string{"(body)"}, "JSON object"},
		{"array", `[{"timeZone":"UTC"}]`, []string{"(body)"}, "JSON object"},
		{"unknown field", `{"sendNotificationToEmail": true}`, []string{"sendNotificationToEmail"}, "unknown preference field"},
		{"field in wrong case", `{"TimeZone": "UTC"}`, []string{"TimeZone"}, "unknown preference field"},
		{"empty field name", `{"": true}`, []string{`""`}, "unknown preference field"},
		{"every unknown field named", `{"b": 1, "a": 2}`, []string{"a", "b"}, "unknown"},
		{"userId mismatch", `{"userId": "u2"}`, []string{"userId"}, `must match the user in the path ("u1")`},
		{"userId number", `{"userId": 1}`, []string{"userId"}, "must match"},
		{"switch as string", `{"sendNotificationToInbox": "yes"}`, []string{"sendNotificationToInbox"}, "must be true or false"},
		{"switch as number", `{"sendNotificationToConversation": 0}`, []string{"sendNotificationToConversation"}, "true or false"},
		{"switch null", `{"sendNotificationToMobileDevice": null}`, []string{"sendNotificationToMobileDevice"}, "true or false"},
		{"switch as string on web push", `{"sendNotificationToWebPush": "false"}`, []string{"sendNotificationToWebPush"}, "true or false"},
		{"categories array", `{"categories": ["marketing"]}`, []string{"categories"}, `such as {"marketing": false}`},
		{"category value string", `{"categories": {"marketing": "off"}}`, []string{"categories"}, "true or false"},
		{"category name invalid", `{"categories": {"Marketing": false}}`, []string{"categories.Marketing"}, "lower-case"},
		{"quietHours string", `{"quietHours": "22:00-07:00"}`, []string{"quietHours"}, `such as {"start":"22:00","end":"07:00"} or null`},
		{"quietHours unknown member", `{"quietHours": {"start": "22:00", "end": "07:00", "zone": "UTC"}}`, []string{"quietHours"}, "or null"},
		{"quietHours number member", `{"quietHours": {"start": 22, "end": 7}}`, []string{"quietHours"}, "such as"},
		{"quietHours without end", `{"quietHours": {"start": "22:00"}}`, []string{"quietHours.end"}, "HH:MM"},
		{"quietHours bad clock", `{"quietHours": {"start": "22:00", "end": "7am"}}`, []string{"quietHours.end"}, `"7am"`},
		{"quietHours equal", `{"quietHours": {"start": "22:00", "end": "22:00"}}`, []string{"quietHours"}, "equal"},
		{"allowUrgent string", `{"quietHours": {"start": "22:00", "end": "07:00", "allowUrgent": "security"}}`, []string{"quietHours.allowUrgent"}, "array of category names"},
		{"allowUrgent bad category", `{"quietHours": {"start": "22:00", "end": "07:00", "allowUrgent": ["security", "IT Ops"]}}`, []string{"quietHours.allowUrgent[1]"}, `got "IT Ops"`},
		{"timeZone number", `{"timeZone": 2}`, []string{"timeZone"}, "must be a string"},
		{"timeZone unknown", `{"timeZone": "Europe/Atlantis"}`, []string{"timeZone"}, "unknown IANA time zone"},
		{"timeZone empty", `{"timeZone": ""}`, []string{"timeZone"}, "IANA"},
		{"locale boolean", `{"locale": true}`, []string{"locale"}, "must be a string"},
		{"locale invalid", `{"locale": "fr_FR_Paris"}`, []string{"locale"}, "BCP 47"},
		{"several wrong types", `{"locale": 1, "sendNotificationToInbox": "no", "nope": 0}`,
			[]string{"nope", "sendNotificationToInbox", "locale"}, "unknown"},
	}
	for _, tc := range tests {
		for _, replace := range []bool{false, true} {
			name := tc.name + "/PATCH"
			if replace {
				name = tc.name + "/PUT"
			}
			t.Run(name, func(t *testing.T) {
				t.Parallel()
				p := customised()
				before := clone(p)
				got, errs := Apply(p, []byte(tc.doc), replace)
				checkFieldErrors(t, errs, tc.fields, tc.problem)
				if !reflect.DeepEqual(p, before) {
					t.Errorf("Apply changed its input: %+v", p)
				}
				if !reflect.DeepEqual(got, before) {
					t.Errorf("on error Apply returned %+v; want the input unchanged", got)
				}
			})
		}
	}
}
