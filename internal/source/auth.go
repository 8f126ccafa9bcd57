package source

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Reasons an upstream request is refused with 401. They are stable and part
// of the API (docs/sources.md).
const (
	ReasonMissingSignature   = "missing signature"
	ReasonMalformedSignature = "malformed signature"
	ReasonSignatureMismatch  = "signature does not match"
	ReasonMissingTimestamp   = "missing timestamp"
	ReasonMalformedTimestamp = "malformed timestamp"
	ReasonTimestampTooOld    = "timestamp too old"
	ReasonTimestampInFuture  = "timestamp in the future"
	ReasonMissingKey         = "missing bearer key"
	ReasonKeyMismatch        = "bearer key does not match"
)

// AuthError says why an upstream request was not authenticated.
type AuthError struct {
	// Reason is one of the Reason constants.
	Reason string
	// Header is the request header at fault.
	Header string
	// Detail says what the sender should do.
	Detail string
}

func (e *AuthError) Error() string { return e.Reason + ": " + e.Detail }

// ErrNoSecret is returned by Verify and Sign on a source loaded without its
// secrets (LoadOptions.Secrets unset).
var ErrNoSecret = errors.New("source: the secret was not loaded (load definitions with LoadOptions.Secrets)")

// authenticator checks and makes an upstream system's credentials.
type authenticator interface {
	verify(h http.Header, body []byte, now time.Time) error
	sign(h http.Header, body []byte, now time.Time) error
	view() AuthView
}

// hmacAuth: the signature header holds HMAC-SHA256(secret, signed) in hex
// or base64, optionally prefixed "sha256="; signed is the body, or
// timestamp + "." + body when a timestamp header is configured.
type hmacAuth struct {
	header, tsHeader string
	tolerance        time.Duration
	ref              secretRef
	secret           []byte
}

func (a *hmacAuth) signed() string {
	if a.tsHeader == "" {
		return "the body"
	}
	return "the " + a.tsHeader + " value, '.', and the body"
}

func (a *hmacAuth) mac(ts string, body []byte) []byte {
	m := hmac.New(sha256.New, a.secret)
	if a.tsHeader != "" {
		m.Write([]byte(ts))
		m.Write([]byte{'.'})
	}
	m.Write(body)
	return m.Sum(nil)
}

func (a *hmacAuth) verify(h http.Header, body []byte, now time.Time) error {
	if a.secret == nil {
		return ErrNoSecret
	}
	raw := strings.TrimSpace(h.Get(a.header))
	if raw == "" {
		return &AuthError{ReasonMissingSignature, a.header, fmt.Sprintf("send the %s header: sha256=<hex HMAC-SHA256, with the shared secret, of %s>", a.header, a.signed())}
	}
	sig, ok := decodeSignature(raw)
	if !ok {
		return &AuthError{ReasonMalformedSignature, a.header, fmt.Sprintf("%s must be the HMAC-SHA256 (32 bytes) in hex or base64, optionally prefixed sha256=", a.header)}
	}
	var ts string
	var at time.Time
	if a.tsHeader != "" {
		ts = strings.TrimSpace(h.Get(a.tsHeader))
		if ts == "" {
			return &AuthError{ReasonMissingTimestamp, a.tsHeader, fmt.Sprintf("send the %s header: the time of signing in Unix seconds, also part of the signed text", a.tsHeader)}
		}
		var err error
		if at, err = parseTimestamp(ts); err != nil {
			return &AuthError{ReasonMalformedTimestamp, a.tsHeader, fmt.Sprintf("%s must be Unix seconds or an RFC 3339 time, got %q", a.tsHeader, clip(ts, 40))}
		}
	}
	if !hmac.Equal(sig, a.mac(ts, body)) {
		return &AuthError{ReasonSignatureMismatch, a.header, fmt.Sprintf("%s is not the HMAC-SHA256 of %s with this source's secret: check the secret and that the body is signed exactly as sent", a.header, a.signed())}
	}
	if a.tsHeader != "" {
		switch age := now.Sub(at); {
		case age > a.tolerance:
			return &AuthError{ReasonTimestampTooOld, a.tsHeader, fmt.Sprintf("the request was signed %s ago; at most %s is accepted: sign each request when it is sent, and check the sender's clock", age.Round(time.Second), a.tolerance)}
		case -age > a.tolerance:
			return &AuthError{ReasonTimestampInFuture, a.tsHeader, fmt.Sprintf("the request is dated %s ahead of herald's clock; at most %s is accepted: check the sender's clock", (-age).Round(time.Second), a.tolerance)}
		}
	}
	return nil
}

func (a *hmacAuth) sign(h http.Header, body []byte, now time.Time) error {
	if a.secret == nil {
		return ErrNoSecret
	}
	var ts string
	if a.tsHeader != "" {
		ts = strconv.FormatInt(now.Unix(), 10)
		h.Set(a.tsHeader, ts)
	}
	h.Set(a.header, "sha256="+hex.EncodeToString(a.mac(ts, body)))
	return nil
}

func (a *hmacAuth) view() AuthView {
	v := AuthView{Kind: "hmac", Header: a.header, Secret: a.ref.String(), TimestampHeader: a.tsHeader}
	if a.tsHeader != "" {
		v.Tolerance = a.tolerance.String()
	}
	return v
}

// decodeSignature reads a 32-byte MAC in hex or base64 (standard or URL
// alphabet, padded or not), optionally prefixed "sha256=".
func decodeSignature(s string) ([]byte, bool) {
	if len(s) > 7 && strings.EqualFold(s[:7], "sha256=") {
		s = s[7:]
	}
	if len(s) == 2*sha256.Size {
		if b, err := hex.DecodeString(s); err == nil {
			return b, true
		}
	}
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if b, err := enc.DecodeString(s); err == nil && len(b) == sha256.Size {
			return b, true
		}
	}
	return nil, false
}

// parseTimestamp reads Unix seconds or an RFC 3339 time.
func parseTimestamp(s string) (time.Time, error) {
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		if n < 0 || n > 1<<40 {
			return time.Time{}, errors.New("out of range")
		}
		return time.Unix(n, 0), nil
	}
	return time.Parse(time.RFC3339Nano, s)
}

// bearerAuth: "Authorization: Bearer <key>" with the shared key.
type bearerAuth struct {
	ref secretRef
	key []byte
}

func (a *bearerAuth) verify(h http.Header, _ []byte, _ time.Time) error {
	if a.key == nil {
		return ErrNoSecret
	}
	scheme, presented, ok := strings.Cut(h.Get("Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(presented) == "" {
		return &AuthError{ReasonMissingKey, "Authorization", "send 'Authorization: Bearer <key>' with this source's key"}
	}
	// Compare digests so that the time taken says nothing of the length.
	got, want := sha256.Sum256([]byte(strings.TrimSpace(presented))), sha256.Sum256(a.key)
	if subtle.ConstantTimeCompare(got[:], want[:]) != 1 {
		return &AuthError{ReasonKeyMismatch, "Authorization", "the bearer key is not this source's key"}
	}
	return nil
}

func (a *bearerAuth) sign(h http.Header, _ []byte, _ time.Time) error {
	if a.key == nil {
		return ErrNoSecret
	}
	h.Set("Authorization", "Bearer "+string(a.key))
	return nil
}

func (a *bearerAuth) view() AuthView {
	return AuthView{Kind: "bearer", Header: "Authorization", Secret: a.ref.String()}
}

// clip shortens s for an error message.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
