package httpapi

import (
	"bytes"
	"crypto/ecdh"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/herald/herald/internal/channel/webpush"
	"github.com/herald/herald/internal/event"
	"github.com/herald/herald/internal/problem"
	"github.com/herald/herald/internal/store"
)

// maxDeviceBody bounds a device registration.
const maxDeviceBody = 16 << 10

// deviceRequest is the body of POST /v1/users/{userId}/devices.
type deviceRequest struct {
	Platform     string        `json:"platform"`
	Token        string        `json:"token"`
	Environment  string        `json:"environment"`
	Topic        string        `json:"topic"`
	Subscription *subscription `json:"subscription"`
	Tags         []string      `json:"tags"`
	Locale       string        `json:"locale"`
}

// subscription is a browser's PushSubscription as toJSON() gives it.
type subscription struct {
	Endpoint string `json:"endpoint"`
	// ExpirationTime is what browsers send (usually null); herald keeps
	// the subscription until the push service says it is gone.
	ExpirationTime *float64 `json:"expirationTime"`
	Keys           struct {
		P256dh string `json:"p256dh"`
		Auth   string `json:"auth"`
	} `json:"keys"`
}

// deviceView is a device as the API shows it: a Web Push subscription's
// keys are not shown.
type deviceView struct {
	ID            string         `json:"id"`
	UserID        string         `json:"userId"`
	Platform      store.Platform `json:"platform"`
	Token         string         `json:"token,omitempty"`
	Endpoint      string         `json:"endpoint,omitempty"`
	Environment   string         `json:"environment,omitempty"`
	Topic         string         `json:"topic,omitempty"`
	Tags          []string       `json:"tags,omitempty"`
	Locale        string         `json:"locale,omitempty"`
	State         string         `json:"state"`
	RetiredAt     *time.Time     `json:"retiredAt,omitempty"`
	RetiredReason string         `json:"retiredReason,omitempty"`
	CreatedAt     time.Time      `json:"createdAt"`
	UpdatedAt     time.Time      `json:"updatedAt"`
}

func viewDevice(d store.Device) deviceView {
	v := deviceView{ID: d.ID, UserID: d.UserID, Platform: d.Platform, Token: d.Token, Environment: d.Environment, Topic: d.Topic,
		Tags: d.Tags, Locale: d.Locale, State: string(d.State()), RetiredAt: d.RetiredAt, RetiredReason: d.RetiredReason,
		CreatedAt: d.CreatedAt, UpdatedAt: d.UpdatedAt}
	if d.Platform == store.PlatformWebPush {
		v.Token, v.Endpoint = "", d.Token
	}
	return v
}

// registerDevice handles POST /v1/users/{userId}/devices.
func (a *API) registerDevice(w http.ResponseWriter, r *http.Request) {
	id, ok := userID(w, r)
	if !ok {
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxDeviceBody))
	if err != nil {
		problem.Write(w, problem.PayloadTooLarge, fmt.Sprintf("A device registration is at most %d bytes.", maxDeviceBody), nil, 0)
		return
	}
	var req deviceRequest
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		problem.Write(w, problem.InvalidRequest, "The body is not a device registration: "+err.Error(), nil, 0)
		return
	}
	d, errs := checkDevice(req)
	if len(errs) > 0 {
		problem.Write(w, problem.InvalidRequest, fmt.Sprintf("%d problem(s) found; the device was not registered.", len(errs)), errs, 0)
		return
	}
	d.UserID = id
	now := time.Now().UTC()
	d.CreatedAt, d.UpdatedAt = now, now
	stored, err := a.deps.Store.RegisterDevice(r.Context(), d)
	if err != nil {
		a.storeError(w, err)
		return
	}
	w.Header().Set("Location", "/v1/users/"+url.PathEscape(id)+"/devices/"+stored.ID)
	writeJSON(w, http.StatusCreated, viewDevice(stored))
}

// checkDevice validates a registration; every problem names its field.
func checkDevice(req deviceRequest) (store.Device, []event.FieldError) {
	var errs []event.FieldError
	bad := func(field, format string, args ...any) {
		errs = append(errs, event.FieldError{Index: -1, Field: field, Problem: fmt.Sprintf(format, args...)})
	}
	d := store.Device{Platform: store.Platform(req.Platform), Topic: req.Topic, Tags: req.Tags, Locale: req.Locale}
	switch d.Platform {
	case store.PlatformAPNs:
		tok := strings.ToLower(strings.TrimSpace(req.Token))
		switch {
		case tok == "":
			bad("token", "an APNs device token is required")
		case len(tok)%2 != 0 || len(tok) < 64 || len(tok) > 200:
			bad("token", "an APNs device token is 64 to 200 hex digits (32 or more bytes); got %d characters", len(tok))
		default:
			if _, err := hex.DecodeString(tok); err != nil {
				bad("token", "an APNs device token is hex digits only")
			}
		}
		d.Token = tok
		switch req.Environment {
		case "", "production":
			d.Environment = "production"
		case "sandbox":
			d.Environment = "sandbox"
		default:
			bad("environment", "%q is not sandbox or production", req.Environment)
		}
		if req.Subscription != nil {
			bad("subscription", "only webpush devices have a subscription")
		}
	case store.PlatformFCM:
		tok := strings.TrimSpace(req.Token)
		switch {
		case tok == "":
			bad("token", "an FCM registration token is required")
		case len(tok) > 4096 || strings.ContainsAny(tok, " \t\r\n"):
			bad("token", "an FCM registration token has no spaces and at most 4096 characters")
		}
		d.Token = tok
		if req.Environment != "" {
			bad("environment", "only APNs devices have an environment")
		}
		if req.Subscription != nil {
			bad("subscription", "only webpush devices have a subscription")
		}
	case store.PlatformWebPush:
		if req.Token != "" {
			bad("token", "a webpush device is given as subscription {endpoint, keys}, not a token")
		}
		if req.Environment != "" {
			bad("environment", "only APNs devices have an environment")
		}
		s := req.Subscription
		if s == nil {
			bad("subscription", "a webpush device needs the browser's push subscription {endpoint, keys: {p256dh, auth}}")
			break
		}
		if u, err := url.Parse(s.Endpoint); err != nil || u.Scheme != "https" || u.Host == "" {
			bad("subscription.endpoint", "must be the push service's https:// URL")
		}
		if s.Keys.P256dh == "" {
			bad("subscription.keys.p256dh", "is required")
		} else if k, err := webpush.DecodeBase64URL(s.Keys.P256dh); err != nil || len(k) != 65 {
			bad("subscription.keys.p256dh", "must be a base64url P-256 public key of 65 bytes")
		} else if _, err := ecdh.P256().NewPublicKey(k); err != nil {
			bad("subscription.keys.p256dh", "is not a point on the P-256 curve")
		}
		if s.Keys.Auth == "" {
			bad("subscription.keys.auth", "is required")
		} else if k, err := webpush.DecodeBase64URL(s.Keys.Auth); err != nil || len(k) != 16 {
			bad("subscription.keys.auth", "must be a base64url secret of 16 bytes")
		}
		d.Token, d.P256dh, d.Auth = s.Endpoint, s.Keys.P256dh, s.Keys.Auth
	case "":
		bad("platform", "is required: apns, fcm or webpush")
	default:
		bad("platform", "unknown platform %q: use apns, fcm or webpush", req.Platform)
	}
	if len(req.Topic) > 255 {
		bad("topic", "is at most 255 characters")
	}
	if len(req.Tags) > 32 {
		bad("tags", "at most 32 tags")
	}
	for i, t := range req.Tags {
		if t == "" || len(t) > 64 {
			bad(fmt.Sprintf("tags[%d]", i), "a tag has 1 to 64 characters")
		}
	}
	if len(req.Locale) > 35 || strings.ContainsAny(req.Locale, " /\\") {
		bad("locale", "must be a language tag such as fr or fr-CA")
	}
	return d, errs
}

// listDevices handles GET /v1/users/{userId}/devices.
func (a *API) listDevices(w http.ResponseWriter, r *http.Request) {
	id, ok := userID(w, r)
	if !ok {
		return
	}
	ds, err := a.deps.Store.ListDevices(r.Context(), id)
	if err != nil {
		a.storeError(w, err)
		return
	}
	out := struct {
		Devices []deviceView `json:"devices"`
	}{Devices: make([]deviceView, len(ds))}
	for i, d := range ds {
		out.Devices[i] = viewDevice(d)
	}
	writeJSON(w, http.StatusOK, out)
}

// deleteDevice handles DELETE /v1/users/{userId}/devices/{deviceId}.
func (a *API) deleteDevice(w http.ResponseWriter, r *http.Request) {
	id, ok := userID(w, r)
	if !ok {
		return
	}
	if err := a.deps.Store.DeleteDevice(r.Context(), id, r.PathValue("deviceId")); err != nil {
		a.storeError(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
