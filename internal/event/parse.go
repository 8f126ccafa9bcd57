package event

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/url"
	"regexp"
	"strings"
	"time"
	"unicode/utf8"

	"golang.org/x/text/language"
)

// Limits bound what one event may carry. They are part of the public API and
// documented in docs/api.md.
const (
	MaxRecipients = 1000
	MaxTopics     = 100
	MaxUserIDLen  = 256
	MaxIDLen      = 256
	MaxTitleLen   = 256
	MaxMessageLen = 4000
	MaxActions    = 5
	MaxDataBytes  = 16 << 10
	// MaxSchedule is how far ahead deliverAt may be.
	MaxSchedule = 366 * 24 * time.Hour
	// MinEscalation and MaxEscalation bound escalateAfter.
	MinEscalation   = time.Minute
	MaxEscalation   = 7 * 24 * time.Hour
	maxCategoryLen  = 64
	maxExtensionLen = 20
)

// Media types herald's ingest understands.
const (
	MediaCloudEvent      = "application/cloudevents+json"
	MediaCloudEventBatch = "application/cloudevents-batch+json"
	MediaJSON            = "application/json"
)

var (
	categoryPattern  = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]*$`)
	extensionPattern = regexp.MustCompile(`^[a-z0-9]+$`)
)

// CloudEvent context attributes defined by the specification; everything else
// at the top level of a structured event is an extension.
var coreAttributes = map[string]bool{
	"specversion": true, "id": true, "source": true, "type": true, "subject": true,
	"time": true, "datacontenttype": true, "dataschema": true, "data": true, "data_base64": true,
}

// ParseStructured parses one CloudEvent in structured JSON mode. receivedAt is
// stamped on the result.
func ParseStructured(body []byte, receivedAt time.Time) (Event, error) {
	return parseStructured(body, -1, receivedAt)
}

// ParseBatch parses a CloudEvents JSON batch: every event must be valid or the
// whole batch is refused, with each problem naming its event's index.
func ParseBatch(body []byte, maxEvents int, receivedAt time.Time) ([]Event, error) {
	var raw []json.RawMessage
	if err := json.Unmarshal(body, &raw); err != nil {
		return nil, &ValidationError{Errors: []FieldError{{Index: -1, Field: "(body)", Problem: "not a JSON array of CloudEvents: " + jsonProblem(err)}}}
	}
	if len(raw) == 0 {
		return nil, &ValidationError{Errors: []FieldError{{Index: -1, Field: "(body)", Problem: "the batch is empty"}}}
	}
	if len(raw) > maxEvents {
		return nil, &ValidationError{Errors: []FieldError{{Index: -1, Field: "(body)", Problem: fmt.Sprintf("the batch has %d events; at most %d are allowed", len(raw), maxEvents)}}}
	}
	events := make([]Event, 0, len(raw))
	var all []FieldError
	for i, r := range raw {
		ev, err := parseStructured(r, i, receivedAt)
		if err != nil {
			all = append(all, err.(*ValidationError).Errors...)
			continue
		}
		events = append(events, ev)
	}
	if len(all) > 0 {
		return nil, &ValidationError{Errors: all}
	}
	return events, nil
}

func parseStructured(body []byte, index int, receivedAt time.Time) (Event, error) {
	p := &problems{index: index}
	var attrs map[string]json.RawMessage
	if err := json.Unmarshal(body, &attrs); err != nil || attrs == nil {
		if err == nil {
			err = fmt.Errorf("null")
		}
		p.add("(event)", "not a JSON object: %s", jsonProblem(err))
		return Event{}, p.err()
	}
	str := func(name string, required bool) string {
		v, ok := attrs[name]
		if !ok || isNull(v) {
			if required {
				p.add(name, "required CloudEvents attribute is missing")
			}
			return ""
		}
		var s string
		if json.Unmarshal(v, &s) != nil {
			p.add(name, "must be a string, got %s", jsonKind(v))
			return ""
		}
		if required && s == "" {
			p.add(name, "must not be empty")
		}
		return s
	}
	c := ceAttrs{
		specversion:     str("specversion", true),
		id:              str("id", true),
		source:          str("source", true),
		typ:             str("type", true),
		subject:         str("subject", false),
		time:            str("time", false),
		datacontenttype: str("datacontenttype", false),
		dataschema:      str("dataschema", false),
	}
	for name, v := range attrs {
		if coreAttributes[name] {
			continue
		}
		checkExtension(p, name, v)
	}
	// A null member counts as absent, for data as for data_base64.
	data, hasData := attrs["data"]
	hasData = hasData && !isNull(data)
	if b64, ok := attrs["data_base64"]; ok && !isNull(b64) {
		if hasData {
			p.add("data_base64", "data and data_base64 are mutually exclusive")
		} else {
			var s string
			if json.Unmarshal(b64, &s) != nil {
				p.add("data_base64", "must be a base64 string, got %s", jsonKind(b64))
			} else if dec, err := base64.StdEncoding.DecodeString(s); err != nil {
				p.add("data_base64", "not valid base64: %v", err)
			} else {
				data, hasData = dec, true
			}
		}
		// The data was given; if it could not be read, that is reported
		// above and "data is required" would only mislead.
		c.dataReported = !hasData
	}
	if !hasData {
		data = nil
	}
	return build(p, c, data, receivedAt)
}

// ceAttrs are the CloudEvent context attributes as received, before checks.
type ceAttrs struct {
	specversion, id, source, typ, subject, time, datacontenttype, dataschema string
	// dataReported is set when the data was given but could not be decoded,
	// a problem already reported, so the data is not checked further.
	dataReported bool
}

func checkExtension(p *problems, name string, v json.RawMessage) {
	if !extensionPattern.MatchString(name) || len(name) > maxExtensionLen {
		p.add(name, "not a CloudEvents attribute, and extension names must be 1-%d lower-case letters or digits", maxExtensionLen)
		return
	}
	switch jsonKind(v) {
	case "string", "number", "boolean", "null":
	default:
		p.add(name, "extension values must be a string, number or boolean, got %s", jsonKind(v))
	}
}

// build checks the attributes and the data and assembles the Event.
func build(p *problems, c ceAttrs, data []byte, receivedAt time.Time) (Event, error) {
	if c.specversion != "" && c.specversion != "1.0" {
		p.add("specversion", "must be \"1.0\", got %q", c.specversion)
	}
	if len(c.id) > MaxIDLen {
		p.add("id", "is %d bytes; at most %d are allowed", len(c.id), MaxIDLen)
	}
	if c.source != "" {
		if _, err := url.Parse(c.source); err != nil {
			p.add("source", "must be a URI-reference: %v", err)
		}
	}
	ev := Event{Source: c.source, SourceID: c.id, Type: c.typ, Subject: c.subject, ReceivedAt: receivedAt}
	if c.time != "" {
		t, err := time.Parse(time.RFC3339Nano, c.time)
		if err != nil {
			p.add("time", "must be an RFC 3339 timestamp such as 2026-01-02T15:04:05Z, got %q", c.time)
		}
		ev.Time = t
	}
	if c.dataschema != "" {
		if _, err := url.Parse(c.dataschema); err != nil {
			p.add("dataschema", "must be a URI: %v", err)
		}
	}
	if c.datacontenttype != "" && !IsJSONMediaType(c.datacontenttype) {
		p.add("datacontenttype", "herald reads JSON data only (application/json or a +json type), got %q", c.datacontenttype)
	}
	if !c.dataReported {
		checkData(p, data, &ev)
	}
	if err := p.err(); err != nil {
		return Event{}, err
	}
	ev.ID = IDFor(ev.Source, ev.SourceID)
	return ev, nil
}

// IsJSONMediaType reports whether a media type (parameters allowed) is JSON.
func IsJSONMediaType(mt string) bool {
	base, _, err := mime.ParseMediaType(mt)
	if err != nil {
		return false
	}
	return base == MediaJSON || strings.HasSuffix(base, "+json")
}

// wireData is the shape of a canonical event's data member.
type wireData struct {
	Audience     json.RawMessage `json:"audience"`
	Notification json.RawMessage `json:"notification"`
}

type wireNotification struct {
	Title     json.RawMessage `json:"title"`
	Message   json.RawMessage `json:"message"`
	Category  json.RawMessage `json:"category"`
	Urgency   json.RawMessage `json:"urgency"`
	Actions   json.RawMessage `json:"actions"`
	ExpiresAt json.RawMessage `json:"expiresAt"`
	DeliverAt json.RawMessage `json:"deliverAt"`
	Escalate  json.RawMessage `json:"escalateAfter"`
	Locale    json.RawMessage `json:"locale"`
	Data      json.RawMessage `json:"data"`
}

func checkData(p *problems, data []byte, ev *Event) {
	if len(data) == 0 || isNull(data) {
		p.add("data", "required: an object with audience and notification")
		return
	}
	var d wireData
	if err := strictUnmarshal(data, &d); err != nil {
		p.add("data", "must be an object with audience and notification: %s", jsonProblem(err))
		return
	}
	checkAudience(p, d.Audience, ev)
	checkNotification(p, d.Notification, &ev.Notification)
	if at := ev.Notification.DeliverAt; at != nil && !ev.ReceivedAt.IsZero() && at.Sub(ev.ReceivedAt) > MaxSchedule {
		p.add("data.notification.deliverAt", "is more than %d days ahead; schedule it closer, got %s", int(MaxSchedule.Hours()/24), at.Format(time.RFC3339))
	}
}

func checkAudience(p *problems, raw json.RawMessage, ev *Event) {
	before := len(p.list)
	if len(raw) > 0 && !isNull(raw) {
		var a struct {
			Users   json.RawMessage `json:"users"`
			Topics  json.RawMessage `json:"topics"`
			All     json.RawMessage `json:"all"`
			Exclude json.RawMessage `json:"exclude"`
		}
		if err := strictUnmarshal(raw, &a); err != nil {
			p.add("data.audience", "must be an object such as {\"users\":[\"u1\"]}, {\"topics\":[\"hr\"]} or {\"all\":true}: %s", jsonProblem(err))
			return
		}
		ev.Audience.Users = userList(p, "data.audience.users", a.Users)
		ev.Audience.Topics = topicList(p, "data.audience.topics", a.Topics)
		if len(a.All) > 0 && !isNull(a.All) {
			if json.Unmarshal(a.All, &ev.Audience.All) != nil {
				p.add("data.audience.all", "must be true or false, got %s", jsonKind(a.All))
			}
		}
		if len(a.Exclude) > 0 && !isNull(a.Exclude) {
			var x struct {
				Users  json.RawMessage `json:"users"`
				Topics json.RawMessage `json:"topics"`
			}
			if err := strictUnmarshal(a.Exclude, &x); err != nil {
				p.add("data.audience.exclude", "must be an object such as {\"users\":[\"u9\"],\"topics\":[\"contractors\"]}: %s", jsonProblem(err))
			} else {
				ev.Audience.Exclude.Users = userList(p, "data.audience.exclude.users", x.Users)
				ev.Audience.Exclude.Topics = topicList(p, "data.audience.exclude.topics", x.Topics)
			}
		}
	}
	// Only problems found in the audience itself make "no recipients" moot;
	// a bad attribute elsewhere must not hide a missing audience.
	if ev.Audience.Empty() && len(p.list) == before {
		if ev.Subject == "" {
			p.add("data.audience", "no recipients: give data.audience users, topics or all, or the CloudEvent subject")
			return
		}
		if msg := CheckUserID(ev.Subject); msg != "" {
			p.add("subject", "used as the recipient, but %s", msg)
			return
		}
		ev.Audience.Users = []string{ev.Subject}
	}
}

// userList reads an optional array of user ids, dropping duplicates.
func userList(p *problems, field string, raw json.RawMessage) []string {
	return nameList(p, field, raw, "user ids", "users", MaxRecipients, " in one event (use topics for larger audiences)", CheckUserID)
}

// topicList reads an optional array of topic names, dropping duplicates.
func topicList(p *problems, field string, raw json.RawMessage) []string {
	return nameList(p, field, raw, "topic names", "topics", MaxTopics, "", CheckTopic)
}

// nameList reads an optional array of at most max strings that check
// accepts, dropping duplicates; what and plural name the elements in
// messages.
func nameList(p *problems, field string, raw json.RawMessage, what, plural string, max int, hint string, check func(string) string) []string {
	if len(raw) == 0 || isNull(raw) {
		return nil
	}
	var items []json.RawMessage
	if json.Unmarshal(raw, &items) != nil {
		p.add(field, "must be an array of %s, got %s", what, jsonKind(raw))
		return nil
	}
	if len(items) > max {
		p.add(field, "has %d %s; at most %d are allowed%s", len(items), plural, max, hint)
		return nil
	}
	var out []string
	seen := make(map[string]bool, len(items))
	for i, it := range items {
		f := fmt.Sprintf("%s[%d]", field, i)
		var s string
		if isNull(it) || json.Unmarshal(it, &s) != nil {
			p.add(f, "must be a string, got %s", jsonKind(it))
			continue
		}
		if msg := check(s); msg != "" {
			p.add(f, "%s", msg)
			continue
		}
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}

// CheckTopic returns what is wrong with a topic name, or "" if it is valid:
// 1-64 lower-case letters, digits, '.', '_' or '-', starting with a letter
// or digit.
func CheckTopic(name string) string {
	if len(name) > maxCategoryLen || !categoryPattern.MatchString(name) {
		return fmt.Sprintf("a topic name is 1-%d lower-case letters, digits, '.', '_' or '-', got %q", maxCategoryLen, name)
	}
	return ""
}

// CheckUserID returns what is wrong with a user id, or "" if it is valid:
// 1-256 bytes of UTF-8 with no control characters or slashes.
func CheckUserID(id string) string {
	switch {
	case id == "":
		return "a user id must not be empty"
	case len(id) > MaxUserIDLen:
		return fmt.Sprintf("a user id is at most %d bytes", MaxUserIDLen)
	case !utf8.ValidString(id):
		return "a user id must be valid UTF-8"
	case strings.ContainsAny(id, "/?#"):
		return "a user id must not contain '/', '?' or '#'"
	}
	for _, r := range id {
		if r < 0x20 || r == 0x7f {
			return "a user id must not contain control characters"
		}
	}
	return ""
}

func checkNotification(p *problems, raw json.RawMessage, n *Notification) {
	if len(raw) == 0 || isNull(raw) {
		p.add("data.notification", "required: an object with at least a message")
		return
	}
	var w wireNotification
	if err := strictUnmarshal(raw, &w); err != nil {
		p.add("data.notification", "must be an object: %s", jsonProblem(err))
		return
	}
	n.Title = textField(p, "data.notification.title", w.Title, MaxTitleLen, false)
	n.Message = textField(p, "data.notification.message", w.Message, MaxMessageLen, true)
	n.Category = textField(p, "data.notification.category", w.Category, maxCategoryLen, false)
	if n.Category != "" && !categoryPattern.MatchString(n.Category) {
		p.add("data.notification.category", "must be lower-case letters, digits, '.', '_' or '-', got %q", n.Category)
	}
	switch u := Urgency(textField(p, "data.notification.urgency", w.Urgency, 16, false)); u {
	case "":
		n.Urgency = UrgencyNormal
	case UrgencyLow, UrgencyNormal, UrgencyHigh:
		n.Urgency = u
	default:
		p.add("data.notification.urgency", "must be one of low, normal, high; got %q", u)
	}
	if exp := textField(p, "data.notification.expiresAt", w.ExpiresAt, 64, false); exp != "" {
		t, err := time.Parse(time.RFC3339Nano, exp)
		if err != nil {
			p.add("data.notification.expiresAt", "must be an RFC 3339 timestamp such as 2026-01-02T15:04:05Z, got %q", exp)
		} else {
			t = t.UTC()
			n.ExpiresAt = &t
		}
	}
	if at := textField(p, "data.notification.deliverAt", w.DeliverAt, 64, false); at != "" {
		t, err := time.Parse(time.RFC3339Nano, at)
		if err != nil {
			p.add("data.notification.deliverAt", "must be an RFC 3339 timestamp such as 2026-01-02T15:04:05Z, got %q", at)
		} else {
			t = t.UTC()
			n.DeliverAt = &t
		}
	}
	if esc := textField(p, "data.notification.escalateAfter", w.Escalate, 32, false); esc != "" {
		d, err := time.ParseDuration(esc)
		switch {
		case err != nil:
			p.add("data.notification.escalateAfter", "must be a duration such as 30m or 2h, got %q", esc)
		case d < MinEscalation || d > MaxEscalation:
			p.add("data.notification.escalateAfter", "must be from 1m to 168h (7 days), got %s", esc)
		default:
			n.EscalateAfter = Duration(d)
		}
	}
	if loc := textField(p, "data.notification.locale", w.Locale, 35, false); loc != "" {
		if msg := CheckLocale(loc); msg != "" {
			p.add("data.notification.locale", "%s", msg)
		}
		n.Locale = loc
	}
	if len(w.Data) > 0 && !isNull(w.Data) {
		if len(w.Data) > MaxDataBytes {
			p.add("data.notification.data", "is %d bytes; at most %d are allowed", len(w.Data), MaxDataBytes)
		} else {
			n.Data = compactJSON(w.Data)
		}
	}
	checkActions(p, w.Actions, n)
}

// CheckLocale returns what is wrong with a BCP 47 language tag, or "".
func CheckLocale(tag string) string {
	if _, err := language.Parse(tag); err != nil {
		return fmt.Sprintf("must be a BCP 47 language tag such as en-US, got %q", tag)
	}
	return ""
}

func checkActions(p *problems, raw json.RawMessage, n *Notification) {
	if len(raw) == 0 || isNull(raw) {
		return
	}
	var list []json.RawMessage
	if json.Unmarshal(raw, &list) != nil {
		p.add("data.notification.actions", "must be an array of actions, got %s", jsonKind(raw))
		return
	}
	if len(list) > MaxActions {
		p.add("data.notification.actions", "has %d actions; at most %d are allowed", len(list), MaxActions)
		return
	}
	for i, r := range list {
		field := fmt.Sprintf("data.notification.actions[%d]", i)
		var w struct {
			ID    json.RawMessage `json:"id"`
			Title json.RawMessage `json:"title"`
			URL   json.RawMessage `json:"url"`
			Value json.RawMessage `json:"value"`
		}
		if err := strictUnmarshal(r, &w); err != nil {
			p.add(field, "must be an object with id and title: %s", jsonProblem(err))
			continue
		}
		a := Action{
			ID:    textField(p, field+".id", w.ID, 64, true),
			Title: textField(p, field+".title", w.Title, 64, true),
			URL:   textField(p, field+".url", w.URL, 2048, false),
		}
		if a.URL != "" {
			u, err := url.Parse(a.URL)
			if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
				p.add(field+".url", "must be an absolute http or https URL, got %q", a.URL)
			}
		}
		if len(w.Value) > 0 && !isNull(w.Value) {
			a.Value = compactJSON(w.Value)
		}
		n.Actions = append(n.Actions, a)
	}
}

// textField reads an optional or required string of at most max characters.
func textField(p *problems, field string, raw json.RawMessage, max int, required bool) string {
	if len(raw) == 0 || isNull(raw) {
		if required {
			p.add(field, "required")
		}
		return ""
	}
	var s string
	if json.Unmarshal(raw, &s) != nil {
		p.add(field, "must be a string, got %s", jsonKind(raw))
		return ""
	}
	if required && strings.TrimSpace(s) == "" {
		p.add(field, "must not be empty")
	}
	if n := utf8.RuneCountInString(s); n > max {
		p.add(field, "is %d characters; at most %d are allowed", n, max)
	}
	return s
}

func strictUnmarshal(b []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	// dec.More stops at a stray '}' or ']', so check the rest of the input
	// directly: only white space may follow the value.
	if rest := bytes.TrimSpace(b[dec.InputOffset():]); len(rest) > 0 {
		return fmt.Errorf("unexpected data after the object")
	}
	return nil
}

func compactJSON(b []byte) json.RawMessage {
	var buf bytes.Buffer
	if json.Compact(&buf, b) != nil {
		return append(json.RawMessage(nil), b...)
	}
	return buf.Bytes()
}

func isNull(b []byte) bool {
	return string(bytes.TrimSpace(b)) == "null"
}

// jsonKind names the JSON type of a raw value for error messages.
func jsonKind(b []byte) string {
	b = bytes.TrimSpace(b)
	if len(b) == 0 {
		return "nothing"
	}
	switch b[0] {
	case '"':
		return "string"
	case '{':
		return "object"
	case '[':
		return "array"
	case 't', 'f':
		return "boolean"
	case 'n':
		return "null"
	default:
		return "number"
	}
}

// jsonProblem turns a decoding error into a message that names the problem
// without Go type names.
func jsonProblem(err error) string {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		return fmt.Sprintf("malformed JSON at byte %d: %s", se.Offset, se.Error())
	case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		// json.Decoder reports truncated input this way, not as a SyntaxError.
		return "malformed JSON: the input ends before the value is complete"
	case errors.As(err, &te):
		if te.Field != "" {
			return fmt.Sprintf("%s has the wrong type (%s)", te.Field, te.Value)
		}
		return fmt.Sprintf("expected %s, got %s", goKindName(te.Type.Kind().String()), te.Value)
	}
	msg := err.Error()
	msg = strings.TrimPrefix(msg, "json: ")
	return msg
}

func goKindName(k string) string {
	switch k {
	case "map", "struct":
		return "an object"
	case "slice":
		return "an array"
	}
	return k
}
