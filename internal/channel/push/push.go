// Package push is what the device channels (mobile, webpush) share: the
// fan-out from a person to their devices with per-device exactly-once
// records, the provider client's contract (Sender) and its outcome errors,
// localized and size-limited payload text, the deterministic per-device
// message id, Retry-After parsing and the HTTP/2 client the providers use.
//
// It must not know any provider's wire format; those live in the channel
// packages (internal/channel/mobile/apns, .../fcm, internal/channel/webpush).
package push

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/herald/herald/internal/event"
	"github.com/herald/herald/internal/store"
)

// Message is one notification for one device.
type Message struct {
	Event  event.Event
	Device store.Device
	// ID is MessageID(Event.ID, Device.ID): the same on every attempt, so a
	// provider or a test peer can recognise a retry.
	ID string
	// Attempt is the delivery attempt, 1 on the first.
	Attempt int
}

// Sender sends messages to one provider. Send returns nil when the provider
// accepted the message, a *RetireError when the provider says the device is
// gone for good, a channel.Permanent error when retrying cannot help, a
// channel.RetryAfter error when the provider asked for a delay, and any
// other error for a failure worth retrying with backoff.
type Sender interface {
	Send(ctx context.Context, m Message) error
}

// RetireError says the provider will never deliver to the device again
// (APNs Unregistered, FCM UNREGISTERED, Web Push 410): the device is
// retired with Reason.
type RetireError struct {
	Reason string
}

func (e *RetireError) Error() string { return "device retired: " + e.Reason }

// Retire returns a *RetireError with reason.
func Retire(reason string) error { return &RetireError{Reason: reason} }

// IsRetire reports whether err retires the device, and why.
func IsRetire(err error) (string, bool) {
	var r *RetireError
	if errors.As(err, &r) {
		return r.Reason, true
	}
	return "", false
}

// MessageID derives a lowercase RFC 9562 UUID (version 8, name-based on
// SHA-256) from an event and a device.
func MessageID(eventID, deviceID string) string {
	h := sha256.New()
	h.Write([]byte(eventID))
	h.Write([]byte{0})
	h.Write([]byte(deviceID))
	var sum [sha256.Size]byte
	b := h.Sum(sum[:0])[:16]
	b[6] = b[6]&0x0f | 0x80 // version 8
	b[8] = b[8]&0x3f | 0x80 // RFC 9562 variant
	var out [36]byte
	hex.Encode(out[0:8], b[0:4])
	out[8] = '-'
	hex.Encode(out[9:13], b[4:6])
	out[13] = '-'
	hex.Encode(out[14:18], b[6:8])
	out[18] = '-'
	hex.Encode(out[19:23], b[8:10])
	out[23] = '-'
	hex.Encode(out[24:], b[10:])
	return string(out[:])
}

// maxCollapseID is APNs's limit on apns-collapse-id.
const maxCollapseID = 64

// CollapseID is the identifier that makes providers and devices merge the
// sends of one notification into one: APNs's apns-collapse-id, Android's
// notification tag, the tag herald's service worker shows a Web Push
// message with. It is the event id (32 hex characters for every event
// herald ingests); an id longer than APNs's 64 bytes is replaced by the hex
// SHA-256 of it.
func CollapseID(eventID string) string {
	if len(eventID) <= maxCollapseID {
		return eventID
	}
	sum := sha256.Sum256([]byte(eventID))
	return hex.EncodeToString(sum[:])
}

// Topic is the Web Push Topic header (RFC 8030 section 5.4) of an event's
// messages: a pending message with the same Topic on the same subscription
// is replaced instead of delivered twice. A Topic is at most 32 characters
// of the URL-safe base64 alphabet, so it is the first 24 bytes of the
// SHA-256 of the event id, base64url encoded (32 characters); it tells the
// push service nothing about the event.
func Topic(eventID string) string {
	sum := sha256.Sum256([]byte(eventID))
	return base64.RawURLEncoding.EncodeToString(sum[:24])
}

// ParseRetryAfter reads a Retry-After header: delay-seconds or an HTTP
// date. It returns 0 when the header is absent or unreadable.
func ParseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if s, err := strconv.Atoi(v); err == nil {
		if s < 0 {
			return 0
		}
		return time.Duration(s) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		if d := t.Sub(now); d > 0 {
			return d
		}
	}
	return 0
}

// Priority is the urgency of a notification as providers see it.
func Priority(u event.Urgency) event.Urgency {
	switch u {
	case event.UrgencyLow, event.UrgencyHigh:
		return u
	}
	return event.UrgencyNormal
}
