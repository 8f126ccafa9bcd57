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
	"slices"
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

// CloudEvent context attributes defined by the specification; everything else
// at the top level of a structured event is an extension.
var coreAttributes = [...]string{
	"specversion", "id", "source", "type", "subject",
	"time", "datacontenttype", "dataschema", "data", "data_base64",
}

// coreIndex returns name's index in coreAttributes, or -1 for an extension.
func coreIndex(name string) int {
	for i, a := range coreAttributes {
		if a == name {
			return i
		}
	}
	return -1
}

// isCategory reports whether s is lower-case letters, digits, '.', '_' or
// '-', starting with a letter or digit (^[a-z0-9][a-z0-9._-]*$).
func isCategory(s string) bool {
	if s == "" || s[0] == '.' || s[0] == '_' || s[0] == '-' {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '.' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// isExtensionName reports whether name is a valid CloudEvents extension
// name: 1-20 lower-case letters or digits.
func isExtensionName[S string | []byte](name S) bool {
	if len(name) == 0 || len(name) > maxExtensionLen {
		return false
	}
	for i := 0; i < len(name); i++ {
		if c := name[i]; !('a' <= c && c <= 'z' || '0' <= c && c <= '9') {
			return false
		}
	}
	return true
}

// ParseStructured parses one CloudEvent in structured JSON mode. receivedAt is
// stamped on the result.
func ParseStructured(body []byte, receivedAt time.Time) (Event, error) {
	return parseStructured(&problems{index: -1}, body, receivedAt)
}

// ParseBatch parses a CloudEvents JSON batch: every event must be valid or the
// whole batch is refused, with each problem naming its event's index.
func ParseBatch(body []byte, maxEvents int, receivedAt time.Time) ([]Event, error) {
	return parseBatch(body, maxEvents, receivedAt, false)
}

// parseBatch is ParseBatch, with encoding/json alone when exact is set.
func parseBatch(body []byte, maxEvents int, receivedAt time.Time, exact bool) ([]Event, error) {
	p := &problems{index: -1, exact: exact}
	raw, err := decodeArray(p, body, nil)
	switch {
	case err != nil:
		p.add("(body)", "not a JSON array of CloudEvents: %s", jsonProblem(err))
	case len(raw) == 0:
		p.add("(body)", "the batch is empty")
	case len(raw) > maxEvents:
		p.add("(body)", "the batch has %d events; at most %d are allowed", len(raw), maxEvents)
	}
	if err := p.err(); err != nil {
		return nil, err
	}
	events := make([]Event, 0, len(raw))
	var all []FieldError
	for i, r := range raw {
		ev, err := parseStructured(&problems{index: i, exact: exact}, r, receivedAt)
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

// parseStructured parses one structured CloudEvent, its problems going to p.
func parseStructured(p *problems, body []byte, receivedAt time.Time) (Event, error) {
	var w wireEvent
	if err := splitEvent(p, body, &w); err != nil {
		p.add("(event)", "not a JSON object: %s", jsonProblem(err))
		return Event{}, p.err()
	}
	str := func(name string, required bool) string {
		v := w.attribute(name)
		if len(v) == 0 || isNull(v) {
			if required {
				p.add(name, "required CloudEvents attribute is missing")
			}
			return ""
		}
		s, ok := decodeString(p, v)
		if !ok {
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
	for _, e := range w.extensions {
		checkExtension(p, e.name, e.value)
	}
	// A null member counts as absent, for data as for data_base64.
	data := w.attribute("data")
	hasData := len(data) > 0 && !isNull(data)
	if b64 := w.attribute("data_base64"); len(b64) > 0 && !isNull(b64) {
		if hasData {
			p.add("data_base64", "data and data_base64 are mutually exclusive")
		} else {
			if s, ok := decodeString(p, b64); !ok {
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

// wireEvent is a structured CloudEvent's members, kept raw: the context
// attributes at their index in coreAttributes, the rest as extensions in
// the order of their names.
type wireEvent struct {
	core       [len(coreAttributes)]json.RawMessage
	extensions []extension
}

type extension struct {
	name  []byte
	value json.RawMessage
}

func (w *wireEvent) attribute(name string) json.RawMessage { return w.core[coreIndex(name)] }

// add records the member name (raw bytes of a plain name), reporting false
// for a member given twice.
func (w *wireEvent) add(name, v []byte) bool {
	if i := coreIndex(string(name)); i >= 0 {
		if w.core[i] != nil {
			return false
		}
		w.core[i] = v
		return true
	}
	for _, e := range w.extensions {
		if bytes.Equal(e.name, name) {
			return false
		}
	}
	w.extensions = append(w.extensions, extension{name: name, value: v})
	return true
}

// splitEvent splits body into w as json.Unmarshal into a
// map[string]json.RawMessage does; a null body is an error.
func splitEvent(p *problems, body []byte, w *wireEvent) error {
	if p.exact || !eachMember(body, w.add) {
		*w = wireEvent{} // drop what the split took before it gave up
		var attrs map[string]json.RawMessage
		if err := json.Unmarshal(body, &attrs); err != nil {
			return err
		} else if attrs == nil {
			return fmt.Errorf("null")
		}
		for name, v := range attrs {
			w.add([]byte(name), v)
		}
	}
	// Problems with extensions are reported in the order of their names,
	// not of the map the reference decodes into.
	slices.SortFunc(w.extensions, func(a, b extension) int { return bytes.Compare(a.name, b.name) })
	return nil
}

func checkExtension(p *problems, name []byte, v json.RawMessage) {
	if !isExtensionName(name) {
		p.add(string(name), "not a CloudEvents attribute, and extension names must be 1-%d lower-case letters or digits", maxExtensionLen)
		return
	}
	switch jsonKind(v) {
	case "string", "number", "boolean", "null":
	default:
		p.add(string(name), "extension values must be a string, number or boolean, got %s", jsonKind(v))
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

// wireAction is the shape of each of data.notification.actions.
type wireAction struct {
	ID    json.RawMessage `json:"id"`
	Title json.RawMessage `json:"title"`
	URL   json.RawMessage `json:"url"`
	Value json.RawMessage `json:"value"`
}

func checkData(p *problems, data []byte, ev *Event) {
	if len(data) == 0 || isNull(data) {
		p.add("data", "required: an object with audience and notification")
		return
	}
	d, err := decodeObject[wireData](p, data)
	if err != nil {
		p.add("data", "must be an object with audience and notification: %s", jsonProblem(err))
		return
	}
	checkAudience(p, d.Audience, ev)
	checkNotification(p, d.Notification, &ev.Notification)
	if at := ev.Notification.DeliverAt; at != nil && !ev.ReceivedAt.IsZero() && at.Sub(ev.ReceivedAt) > MaxSchedule {
		p.add("data.notification.deliverAt", "is more than %d days ahead; schedule it closer, got %s", int(MaxSchedule.Hours()/24), at.Format(time.RFC3339))
	}
}

// wireAudience is the shape of data.audience.
type wireAudience struct {
	Users   json.RawMessage `json:"users"`
	Topics  json.RawMessage `json:"topics"`
	All     json.RawMessage `json:"all"`
	Exclude json.RawMessage `json:"exclude"`
}

func checkAudience(p *problems, raw json.RawMessage, ev *Event) {
	before := len(p.list)
	if len(raw) > 0 && !isNull(raw) {
		a, err := decodeObject[wireAudience](p, raw)
		if err != nil {
			p.add("data.audience", "must be an object such as {\"users\":[\"u1\"]}, {\"topics\":[\"hr\"]} or {\"all\":true}: %s", jsonProblem(err))
			return
		}
		ev.Audience.Users = userList(p, "data.audience.users", a.Users)
		ev.Audience.Topics = topicList(p, "data.audience.topics", a.Topics)
		if len(a.All) > 0 && !isNull(a.All) {
			all, err := decodeBool(p, a.All)
			ev.Audience.All = all
			if err != nil {
				p.add("data.audience.all", "must be true or false, got %s", jsonKind(a.All))
			}
		}
		if len(a.Exclude) > 0 && !isNull(a.Exclude) {
			if x, err := decodeObject[wireExclusion](p, a.Exclude); err != nil {
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

// wireExclusion is the shape of data.audience.exclude.
type wireExclusion struct {
	Users  json.RawMessage `json:"users"`
	Topics json.RawMessage `json:"topics"`
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
	var buf [8]json.RawMessage
	items, err := decodeArray(p, raw, buf[:0])
	if err != nil {
		p.add(field, "must be an array of %s, got %s", what, jsonKind(raw))
		return nil
	}
	if len(items) > max {
		p.add(field, "has %d %s; at most %d are allowed%s", len(items), plural, max, hint)
		return nil
	}
	var out []string
	var seen map[string]bool // for long lists; short ones are searched
	for i, it := range items {
		s, ok := "", false
		if !isNull(it) {
			s, ok = decodeString(p, it)
		}
		if !ok {
			p.add(fmt.Sprintf("%s[%d]", field, i), "must be a string, got %s", jsonKind(it))
			continue
		}
		if msg := check(s); msg != "" {
			p.add(fmt.Sprintf("%s[%d]", field, i), "%s", msg)
			continue
		}
		if len(items) <= 16 {
			if slices.Contains(out, s) {
				continue
			}
		} else {
			if seen == nil {
				seen = make(map[string]bool, len(items))
			}
			if seen[s] {
				continue
			}
			seen[s] = true
		}
		out = append(out, s)
	}
	return out
}

// CheckTopic returns what is wrong with a topic name, or "" if it is valid:
// 1-64 lower-case letters, digits, '.', '_' or '-', starting with a letter
// or digit.
func CheckTopic(name string) string {
	if len(name) > maxCategoryLen || !isCategory(name) {
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
	w, err := decodeObject[wireNotification](p, raw)
	if err != nil {
		p.add("data.notification", "must be an object: %s", jsonProblem(err))
		return
	}
	n.Title = textField(p, "data.notification.title", w.Title, MaxTitleLen, false)
	n.Message = textField(p, "data.notification.message", w.Message, MaxMessageLen, true)
	n.Category = textField(p, "data.notification.category", w.Category, maxCategoryLen, false)
	if n.Category != "" && !isCategory(n.Category) {
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
	var buf [MaxActions + 1]json.RawMessage
	list, err := decodeArray(p, raw, buf[:0])
	if err != nil {
		p.add("data.notification.actions", "must be an array of actions, got %s", jsonKind(raw))
		return
	}
	if len(list) > MaxActions {
		p.add("data.notification.actions", "has %d actions; at most %d are allowed", len(list), MaxActions)
		return
	}
	for i, r := range list {
		field := actionFields[i] // i < MaxActions, checked above
		w, err := decodeObject[wireAction](p, r)
		if err != nil {
			p.add(field.action, "must be an object with id and title: %s", jsonProblem(err))
			continue
		}
		a := Action{
			ID:    textField(p, field.id, w.ID, 64, true),
			Title: textField(p, field.title, w.Title, 64, true),
			URL:   textField(p, field.url, w.URL, 2048, false),
		}
		if a.URL != "" {
			u, err := url.Parse(a.URL)
			if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
				p.add(field.url, "must be an absolute http or https URL, got %q", a.URL)
			}
		}
		if len(w.Value) > 0 && !isNull(w.Value) {
			a.Value = compactJSON(w.Value)
		}
		n.Actions = append(n.Actions, a)
	}
}

// actionFields names each action and its members in messages, built once
// rather than for every action read.
var actionFields = func() (f [MaxActions]struct{ action, id, title, url string }) {
	for i := range f {
		f[i].action = fmt.Sprintf("data.notification.actions[%d]", i)
		f[i].id, f[i].title, f[i].url = f[i].action+".id", f[i].action+".title", f[i].action+".url"
	}
	return f
}()

// textField reads an optional or required string of at most max characters.
func textField(p *problems, field string, raw json.RawMessage, max int, required bool) string {
	if len(raw) == 0 || isNull(raw) {
		if required {
			p.add(field, "required")
		}
		return ""
	}
	s, ok := decodeString(p, raw)
	if !ok {
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
