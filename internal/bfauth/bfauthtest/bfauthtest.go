// Package bfauthtest is a local stand-in for the Bot Framework's identity
// services, for tests: an OpenID metadata document and a key set with
// channel endorsements (as login.botframework.com publishes them), a signer
// of channel tokens with keys the test owns, and a client-credentials token
// endpoint that counts the tokens it issues.
package bfauthtest

import (
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math/big"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/herald/herald/internal/bfauth"
)

// Key is a signing key and the channels it endorses.
type Key struct {
	ID           string
	Private      *rsa.PrivateKey
	Endorsements []string
	// Unpublished keys sign tokens but are not in the key set.
	Unpublished bool
}

// Identity serves metadata, keys and tokens on a loopback address.
type Identity struct {
	Server *httptest.Server
	// Keys are the published keys; Keys[0] signs by default.
	Keys []*Key
	// TokenTTL is the lifetime of tokens the token endpoint issues.
	TokenTTL time.Duration
	// Issued counts tokens issued by the token endpoint.
	Issued atomic.Int64

	mu          sync.Mutex
	keyRequests int
}

// New starts an identity service with one key endorsing channels.
func New(t testing.TB, channels ...string) *Identity {
	t.Helper()
	id := &Identity{TokenTTL: time.Hour}
	id.Keys = []*Key{NewKey(t, "key-1", channels...)}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /openid", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, map[string]any{"issuer": bfauth.BotFrameworkIssuer, "jwks_uri": id.Server.URL + "/keys",
			"id_token_signing_alg_values_supported": []string{"RS256"}})
	})
	mux.HandleFunc("GET /keys", func(w http.ResponseWriter, r *http.Request) {
		id.mu.Lock()
		id.keyRequests++
		id.mu.Unlock()
		var keys []map[string]any
		for _, k := range id.Keys {
			if k.Unpublished {
				continue
			}
			keys = append(keys, map[string]any{"kty": "RSA", "use": "sig", "kid": k.ID,
				"n":            base64.RawURLEncoding.EncodeToString(k.Private.N.Bytes()),
				"e":            base64.RawURLEncoding.EncodeToString(big.NewInt(int64(k.Private.E)).Bytes()),
				"endorsements": k.Endorsements})
		}
		writeJSON(w, map[string]any{"keys": keys})
	})
	mux.HandleFunc("POST /token", func(w http.ResponseWriter, r *http.Request) {
		if err := r.ParseForm(); err != nil || r.Form.Get("grant_type") != "client_credentials" ||
			r.Form.Get("client_id") == "" || r.Form.Get("client_secret") == "" {
			w.WriteHeader(http.StatusBadRequest)
			writeJSON(w, map[string]string{"error": "invalid_request"})
			return
		}
		n := id.Issued.Add(1)
		writeJSON(w, map[string]any{"token_type": "Bearer", "expires_in": int(id.TokenTTL.Seconds()),
			"access_token": fmt.Sprintf("bot-token-%d", n)})
	})
	id.Server = httptest.NewServer(mux)
	t.Cleanup(id.Server.Close)
	return id
}

// NewKey makes a 2048-bit RSA key endorsing channels.
func NewKey(t testing.TB, kid string, channels ...string) *Key {
	t.Helper()
	pk, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatalf("rsa key: %v", err)
	}
	return &Key{ID: kid, Private: pk, Endorsements: channels}
}

// MetadataURL is the OpenID configuration document's address.
func (id *Identity) MetadataURL() string { return id.Server.URL + "/openid" }

// TokenURL is the client-credentials token endpoint's address.
func (id *Identity) TokenURL() string { return id.Server.URL + "/token" }

// KeyRequests counts fetches of the key set.
func (id *Identity) KeyRequests() int {
	id.mu.Lock()
	defer id.mu.Unlock()
	return id.keyRequests
}

// ChannelClaims are the claims of a channel token for appID from serviceURL,
// valid for an hour from now.
func ChannelClaims(appID, serviceURL string, now time.Time) jwt.MapClaims {
	return jwt.MapClaims{"iss": bfauth.BotFrameworkIssuer, "aud": appID, "serviceurl": serviceURL,
		"nbf": now.Add(-time.Minute).Unix(), "exp": now.Add(time.Hour).Unix()}
}

// Sign signs claims with key k (Keys[0] when nil) and returns the token.
func (id *Identity) Sign(t testing.TB, k *Key, claims jwt.MapClaims) string {
	t.Helper()
	if k == nil {
		k = id.Keys[0]
	}
	tok := jwt.NewWithClaims(jwt.SigningMethodRS256, claims)
	tok.Header["kid"] = k.ID
	s, err := tok.SignedString(k.Private)
	if err != nil {
		t.Fatalf("sign: %v", err)
	}
	return s
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}
