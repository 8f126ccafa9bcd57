package event

import (
	"encoding/json"
	"reflect"
	"unicode/utf8"
)

// Splitting JSON into raw members is what made parsing expensive: each
// json.Unmarshal checks its whole input in one pass and decodes it in
// another, through reflection, copying every raw value it keeps. The
// functions here split an object or array in a single pass, handing out
// sub-slices of the input, but only in the plain case: one JSON value with
// nothing unusual in it. For anything else (an escaped or case-variant
// member name, a member given twice, a name the object does not have,
// malformed JSON, deep nesting) they say they did not handle it and the
// caller asks encoding/json, which stays the reference: it decides every
// unusual input and words every decoding error. With problems.exact set,
// encoding/json alone is used; the fuzz target FuzzFastMatchesExact holds
// the two ways to the same results.

// maxSplitDepth bounds the nesting the scanner follows; deeper input, still
// valid up to encoding/json's limit of 10,000, is left to encoding/json.
const maxSplitDepth = 100

// scanner checks JSON as encoding/json's scanner does (same grammar, same
// white space, any bytes of 0x20 and above in strings) and walks it.
type scanner struct {
	b []byte
	i int
}

func (s *scanner) space() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

// is reports whether the next byte is c.
func (s *scanner) is(c byte) bool { return s.i < len(s.b) && s.b[s.i] == c }

// value checks and skips one value at nesting depth.
func (s *scanner) value(depth int) bool {
	if s.i >= len(s.b) {
		return false
	}
	switch s.b[s.i] {
	case '"':
		_, ok := s.str()
		return ok
	case '{':
		return depth < maxSplitDepth && s.object(depth+1, nil)
	case '[':
		return depth < maxSplitDepth && s.array(depth+1, nil)
	case 't':
		return s.word("true")
	case 'f':
		return s.word("false")
	case 'n':
		return s.word("null")
	}
	return s.number()
}

func (s *scanner) word(w string) bool {
	if len(s.b)-s.i < len(w) || string(s.b[s.i:s.i+len(w)]) != w {
		return false
	}
	s.i += len(w)
	return true
}

func (s *scanner) number() bool {
	b, i := s.b, s.i
	if i < len(b) && b[i] == '-' {
		i++
	}
	switch {
	case i < len(b) && b[i] == '0':
		i++
	case i < len(b) && '1' <= b[i] && b[i] <= '9':
		i = digits(b, i+1)
	default:
		return false
	}
	if i < len(b) && b[i] == '.' {
		j := digits(b, i+1)
		if j == i+1 {
			return false
		}
		i = j
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		j := digits(b, i)
		if j == i {
			return false
		}
		i = j
	}
	s.i = i
	return true
}

func digits(b []byte, i int) int {
	for i < len(b) && '0' <= b[i] && b[i] <= '9' {
		i++
	}
	return i
}

// str checks and skips a string; plain reports that it holds neither
// escapes nor bytes outside ASCII, so that its bytes are its value.
func (s *scanner) str() (plain, ok bool) {
	b := s.b
	plain = true
	for i := s.i + 1; i < len(b); {
		if plainByte[b[i]] {
			i++
			continue
		}
		switch c := b[i]; {
		case c == '"':
			s.i = i + 1
			return plain, true
		case c == '\\':
			plain = false
			if i+1 >= len(b) {
				return false, false
			}
			switch b[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i += 2
			case 'u':
				if len(b)-i < 6 || !isHex(b[i+2]) || !isHex(b[i+3]) || !isHex(b[i+4]) || !isHex(b[i+5]) {
					return false, false
				}
				i += 6
			default:
				return false, false
			}
		case c < 0x20:
			return false, false
		default: // beyond ASCII
			plain = false
			i++
		}
	}
	return false, false
}

// plainByte holds the bytes a string holds as they are: ASCII from space
// up, but for the quote and the backslash.
var plainByte = func() (t [256]bool) {
	for c := 0x20; c < utf8.RuneSelf; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

// object checks and skips an object, handing each member to member when it
// is not nil; a member name that is not plain ends the walk. Names and
// values are capped slices of the input, so that nothing appended to one
// can write into the input.
func (s *scanner) object(depth int, member func(name, value []byte) bool) bool {
	return s.items('}', func() bool {
		name := s.i
		if !s.is('"') {
			return false
		}
		plain, ok := s.str()
		end := s.i
		s.space()
		if !ok || !s.is(':') {
			return false
		}
		s.i++
		s.space()
		v := s.i
		return s.value(depth) && (member == nil || plain && member(s.b[name+1:end-1:end-1], s.b[v:s.i:s.i]))
	})
}

// array checks and skips an array, handing each element to element when it
// is not nil.
func (s *scanner) array(depth int, element func(value []byte) bool) bool {
	return s.items(']', func() bool {
		v := s.i
		return s.value(depth) && (element == nil || element(s.b[v:s.i:s.i]))
	})
}

// items walks the comma-separated members or elements of the object or
// array opening at s.i, each read by item, up to the closing byte.
func (s *scanner) items(closing byte, item func() bool) bool {
	s.i++ // the opening byte
	s.space()
	if s.is(closing) {
		s.i++
		return true
	}
	for {
		if !item() {
			return false
		}
		s.space()
		switch {
		case s.is(','):
			s.i++
			s.space()
		case s.is(closing):
			s.i++
			return true
		default:
			return false
		}
	}
}

// end reports whether only white space is left.
func (s *scanner) end() bool {
	s.space()
	return s.i == len(s.b)
}

// eachMember calls member with the name and raw value of each member of the
// object b, in order, while it returns true; b holds the object and white
// space only.
func eachMember(b []byte, member func(name, value []byte) bool) bool {
	s := scanner{b: b}
	s.space()
	return s.is('{') && s.object(1, member) && s.end()
}

// splitArray appends the raw elements of the array b, which holds the array
// and white space only, to buf.
func splitArray(b []byte, buf []json.RawMessage) ([]json.RawMessage, bool) {
	s := scanner{b: b}
	s.space()
	ok := s.is('[') && s.array(1, func(v []byte) bool {
		buf = append(buf, v)
		return true
	}) && s.end()
	return buf, ok
}

// wireObject is a struct of raw members that an object is decoded into,
// each member checked on its own afterwards.
type wireObject interface {
	wireData | wireAudience | wireExclusion | wireNotification | wireAction
}

// decodeObject decodes the object b as strictUnmarshal does, into a T of raw
// members.
func decodeObject[T wireObject](p *problems, b []byte) (T, error) {
	var w T
	if !p.exact && eachMember(b, func(name, value []byte) bool {
		m := memberOf(any(&w), name)
		if m == nil || *m != nil { // not a member, or given twice
			return false
		}
		*m = value
		return true
	}) {
		return w, nil
	}
	var x T // not w: it may hold part of the split
	err := strictUnmarshal(b, &x)
	return x, err
}

// memberOf returns where in the wire object v the member named exactly name
// goes, or nil if v has no such member.
func memberOf(v any, name []byte) *json.RawMessage {
	switch v := v.(type) {
	case *wireData:
		return memberNamed(name, dataMembers, &v.Audience, &v.Notification)
	case *wireAudience:
		return memberNamed(name, audienceMembers, &v.Users, &v.Topics, &v.All, &v.Exclude)
	case *wireExclusion:
		return memberNamed(name, exclusionMembers, &v.Users, &v.Topics)
	case *wireNotification:
		return memberNamed(name, notificationMembers, &v.Title, &v.Message, &v.Category, &v.Urgency,
			&v.Actions, &v.ExpiresAt, &v.DeliverAt, &v.Escalate, &v.Locale, &v.Data)
	case *wireAction:
		return memberNamed(name, actionMembers, &v.ID, &v.Title, &v.URL, &v.Value)
	}
	panic("event: memberOf needs a case for each wire object")
}

// The JSON names of each wire object's members, in the order of its fields,
// which memberOf lists the same way.
var (
	dataMembers         = memberNames[wireData]()
	audienceMembers     = memberNames[wireAudience]()
	exclusionMembers    = memberNames[wireExclusion]()
	notificationMembers = memberNames[wireNotification]()
	actionMembers       = memberNames[wireAction]()
)

func memberNames[T wireObject]() []string {
	t := reflect.TypeFor[T]()
	names := make([]string, t.NumField())
	for i := range names {
		names[i] = t.Field(i).Tag.Get("json")
	}
	return names
}

func memberNamed(name []byte, names []string, fields ...*json.RawMessage) *json.RawMessage {
	for i, n := range names {
		if n == string(name) {
			return fields[i]
		}
	}
	return nil
}

// decodeArray decodes the array b as json.Unmarshal into a
// []json.RawMessage does, appending to buf when it can.
func decodeArray(p *problems, b []byte, buf []json.RawMessage) ([]json.RawMessage, error) {
	if !p.exact {
		if items, ok := splitArray(b, buf); ok {
			return items, nil
		}
	}
	var items []json.RawMessage
	err := json.Unmarshal(b, &items)
	return items, err
}

// decodeString decodes the raw JSON value b as json.Unmarshal into a string
// does, reporting whether it is a string.
func decodeString(p *problems, b []byte) (string, bool) {
	if !p.exact && len(b) >= 2 && b[0] == '"' && b[len(b)-1] == '"' {
		// Without escapes, quotes, control characters or invalid UTF-8,
		// the bytes between the quotes are the value.
		in := b[1 : len(b)-1]
		plain, ascii := true, true
		for _, c := range in {
			if c == '\\' || c == '"' || c < 0x20 {
				plain = false
				break
			}
			ascii = ascii && c < utf8.RuneSelf
		}
		if plain && (ascii || utf8.Valid(in)) {
			return string(in), true
		}
	}
	var s string
	err := json.Unmarshal(b, &s)
	return s, err == nil
}

// decodeBool decodes the raw JSON value b as json.Unmarshal into a bool
// does.
func decodeBool(p *problems, b []byte) (bool, error) {
	if !p.exact {
		switch string(b) {
		case "true":
			return true, nil
		case "false":
			return false, nil
		}
	}
	var v bool
	err := json.Unmarshal(b, &v)
	return v, err
}
