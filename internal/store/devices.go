package store

import (
	"crypto/sha256"
	"encoding/hex"
	"time"
)

// Platform is the push service a device installation is reached through.
type Platform string

// The platforms herald delivers to.
const (
	// PlatformAPNs is Apple's push service; the token is the device token
	// in hex.
	PlatformAPNs Platform = "apns"
	// PlatformFCM is Firebase Cloud Messaging; the token is the FCM
	// registration token.
	PlatformFCM Platform = "fcm"
	// PlatformWebPush is a browser's push service (RFC 8030); the token is
	// the subscription's endpoint URL.
	PlatformWebPush Platform = "webpush"
)

// DeviceState says whether herald still delivers to a device.
type DeviceState string

// The states of a device.
const (
	DeviceActive  DeviceState = "active"
	DeviceRetired DeviceState = "retired"
)

// Device is one push installation of a person: a phone's APNs or FCM token,
// or a browser's Web Push subscription. A provider's terminal answer (an
// unregistered token, a subscription that is gone) retires it with the
// reason; a retired device is kept, so that the person's device list shows
// why notifications stopped, until it is deleted or registered again.
type Device struct {
	// ID is DeviceID(Platform, Token): registering the same token again
	// finds the same device, whichever user registers it.
	ID       string   `json:"id"`
	UserID   string   `json:"userId"`
	Platform Platform `json:"platform"`
	// Token is the APNs device token (hex), the FCM registration token or
	// the Web Push endpoint URL.
	Token string `json:"token"`
	// Environment is "sandbox" or "production" for APNs, "" otherwise.
	Environment string `json:"environment,omitempty"`
	// Topic is the app's bundle id (APNs) or app id; "" means the channel's
	// default.
	Topic string `json:"topic,omitempty"`
	// P256dh and Auth are a Web Push subscription's keys, base64url.
	P256dh string   `json:"p256dh,omitempty"`
	Auth   string   `json:"auth,omitempty"`
	Tags   []string `json:"tags,omitempty"`
	// Locale picks the translation of a notification, such as "fr-CA".
	Locale    string    `json:"locale,omitempty"`
	CreatedAt time.Time `json:"createdAt"`
	UpdatedAt time.Time `json:"updatedAt"`
	// RetiredAt and RetiredReason are set once a provider said the device
	// can no longer be reached.
	RetiredAt     *time.Time `json:"retiredAt,omitempty"`
	RetiredReason string     `json:"retiredReason,omitempty"`
}

// State is the device's state.
func (d Device) State() DeviceState {
	if d.RetiredAt != nil {
		return DeviceRetired
	}
	return DeviceActive
}

// DeviceID derives a device's id from its platform and token: the first 16
// bytes of their SHA-256, in hex.
func DeviceID(p Platform, token string) string {
	h := sha256.New()
	h.Write([]byte(p))
	h.Write([]byte{0})
	h.Write([]byte(token))
	var sum [sha256.Size]byte
	return hex.EncodeToString(h.Sum(sum[:0])[:16])
}

// DeviceDelivery records that one event reached one device. Push channels
// record it as each device accepts a notification and skip devices that
// already have the event, so a retried delivery never reaches a device twice.
type DeviceDelivery struct {
	EventID  string
	DeviceID string
	At       time.Time
}

// DeviceDeliveryKey names one (event, device) pair.
type DeviceDeliveryKey struct {
	EventID  string
	DeviceID string
}
