package event

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"time"
)

// HasBinaryHeaders reports whether an HTTP request carries a CloudEvent in
// binary mode, which the specification marks by the ce-specversion header.
func HasBinaryHeaders(h http.Header) bool {
	return h.Get("Ce-Specversion") != ""
}

// ParseBinary parses a CloudEvent in HTTP binary mode: attributes in ce-*
// headers (percent-encoded), the Content-Type as datacontenttype and the body
// as data.
func ParseBinary(h http.Header, body []byte, receivedAt time.Time) (Event, error) {
	return parseBinary(&problems{index: -1}, h, body, receivedAt)
}

func parseBinary(p *problems, h http.Header, body []byte, receivedAt time.Time) (Event, error) {
	get := func(name string, required bool) string {
		raw := h.Get("Ce-" + name)
		if raw == "" {
			if required {
				p.add("ce-"+name, "required CloudEvents header is missing")
			}
			return ""
		}
		v, err := url.PathUnescape(raw)
		if err != nil {
			p.add("ce-"+name, "bad percent-encoding: %v", err)
			return ""
		}
		return v
	}
	c := ceAttrs{
		specversion:     get("specversion", true),
		id:              get("id", true),
		source:          get("source", true),
		typ:             get("type", true),
		subject:         get("subject", false),
		time:            get("time", false),
		dataschema:      get("dataschema", false),
		datacontenttype: h.Get("Content-Type"),
	}
	for key := range h {
		name := strings.ToLower(key)
		if !strings.HasPrefix(name, "ce-") {
			continue
		}
		attr := strings.TrimPrefix(name, "ce-")
		if coreIndex(attr) >= 0 {
			continue
		}
		if !isExtensionName(attr) {
			p.add(name, "extension names must be 1-%d lower-case letters or digits", maxExtensionLen)
		}
	}
	return build(p, c, body, receivedAt)
}

// LegacySource is the CloudEvent source given to events posted in the
// original sample's bare {"userId": ..., "message": ...} form.
const LegacySource = "urn:herald:legacy"

// ParseLegacy parses the original sample's body, {"userId": "...",
// "message": "..."}, with keys in any letter case. An optional "title" and
// "id" are read too; without an id every post is a new event.
func ParseLegacy(body []byte, receivedAt time.Time) (Event, error) {
	p := &problems{index: -1}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(body, &raw); err != nil || raw == nil {
		if err == nil {
			p.add("(body)", "must be a JSON object such as {\"userId\":\"u1\",\"message\":\"hello\"}")
		} else {
			p.add("(body)", "%s", jsonProblem(err))
		}
		return Event{}, p.err()
	}
	keys := make([]string, 0, len(raw))
	for k := range raw {
		keys = append(keys, k)
	}
	sort.Strings(keys) // report problems in a stable order
	fields := map[string]json.RawMessage{}
	for _, k := range keys {
		v := raw[k]
		lk := strings.ToLower(k)
		switch lk {
		case "userid", "message", "title", "id", "category":
			if _, dup := fields[lk]; dup {
				// Keys are case-insensitive, so userId and UserID are the
				// same field; taking either would depend on map order.
				p.add(k, "given more than once (keys are case-insensitive)")
				continue
			}
			fields[lk] = v
		default:
			p.add(k, "unknown field; the bare form takes userId, message and optionally title, category and id")
		}
	}
	user := textField(p, "userId", fields["userid"], MaxUserIDLen, true)
	if user != "" {
		if msg := CheckUserID(user); msg != "" {
			p.add("userId", "%s", msg)
		}
	}
	ev := Event{Source: LegacySource, Type: "herald.notification", ReceivedAt: receivedAt}
	ev.Notification.Message = textField(p, "message", fields["message"], MaxMessageLen, true)
	ev.Notification.Title = textField(p, "title", fields["title"], MaxTitleLen, false)
	ev.Notification.Category = textField(p, "category", fields["category"], maxCategoryLen, false)
	if ev.Notification.Category != "" && !isCategory(ev.Notification.Category) {
		p.add("category", "must be lower-case letters, digits, '.', '_' or '-', got %q", ev.Notification.Category)
	}
	ev.Notification.Urgency = UrgencyNormal
	ev.SourceID = textField(p, "id", fields["id"], MaxIDLen, false)
	if err := p.err(); err != nil {
		return Event{}, err
	}
	if ev.SourceID == "" {
		var b [16]byte
		_, _ = rand.Read(b[:])
		ev.SourceID = hex.EncodeToString(b[:])
	}
	ev.Audience.Users = []string{user}
	ev.ID = IDFor(ev.Source, ev.SourceID)
	return ev, nil
}
