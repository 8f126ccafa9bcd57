package push

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/herald/herald/internal/event"
)

// Text is what a device shows: a title and a message.
type Text struct {
	Title   string `json:"title,omitempty"`
	Message string `json:"message"`
}

// TranslationsKey is the key of notification.data that carries
// translations: an object from locale ("fr", "fr-CA") to {title, message}.
// For example:
//
//	"data": {"translations": {"fr": {"title": "Formation", "message": "Votre formation est due"}}}
//
// A device gets the translation of its exact locale, else of its language
// ("fr" for "fr-CA"), else the notification's own title and message. A
// translation without a title keeps the notification's title. The
// translations themselves are not sent to devices.
const TranslationsKey = "translations"

// Localize returns the text of n for a device with locale.
func Localize(n event.Notification, locale string) Text {
	t := Text{Title: n.Title, Message: n.Message}
	if locale == "" || len(n.Data) == 0 {
		return t
	}
	// The key is matched exactly, as DeviceData removes it: a struct field
	// would also take "Translations" and leave it in the device data.
	var d map[string]json.RawMessage
	var translations map[string]Text
	if json.Unmarshal(n.Data, &d) != nil || json.Unmarshal(d[TranslationsKey], &translations) != nil || len(translations) == 0 {
		return t
	}
	find := func(loc string) (Text, bool) {
		for k, v := range translations {
			if strings.EqualFold(strings.ReplaceAll(k, "_", "-"), loc) {
				return v, true
			}
		}
		return Text{}, false
	}
	loc := strings.ReplaceAll(locale, "_", "-")
	tr, ok := find(loc)
	if !ok {
		if lang, _, cut := strings.Cut(loc, "-"); cut {
			tr, ok = find(lang)
		}
	}
	if !ok || tr.Message == "" && tr.Title == "" {
		return t
	}
	if tr.Title != "" {
		t.Title = tr.Title
	}
	if tr.Message != "" {
		t.Message = tr.Message
	}
	return t
}

// DeviceData is n's free data as sent to devices: without the
// translations, and nil when nothing is left.
func DeviceData(n event.Notification) json.RawMessage {
	if len(n.Data) == 0 {
		return nil
	}
	var m map[string]json.RawMessage
	if json.Unmarshal(n.Data, &m) != nil {
		return n.Data // not an object: send as is
	}
	if _, ok := m[TranslationsKey]; !ok {
		return n.Data
	}
	delete(m, TranslationsKey)
	if len(m) == 0 {
		return nil
	}
	b, err := json.Marshal(m)
	if err != nil {
		return nil
	}
	return b
}

// ErrTooLarge is returned (wrapped) when a payload cannot be made to fit
// its provider's limit even with empty text and no free data.
var ErrTooLarge = errors.New("payload too large for the provider")

// Ellipsis ends a truncated text.
const Ellipsis = "…"

// Fit builds a payload within limit bytes. build renders the payload of a
// text; lean asks it to leave out optional parts (free data, actions).
// When the full payload is too large, Fit shortens the message, then the
// title, cutting on a rune boundary and ending with an ellipsis, and only
// when even empty text does not fit does it try again lean. The payload is
// always what build made, so it is valid JSON whenever build's is.
func Fit(limit int, t Text, build func(t Text, lean bool) ([]byte, error)) ([]byte, error) {
	for _, lean := range []bool{false, true} {
		b, err := build(t, lean)
		if err != nil {
			return nil, err
		}
		if len(b) <= limit {
			return b, nil
		}
		// Shorten the message, keeping the title.
		short := t
		if b, ok, err := shrink(limit, t.Message, func(m string) ([]byte, error) {
			short.Message = m
			return build(short, lean)
		}); err != nil || ok {
			return b, err
		}
		// The message alone cannot make room: shorten the title too.
		short = Text{Message: ""}
		if b, ok, err := shrink(limit, t.Title, func(s string) ([]byte, error) {
			short.Title = s
			return build(short, lean)
		}); err != nil || ok {
			return b, err
		}
	}
	return nil, fmt.Errorf("%w: %d bytes allowed", ErrTooLarge, limit)
}

// shrink finds the longest prefix of s (on a rune boundary, plus an
// ellipsis) whose payload fits limit, by binary search: a payload grows
// with the prefix. It reports false if even the empty string does not fit.
func shrink(limit int, s string, build func(string) ([]byte, error)) ([]byte, bool, error) {
	cuts := make([]int, 0, len(s)/2+1) // rune start offsets, then len(s)
	for i := range s {
		cuts = append(cuts, i)
	}
	cuts = append(cuts, len(s))
	render := func(k int) ([]byte, error) {
		if k == 0 {
			return build("")
		}
		return build(strings.TrimRightFunc(s[:cuts[k]], isSpace) + Ellipsis)
	}
	lo, hi := 0, len(cuts)-2 // cuts[len-1] is the whole string, known too big
	best, err := render(0)
	if err != nil {
		return nil, false, err
	}
	if len(best) > limit {
		return nil, false, nil
	}
	for lo < hi {
		mid := (lo + hi + 1) / 2
		b, err := render(mid)
		if err != nil {
			return nil, false, err
		}
		if len(b) <= limit {
			lo, best = mid, b
		} else {
			hi = mid - 1
		}
	}
	return best, true, nil
}

func isSpace(r rune) bool { return r == ' ' || r == '\n' || r == '\t' || r == '\r' }

// ValidUTF8 replaces invalid UTF-8 so that JSON encoding keeps meaning.
func ValidUTF8(s string) string {
	if utf8.ValidString(s) {
		return s
	}
	return strings.ToValidUTF8(s, "\uFFFD")
}
