package webpush

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// VAPID token lifetime (RFC 8292 allows at most 24 hours): tokens are valid
// for 12 hours and renewed after 11, one per push service origin.
const (
	vapidLifetime = 12 * time.Hour
	vapidRenew    = 11 * time.Hour
)

// Keys is a VAPID key pair, each part base64url without padding: the
// public key as an uncompressed P-256 point (65 bytes), the private key as
// its 32-byte scalar. Browsers take the public key as the push
// subscription's applicationServerKey.
type Keys struct {
	Public  string
	Private string
}

// GenerateKeys makes a new VAPID key pair.
func GenerateKeys() (Keys, error) {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return Keys{}, err
	}
	priv, err := k.Bytes()
	if err != nil {
		return Keys{}, err
	}
	pub, err := k.PublicKey.Bytes()
	if err != nil {
		return Keys{}, err
	}
	return Keys{Public: b64.EncodeToString(pub), Private: b64.EncodeToString(priv)}, nil
}

var b64 = base64.RawURLEncoding

// DecodeBase64URL reads base64url with or without padding (browsers and
// libraries differ), and tolerates standard base64 too.
func DecodeBase64URL(s string) ([]byte, error) {
	s = strings.TrimRight(strings.TrimSpace(s), "=")
	s = strings.NewReplacer("+", "-", "/", "_").Replace(s)
	return b64.DecodeString(s)
}

// vapid signs and caches the RFC 8292 tokens.
type vapid struct {
	key     *ecdsa.PrivateKey
	public  string // base64url, for k=
	subject string
	now     func() time.Time

	mu     sync.Mutex
	tokens map[string]vapidToken // by audience (origin)
}

type vapidToken struct {
	header string
	issued time.Time
}

func newVAPID(k Keys, subject string, now func() time.Time) (*vapid, error) {
	if k.Public == "" || k.Private == "" {
		return nil, errors.New("webpush: a VAPID public and private key are required (generate them with 'herald vapid generate')")
	}
	if !strings.HasPrefix(subject, "mailto:") && !strings.HasPrefix(subject, "https:") {
		return nil, fmt.Errorf("webpush: VAPID subject %q must be a mailto: or https: URI", subject)
	}
	priv, err := DecodeBase64URL(k.Private)
	if err != nil {
		return nil, fmt.Errorf("webpush: VAPID private key is not base64url: %w", err)
	}
	key, err := ecdsa.ParseRawPrivateKey(elliptic.P256(), priv)
	if err != nil {
		return nil, fmt.Errorf("webpush: VAPID private key is not a P-256 scalar: %w", err)
	}
	pub, err := DecodeBase64URL(k.Public)
	if err != nil {
		return nil, fmt.Errorf("webpush: VAPID public key is not base64url: %w", err)
	}
	derived, err := key.PublicKey.Bytes()
	if err != nil {
		return nil, err
	}
	if !bytes.Equal(pub, derived) {
		return nil, errors.New("webpush: the VAPID public key does not belong to the private key")
	}
	return &vapid{key: key, public: b64.EncodeToString(derived), subject: subject, now: now, tokens: map[string]vapidToken{}}, nil
}

// authorization returns the Authorization header for a push resource:
// "vapid t=<JWT>, k=<public key>" (RFC 8292 §3).
func (v *vapid) authorization(endpoint string) (string, error) {
	u, err := url.Parse(endpoint)
	if err != nil {
		return "", err
	}
	aud := u.Scheme + "://" + u.Host
	now := v.now()
	v.mu.Lock()
	defer v.mu.Unlock()
	if t, ok := v.tokens[aud]; ok && now.Sub(t.issued) < vapidRenew {
		return t.header, nil
	}
	tok := jwt.NewWithClaims(jwt.SigningMethodES256, jwt.MapClaims{
		"aud": aud, "exp": now.Add(vapidLifetime).Unix(), "sub": v.subject,
	})
	s, err := tok.SignedString(v.key)
	if err != nil {
		return "", fmt.Errorf("webpush: sign VAPID token: %w", err)
	}
	h := "vapid t=" + s + ", k=" + v.public
	v.tokens[aud] = vapidToken{header: h, issued: now}
	return h, nil
}
