package push_test

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/herald/herald/internal/channel/mobile/apns"
	"github.com/herald/herald/internal/channel/mobile/fcm"
	"github.com/herald/herald/internal/channel/push"
	"github.com/herald/herald/internal/channel/webpush"
	"github.com/herald/herald/internal/event"
	"github.com/herald/herald/internal/store"
)

// FuzzPayloads builds the APNs, FCM and Web Push payloads of arbitrary
// notifications: each is valid JSON and UTF-8 within its provider's limit,
// or, when even empty text cannot fit, push.ErrTooLarge; the text a device
// shows is the notification's or one of its translations, never anything
// else.
func FuzzPayloads(f *testing.F) {
	f.Add("Training due", "Finish security training by Friday", "training", "fr-CA", []byte(`{"course":"SEC-101","translations":{"fr":{"title":"Formation","message":"Votre formation est due"}}}`), uint8(1))
	f.Add("", strings.Repeat("é", 3000), "", "", []byte(nil), uint8(2))
	f.Add(strings.Repeat("T", 300), strings.Repeat("long words ", 800), "benefits", "en", []byte(`{"big":"`+strings.Repeat("x", 5000)+`"}`), uint8(0))
	f.Add("\xff\xfe", "bad \xc3\x28 utf-8", "x", "FR_ca", []byte(`{"translations":{"fr_CA":{"message":"\u00e9"}}}`), uint8(3))
	f.Add("t", "m", "", "de", []byte(`[1,2,3]`), uint8(1))
	f.Add("t", "m", "", "de", []byte(`{"translations":{"de":{"title":"","message":""}}}`), uint8(1))
	f.Fuzz(func(t *testing.T, title, message, category, locale string, data []byte, urgency uint8) {
		if !json.Valid(data) || !utf8.Valid(data) {
			data = nil
		}
		n := event.Notification{Title: title, Message: message, Category: category, Data: data,
			Urgency: []event.Urgency{event.UrgencyLow, event.UrgencyNormal, event.UrgencyHigh, ""}[urgency%4],
			Actions: []event.Action{{ID: "start", Title: "Start conversation"}}}
		exp := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
		n.ExpiresAt = &exp
		m := push.Message{Event: event.Event{ID: "0812cd2294e6dfe75f6d8ff943c2dcdd", Notification: n},
			Device: store.Device{ID: "d1", Locale: locale}, ID: "m1", Attempt: 1}

		var top map[string]json.RawMessage
		_ = json.Unmarshal(data, &top)
		_, translated := top[push.TranslationsKey]
		text := push.Localize(n, locale)
		if text != (push.Text{Title: title, Message: message}) && !translated {
			t.Fatalf("Localize invented %+v without translations", text)
		}
		var sent map[string]json.RawMessage
		if dd := push.DeviceData(n); json.Unmarshal(dd, &sent) == nil {
			if _, leaked := sent[push.TranslationsKey]; leaked {
				t.Fatalf("device data still carries the translations: %s", dd)
			}
		}

		for _, b := range []struct {
			name  string
			limit int
			build func() ([]byte, error)
		}{
			{"apns", apns.MaxPayload, func() ([]byte, error) { return apns.Payload(m) }},
			{"fcm", fcm.MaxPayload, func() ([]byte, error) { return fcm.Payload(m, exp.Add(-time.Hour)) }},
			{"webpush", webpush.MaxPlaintext, func() ([]byte, error) { return webpush.Payload(m) }},
		} {
			out, err := b.build()
			if err != nil {
				if !errors.Is(err, push.ErrTooLarge) {
					t.Fatalf("%s: %v, want a payload or ErrTooLarge", b.name, err)
				}
				continue
			}
			if len(out) > b.limit {
				t.Fatalf("%s: %d bytes, over the limit of %d", b.name, len(out), b.limit)
			}
			if !json.Valid(out) || !utf8.Valid(out) {
				t.Fatalf("%s: not valid JSON in UTF-8: %q", b.name, out)
			}
		}
	})
}
