package event

import (
	"bytes"
	"encoding/json"
	"net/http"
	"reflect"
	"regexp"
	"strings"
	"testing"
)

// FuzzFastMatchesExact holds the fast splitting (split.go) to encoding/json,
// the reference it replaces: the same bytes parsed both ways, as a
// structured event, as a batch, as a batch's one element and as a binary
// mode body, give equal events (every field, ReceivedAt included) or the
// same problems in the same order, and leave the input as it was.
func FuzzFastMatchesExact(f *testing.F) {
	for _, tc := range structuredInvalid {
		f.Add(tc.input(), uint8(2))
	}
	for _, tc := range structuredValid {
		f.Add(tc.input(), uint8(2))
	}
	f.Fuzz(func(t *testing.T, body []byte, max uint8) {
		original := bytes.Clone(body)
		same := func(what string, fast, exact []any) {
			t.Helper()
			if !reflect.DeepEqual(fast, exact) {
				t.Fatalf("%s of %q:\nfast  %#v\nexact %#v", what, body, fast, exact)
			}
			if !bytes.Equal(body, original) {
				t.Fatalf("%s changed its input from %q to %q", what, original, body)
			}
		}
		structured := func(exact bool) []any {
			ev, err := parseStructured(&problems{index: -1, exact: exact}, body, receivedAt)
			return []any{ev, err}
		}
		same("structured", structured(false), structured(true))

		batch := func(b []byte, exact bool) []any {
			evs, err := parseBatch(b, int(max), receivedAt, exact)
			return []any{evs, err}
		}
		same("batch", batch(body, false), batch(body, true))
		one := append(append([]byte("[\n"), body...), ']')
		same("batch element", batch(one, false), batch(one, true))

		h := http.Header{}
		for k, v := range map[string]string{"Ce-Specversion": "1.0", "Ce-Id": "b1", "Ce-Source": "/fuzz", "Ce-Type": "t", "Content-Type": MediaJSON} {
			h.Set(k, v)
		}
		binary := func(exact bool) []any {
			ev, err := parseBinary(&problems{index: -1, exact: exact}, h, body, receivedAt)
			return []any{ev, err}
		}
		same("binary", binary(false), binary(true))

		s := string(body)
		if isCategory(s) != categoryPattern.MatchString(s) {
			t.Fatalf("isCategory(%q) = %v; the pattern says %v", s, isCategory(s), !isCategory(s))
		}
		if isExtensionName(s) != (extensionPattern.MatchString(s) && len(s) <= maxExtensionLen) {
			t.Fatalf("isExtensionName(%q) = %v; the pattern says otherwise", s, isExtensionName(s))
		}
	})
}

// The patterns isCategory and isExtensionName replaced.
var (
	categoryPattern  = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]*$`)
	extensionPattern = regexp.MustCompile(`^[a-z0-9]+$`)
)

func TestCharacterClassesMatchPatterns(t *testing.T) {
	t.Parallel()
	for _, s := range []string{
		"", "a", "0", "a.b_c-d", ".a", "_a", "-a", "A", "aB", "a b", "a\n", "é", "a\xff",
		"training.due_soon-1", strings.Repeat("e", 20), strings.Repeat("e", 21), "v2", "trace-id",
	} {
		if got, want := isCategory(s), categoryPattern.MatchString(s); got != want {
			t.Errorf("isCategory(%q) = %v; want %v", s, got, want)
		}
		if got, want := isExtensionName(s), extensionPattern.MatchString(s) && len(s) <= maxExtensionLen; got != want {
			t.Errorf("isExtensionName(%q) = %v; want %v", s, got, want)
		}
	}
}

// TestMemberOf checks memberOf against the struct tags encoding/json reads:
// each member's name leads to its own field, and no other name leads
// anywhere.
func TestMemberOf(t *testing.T) {
	t.Parallel()
	for _, v := range []any{&wireData{}, &wireAudience{}, &wireExclusion{}, &wireNotification{}, &wireAction{}} {
		rv := reflect.ValueOf(v).Elem()
		for i := range rv.NumField() {
			name := rv.Type().Field(i).Tag.Get("json")
			m := memberOf(v, []byte(name))
			if m == nil {
				t.Fatalf("%T: no member %q", v, name)
			}
			*m = json.RawMessage(name)
			if got := string(rv.Field(i).Bytes()); got != name {
				t.Errorf("%T: member %q set field %s to %q", v, name, rv.Type().Field(i).Name, got)
			}
			if memberOf(v, []byte(strings.ToUpper(name))) != nil {
				t.Errorf("%T: the upper-case %q is a member; encoding/json must decide it", v, name)
			}
		}
		if memberOf(v, []byte("nope")) != nil || memberOf(v, nil) != nil {
			t.Errorf("%T: an unknown name is a member", v)
		}
	}
}

// TestIDForIsStable pins IDFor to the ids it has always given: stored
// events and idempotency records depend on them.
func TestIDForIsStable(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ source, id, want string }{
		{"/training", "evt-1", "98f295b9ba297b4dce8a469be3f2aa73"},
		{"", "", "6e340b9cffb37a989ca544e6bb780a2c"},
		{"a", "bc", "40bb547d936bbd31318ee37ac8799e7e"},
	} {
		if got := IDFor(tc.source, tc.id); got != tc.want {
			t.Errorf("IDFor(%q, %q) = %s; want %s", tc.source, tc.id, got, tc.want)
		}
	}
	long := strings.Repeat("s", 600) // past IDFor's stack buffer
	if IDFor(long, "x") == IDFor(long, "y") || len(IDFor(long, "x")) != 32 {
		t.Error("IDFor of a long source")
	}
}

func TestScannerGrammar(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in string
		ok bool
	}{
		{`{}`, true}, {` { } `, true}, {"\t{\r\n}\n", true},
		{`{"a":1}`, true}, {`{"a":-0.5e+10}`, true}, {`{"a":1E3}`, true}, {`{"a":[true,false,null,"",{}]}`, true},
		{`{"a":"\u00e9\n\"\\\/\b\f\r\t"}`, true}, {"{\"a\":\"\xff\"}", true},
		{`{"a":01}`, false}, {`{"a":1.}`, false}, {`{"a":.5}`, false}, {`{"a":-}`, false}, {`{"a":1e}`, false}, {`{"a":+1}`, false},
		{`{"a":tru}`, false}, {`{"a":nulls}`, false}, {`{"a":"\x"}`, false}, {`{"a":"\u12"}`, false}, {"{\"a\":\"\x01\"}", false},
		{`{"a":1,}`, false}, {`{"a":[1,]}`, false}, {`{"a" 1}`, false}, {`{a:1}`, false}, {`{"a":1}}`, false}, {`{"a":1} x`, false},
		{"{\"a\":1}\v", false}, {`{"a":[}`, false}, {`{"a":"`, false}, {``, false}, {`[]`, false},
		{`{"a":` + strings.Repeat("[", maxSplitDepth) + strings.Repeat("]", maxSplitDepth) + `}`, false},
		{`{"a":` + strings.Repeat("[", maxSplitDepth-1) + strings.Repeat("]", maxSplitDepth-1) + `}`, true},
	} {
		got := eachMember([]byte(tc.in), func(name, value []byte) bool { return true })
		if got != tc.ok {
			t.Errorf("eachMember(%q) = %v; want %v", tc.in, got, tc.ok)
		}
		if got && !json.Valid([]byte(tc.in)) {
			t.Errorf("eachMember accepted %q, which encoding/json refuses", tc.in)
		}
	}
}
