package auth

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"time"

	"github.com/herald/herald/internal/store"
)

// RoleUser is the role of a user session: a credential scoped to one person,
// which reaches only that person's routes (inbox, stream, preferences,
// devices, conversations, Direct Line token). It is not a key role: API keys
// cannot have it.
const RoleUser store.Role = "user"

// sessionPrefix starts every user session token.
const sessionPrefix = "hus_"

// Session lifetimes.
const (
	// DefaultSessionTTL is how long a session lasts when the caller does
	// not say.
	DefaultSessionTTL = time.Hour
	// MaxSessionTTL is the longest session that can be issued.
	MaxSessionTTL = 24 * time.Hour
)

// ErrInvalidSession means a session token is malformed, forged or expired.
var ErrInvalidSession = errors.New("invalid or expired user session")

// IsSessionToken reports whether a presented credential is a user session
// token rather than an API key.
func IsSessionToken(s string) bool { return strings.HasPrefix(s, sessionPrefix) }

// Sessions issues and checks user session tokens. A token reads
// "hus_<payload>.<mac>": the payload is base64url JSON {"sub": user id,
// "exp": unix seconds} and the mac its HMAC-SHA256 under the secret. Tokens
// are stateless: every process holding the same secret accepts them, and
// one stops working when it expires (there is no revocation list, hence the
// short lifetimes).
type Sessions struct {
	key []byte
	now func() time.Time
}

// NewSessions returns sessions signed with secret; an empty secret means a
// random one, so tokens are accepted by this process only.
func NewSessions(secret string) (*Sessions, error) {
	key := []byte(secret)
	if len(key) == 0 {
		key = make([]byte, 32)
		if _, err := rand.Read(key); err != nil {
			return nil, err
		}
	} else if len(key) < 16 {
		return nil, errors.New("the session secret must be at least 16 bytes")
	}
	mac := hmac.New(sha256.New, []byte("herald user session"))
	mac.Write(key)
	return &Sessions{key: mac.Sum(nil), now: time.Now}, nil
}

type sessionClaims struct {
	Sub string `json:"sub"`
	Exp int64  `json:"exp"`
}

// Issue returns a token for userID valid for ttl (DefaultSessionTTL when 0,
// at most MaxSessionTTL) and when it expires.
func (s *Sessions) Issue(userID string, ttl time.Duration) (string, time.Time, error) {
	if userID == "" {
		return "", time.Time{}, errors.New("a session needs a user id")
	}
	if ttl <= 0 {
		ttl = DefaultSessionTTL
	}
	ttl = min(ttl, MaxSessionTTL)
	exp := s.now().Add(ttl).Truncate(time.Second)
	payload, err := json.Marshal(sessionClaims{Sub: userID, Exp: exp.Unix()})
	if err != nil {
		return "", time.Time{}, err
	}
	p := base64.RawURLEncoding.EncodeToString(payload)
	return sessionPrefix + p + "." + base64.RawURLEncoding.EncodeToString(s.sign(p)), exp.UTC(), nil
}

// Verify returns the user a token was issued for and when it expires, or
// ErrInvalidSession.
func (s *Sessions) Verify(token string) (string, time.Time, error) {
	rest, ok := strings.CutPrefix(token, sessionPrefix)
	if !ok {
		return "", time.Time{}, ErrInvalidSession
	}
	p, sig, ok := strings.Cut(rest, ".")
	if !ok {
		return "", time.Time{}, ErrInvalidSession
	}
	got, err := base64.RawURLEncoding.DecodeString(sig)
	if err != nil || !hmac.Equal(got, s.sign(p)) {
		return "", time.Time{}, ErrInvalidSession
	}
	payload, err := base64.RawURLEncoding.DecodeString(p)
	if err != nil {
		return "", time.Time{}, ErrInvalidSession
	}
	var c sessionClaims
	if err := json.Unmarshal(payload, &c); err != nil || c.Sub == "" {
		return "", time.Time{}, ErrInvalidSession
	}
	exp := time.Unix(c.Exp, 0)
	if !s.now().Before(exp) {
		return "", time.Time{}, ErrInvalidSession
	}
	return c.Sub, exp.UTC(), nil
}

func (s *Sessions) sign(payload string) []byte {
	mac := hmac.New(sha256.New, s.key)
	mac.Write([]byte(payload))
	return mac.Sum(nil)
}
