// Package auth issues and checks herald's API keys. A key reads
// "hrd_<id>_<secret>"; only a SHA-256 of the secret is stored, and lookups go
// by id, so checking a key costs one hash and (at most every CacheTTL) one
// store read. It also provides the HTTP middleware that enforces roles.
package auth

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/herald/herald/internal/store"
)

// prefix starts every key, so that leaked keys are easy to recognise.
const prefix = "hrd_"

// ErrInvalidKey means the key is malformed, unknown or wrong.
var ErrInvalidKey = errors.New("invalid API key")

// Roles lists the roles a key may have.
var Roles = []store.Role{store.RoleProducer, store.RoleReader, store.RoleAdmin}

// ParseRole checks a role name.
func ParseRole(s string) (store.Role, error) {
	for _, r := range Roles {
		if string(r) == s {
			return r, nil
		}
	}
	return "", fmt.Errorf("unknown role %q: use producer, reader or admin", s)
}

// NewKey makes a key with a random id and secret. It returns the full key
// to hand to the user once and the record to store.
func NewKey(role store.Role, name string, now time.Time) (string, store.APIKey, error) {
	var id [6]byte
	var secret [24]byte
	if _, err := rand.Read(id[:]); err != nil {
		return "", store.APIKey{}, err
	}
	if _, err := rand.Read(secret[:]); err != nil {
		return "", store.APIKey{}, err
	}
	idHex, secretHex := hex.EncodeToString(id[:]), hex.EncodeToString(secret[:])
	sum := sha256.Sum256([]byte(secretHex))
	return prefix + idHex + "_" + secretHex, store.APIKey{ID: idHex, Name: name, Role: role, Hash: sum[:], CreatedAt: now.UTC()}, nil
}

// split returns a key's id and secret.
func split(key string) (id, secret string, ok bool) {
	rest, found := strings.CutPrefix(key, prefix)
	if !found {
		return "", "", false
	}
	id, secret, ok = strings.Cut(rest, "_")
	return id, secret, ok && id != "" && secret != ""
}

// Verifier checks presented keys against the store, caching records.
type Verifier struct {
	store store.Store
	ttl   time.Duration
	now   func() time.Time

	mu    sync.Mutex
	cache map[string]cached
}

type cached struct {
	key     store.APIKey
	found   bool
	fetched time.Time
}

// CacheTTL is how long a looked-up key (or its absence) is trusted; a
// deleted key stops working within this time on every process.
const CacheTTL = 10 * time.Second

// NewVerifier returns a verifier over st.
func NewVerifier(st store.Store) *Verifier {
	return &Verifier{store: st, ttl: CacheTTL, now: time.Now, cache: map[string]cached{}}
}

// Verify returns the stored key for a presented one, or ErrInvalidKey.
// Store failures are returned as they are.
func (v *Verifier) Verify(ctx context.Context, presented string) (store.APIKey, error) {
	id, secret, ok := split(presented)
	if !ok {
		return store.APIKey{}, ErrInvalidKey
	}
	now := v.now()
	v.mu.Lock()
	c, hit := v.cache[id]
	v.mu.Unlock()
	if !hit || now.Sub(c.fetched) > v.ttl {
		k, err := v.store.APIKey(ctx, id)
		switch {
		case errors.Is(err, store.ErrNotFound):
			c = cached{fetched: now}
		case err != nil:
			return store.APIKey{}, err
		default:
			c = cached{key: k, found: true, fetched: now}
		}
		v.mu.Lock()
		if len(v.cache) > 10000 {
			clear(v.cache)
		}
		v.cache[id] = c
		v.mu.Unlock()
	}
	sum := sha256.Sum256([]byte(secret))
	if !c.found || subtle.ConstantTimeCompare(sum[:], c.key.Hash) != 1 {
		return store.APIKey{}, ErrInvalidKey
	}
	return c.key, nil
}
