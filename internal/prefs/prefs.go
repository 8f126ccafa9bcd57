// Package prefs holds a person's notification preferences: the record's
// shape (with the original design's field names), its defaults, validation,
// merging of partial updates, and the decision of which channels a
// notification may use. It does no I/O.
package prefs

import (
	"bytes"
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"sort"
	"time"

	"github.com/herald/herald/internal/event"
)

// Channel names. They are stable: they appear in the API, in preferences and
// in delivery records.
const (
	Conversation = "conversation"
	Mobile       = "mobile"
	WebPush      = "webpush"
	Inbox        = "inbox"
)

// Channels lists every channel in the order deliveries are planned.
var Channels = []string{Inbox, Conversation, Mobile, WebPush}

// Preferences is one person's record. The two original switches,
// SendNotificationToConversation and SendNotificationToMobileDevice, are the
// conversation and mobile channel switches; WebPush and Inbox complete the set.
type Preferences struct {
	UserID                         string          `json:"userId"`
	SendNotificationToConversation bool            `json:"sendNotificationToConversation"`
	SendNotificationToMobileDevice bool            `json:"sendNotificationToMobileDevice"`
	SendNotificationToWebPush      bool            `json:"sendNotificationToWebPush"`
	SendNotificationToInbox        bool            `json:"sendNotificationToInbox"`
	Categories                     map[string]bool `json:"categories"`
	QuietHours                     *QuietHours     `json:"quietHours"`
	TimeZone                       string          `json:"timeZone"`
	Locale                         string          `json:"locale"`
	UpdatedAt                      time.Time       `json:"updatedAt"`
}

// QuietHours is a daily window, in the person's time zone, during which
// interrupting channels wait. Start may be later than End (over midnight).
type QuietHours struct {
	Start string `json:"start"`
	End   string `json:"end"`
	// AllowUrgent lists the categories whose urgent (urgency high)
	// notifications are delivered during quiet hours anyway; "*" stands
	// for every category, uncategorised notifications included.
	AllowUrgent []string `json:"allowUrgent,omitempty"`
}

// AnyCategory in QuietHours.AllowUrgent lets urgent notifications of every
// category through.
const AnyCategory = "*"

// BreaksQuietHours reports whether the person lets notification n through
// their quiet hours: it is urgent and its category is allowed.
func (p Preferences) BreaksQuietHours(n event.Notification) bool {
	if p.QuietHours == nil || n.Urgency != event.UrgencyHigh {
		return false
	}
	for _, c := range p.QuietHours.AllowUrgent {
		if c == AnyCategory || (c == n.Category && c != "") {
			return true
		}
	}
	return false
}

// Default is the record created for a person seen for the first time: every
// channel on, no category switched off, no quiet hours.
func Default(userID string) Preferences {
	return Preferences{
		UserID:                         userID,
		SendNotificationToConversation: true,
		SendNotificationToMobileDevice: true,
		SendNotificationToWebPush:      true,
		SendNotificationToInbox:        true,
		Categories:                     map[string]bool{},
		TimeZone:                       "UTC",
	}
}

// Allows reports whether the person lets channel carry notifications at all.
func (p Preferences) Allows(channel string) bool {
	switch channel {
	case Conversation:
		return p.SendNotificationToConversation
	case Mobile:
		return p.SendNotificationToMobileDevice
	case WebPush:
		return p.SendNotificationToWebPush
	case Inbox:
		return p.SendNotificationToInbox
	}
	return false
}

// Decision is the plan for one channel of one notification to one person.
type Decision struct {
	Channel string
	// Skip is empty when the channel should deliver; otherwise the reason.
	Skip string
}

// Reasons a channel is skipped, as recorded in delivery outcomes.
const (
	SkipChannelOff  = "channel switched off"
	SkipCategoryOff = "category switched off"
)

// Decide returns, for every channel, whether a notification in category may
// use it.
func (p Preferences) Decide(n event.Notification) []Decision {
	out := make([]Decision, 0, len(Channels))
	categoryOff := n.Category != "" && hasKey(p.Categories, n.Category) && !p.Categories[n.Category]
	for _, ch := range Channels {
		d := Decision{Channel: ch}
		switch {
		case !p.Allows(ch):
			d.Skip = SkipChannelOff
		case categoryOff:
			d.Skip = SkipCategoryOff
		}
		out = append(out, d)
	}
	return out
}

func hasKey(m map[string]bool, k string) bool {
	_, ok := m[k]
	return ok
}

// InQuietHours reports whether t falls inside the person's quiet hours.
func (p Preferences) InQuietHours(t time.Time) bool {
	if p.QuietHours == nil {
		return false
	}
	loc, err := time.LoadLocation(p.TimeZone)
	if err != nil {
		loc = time.UTC
	}
	local := t.In(loc)
	minute := local.Hour()*60 + local.Minute()
	start, _ := parseClock(p.QuietHours.Start)
	end, _ := parseClock(p.QuietHours.End)
	if start <= end {
		return minute >= start && minute < end
	}
	return minute >= start || minute < end
}

// Interrupting reports whether a channel interrupts a person, and so waits
// out their quiet hours. The inbox is read when the person chooses; it never
// waits.
func Interrupting(channel string) bool { return channel != Inbox }

// QuietUntil returns when the quiet hours that contain t end, in the
// person's time zone (so across daylight-saving changes too), or the zero
// time when t is outside quiet hours.
func (p Preferences) QuietUntil(t time.Time) time.Time {
	if !p.InQuietHours(t) {
		return time.Time{}
	}
	loc, err := time.LoadLocation(p.TimeZone)
	if err != nil {
		loc = time.UTC
	}
	local := t.In(loc)
	end, _ := parseClock(p.QuietHours.End)
	until := time.Date(local.Year(), local.Month(), local.Day(), end/60, end%60, 0, 0, loc)
	if !until.After(t) {
		until = time.Date(local.Year(), local.Month(), local.Day()+1, end/60, end%60, 0, 0, loc)
	}
	return until
}

var clockPattern = regexp.MustCompile(`^([01][0-9]|2[0-3]):([0-5][0-9])$`)

func parseClock(s string) (int, bool) {
	m := clockPattern.FindStringSubmatch(s)
	if m == nil {
		return 0, false
	}
	return int(m[1][0]-'0')*600 + int(m[1][1]-'0')*60 + int(m[2][0]-'0')*10 + int(m[2][1]-'0'), true
}

var categoryPattern = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,63}$`)

// maxAllowUrgent bounds quietHours.allowUrgent.
const maxAllowUrgent = 100

// Validate lists what is wrong with a record, naming each field.
func (p Preferences) Validate() []event.FieldError {
	var errs []event.FieldError
	add := func(field, format string, args ...any) {
		errs = append(errs, event.FieldError{Index: -1, Field: field, Problem: fmt.Sprintf(format, args...)})
	}
	if p.QuietHours != nil {
		s, okS := parseClock(p.QuietHours.Start)
		e, okE := parseClock(p.QuietHours.End)
		if !okS {
			add("quietHours.start", "must be a 24-hour time HH:MM such as 22:00, got %q", p.QuietHours.Start)
		}
		if !okE {
			add("quietHours.end", "must be a 24-hour time HH:MM such as 07:00, got %q", p.QuietHours.End)
		}
		if okS && okE && s == e {
			add("quietHours", "start and end are equal; remove quietHours (null) to turn them off")
		}
		if n := len(p.QuietHours.AllowUrgent); n > maxAllowUrgent {
			add("quietHours.allowUrgent", "has %d categories; at most %d are allowed (use \"*\" for every category)", n, maxAllowUrgent)
		}
		for i, c := range p.QuietHours.AllowUrgent {
			if c != AnyCategory && !categoryPattern.MatchString(c) {
				add(fmt.Sprintf("quietHours.allowUrgent[%d]", i), "must be a category name (1-64 lower-case letters, digits, '.', '_' or '-') or \"*\" for every category, got %q", c)
			}
		}
	}
	if p.TimeZone == "" {
		add("timeZone", "must be an IANA time zone such as Europe/Paris or UTC")
	} else if _, err := time.LoadLocation(p.TimeZone); err != nil {
		add("timeZone", "unknown IANA time zone %q (examples: UTC, Europe/Paris, America/New_York)", p.TimeZone)
	}
	if p.Locale != "" {
		if msg := event.CheckLocale(p.Locale); msg != "" {
			add("locale", "%s", msg)
		}
	}
	names := make([]string, 0, len(p.Categories))
	for c := range p.Categories {
		names = append(names, c)
	}
	sort.Strings(names)
	for _, c := range names {
		if !categoryPattern.MatchString(c) {
			add("categories."+c, "category names are 1-64 lower-case letters, digits, '.', '_' or '-'")
		}
	}
	return errs
}

// fieldNames lists the JSON members a client may set.
var fieldNames = map[string]bool{
	"sendNotificationToConversation": true, "sendNotificationToMobileDevice": true,
	"sendNotificationToWebPush": true, "sendNotificationToInbox": true,
	"categories": true, "quietHours": true, "timeZone": true, "locale": true,
	"userId": true, "updatedAt": true,
}

// Apply merges a JSON document into p. With replace (PUT) every settable
// field not in the document returns to its default; otherwise (PATCH) only
// the fields present change, and categories merge key by key (null removes a
// key). Problems are reported per field; p is unchanged on error.
func Apply(p Preferences, doc []byte, replace bool) (Preferences, []event.FieldError) {
	var errs []event.FieldError
	add := func(field, format string, args ...any) {
		errs = append(errs, event.FieldError{Index: -1, Field: field, Problem: fmt.Sprintf(format, args...)})
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(doc, &raw); err != nil || raw == nil {
		add("(body)", "must be a JSON object of preference fields")
		return p, errs
	}
	next := p
	if replace {
		next = Default(p.UserID)
	}
	next.Categories = make(map[string]bool, len(p.Categories))
	if !replace {
		for k, v := range p.Categories {
			next.Categories[k] = v
		}
	}
	boolField := func(name string, dst *bool) {
		v, ok := raw[name]
		if !ok {
			return
		}
		if err := json.Unmarshal(v, dst); err != nil || bytes.Equal(bytes.TrimSpace(v), []byte("null")) {
			add(name, "must be true or false")
		}
	}
	names := make([]string, 0, len(raw))
	for k := range raw {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		if !fieldNames[k] {
			field := k
			if field == "" {
				field = `""` // a member whose name is empty
			}
			add(field, "unknown preference field")
		}
	}
	if v, ok := raw["userId"]; ok {
		var id string
		if json.Unmarshal(v, &id) != nil || id != p.UserID {
			add("userId", "must match the user in the path (%q) or be left out", p.UserID)
		}
	}
	boolField("sendNotificationToConversation", &next.SendNotificationToConversation)
	boolField("sendNotificationToMobileDevice", &next.SendNotificationToMobileDevice)
	boolField("sendNotificationToWebPush", &next.SendNotificationToWebPush)
	boolField("sendNotificationToInbox", &next.SendNotificationToInbox)
	if v, ok := raw["categories"]; ok && !bytes.Equal(bytes.TrimSpace(v), []byte("null")) {
		var cats map[string]*bool
		if err := json.Unmarshal(v, &cats); err != nil {
			add("categories", "must be an object of category name to true or false, such as {\"marketing\": false}")
		} else {
			for k, on := range cats {
				if on == nil {
					delete(next.Categories, k)
				} else {
					next.Categories[k] = *on
				}
			}
		}
	}
	if v, ok := raw["quietHours"]; ok {
		if bytes.Equal(bytes.TrimSpace(v), []byte("null")) {
			next.QuietHours = nil
		} else {
			var w struct {
				Start       string          `json:"start"`
				End         string          `json:"end"`
				AllowUrgent json.RawMessage `json:"allowUrgent"`
			}
			dec := json.NewDecoder(bytes.NewReader(v))
			dec.DisallowUnknownFields()
			if err := dec.Decode(&w); err != nil {
				add("quietHours", "must be an object such as {\"start\":\"22:00\",\"end\":\"07:00\"} or null (with, optionally, \"allowUrgent\": [\"security\"])")
			} else {
				q := QuietHours{Start: w.Start, End: w.End}
				if len(w.AllowUrgent) == 0 && !replace && p.QuietHours != nil {
					// A PATCH that moves the window keeps the urgent
					// categories, for clients that know only start and end.
					q.AllowUrgent = slices.Clone(p.QuietHours.AllowUrgent)
				}
				if len(w.AllowUrgent) > 0 && !bytes.Equal(bytes.TrimSpace(w.AllowUrgent), []byte("null")) {
					if json.Unmarshal(w.AllowUrgent, &q.AllowUrgent) != nil {
						add("quietHours.allowUrgent", "must be an array of category names such as [\"security\"], or [\"*\"] for every category")
					}
				}
				if len(q.AllowUrgent) == 0 {
					q.AllowUrgent = nil
				}
				next.QuietHours = &q
			}
		}
	}
	stringField := func(name string, dst *string) {
		v, ok := raw[name]
		if !ok {
			return
		}
		if json.Unmarshal(v, dst) != nil {
			add(name, "must be a string")
		}
	}
	stringField("timeZone", &next.TimeZone)
	stringField("locale", &next.Locale)
	if len(errs) == 0 {
		errs = next.Validate()
	}
	if len(errs) > 0 {
		return p, errs
	}
	return next, nil
}
