package bfauth

import (
	"context"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// The Bot Framework's public metadata and issuers.
const (
	// BotFrameworkMetadataURL lists the keys channels sign tokens with.
	BotFrameworkMetadataURL = "https://login.botframework.com/v1/.well-known/openidconfiguration"
	// BotFrameworkIssuer is the issuer of channel tokens.
	BotFrameworkIssuer = "https://api.botframework.com"
	// EmulatorMetadataURL lists the keys of Emulator (Entra) tokens.
	EmulatorMetadataURL = "https://login.microsoftonline.com/botframework.com/v2.0/.well-known/openid-configuration"
)

// EmulatorIssuers are the issuers of tokens the Bot Framework Emulator sends.
var EmulatorIssuers = []string{
	"https://sts.windows.net/d6d49420-f39b-4df7-a1dc-d59a935871db/",
	"https://login.microsoftonline.com/d6d49420-f39b-4df7-a1dc-d59a935871db/v2.0",
	"https://sts.windows.net/f8cdef31-a31e-4b4a-93e4-5f571e91255a/",
	"https://login.microsoftonline.com/f8cdef31-a31e-4b4a-93e4-5f571e91255a/v2.0",
}

// ErrUnauthorized means the request carries no valid token: answer 401.
var ErrUnauthorized = errors.New("unauthorized")

// ErrForbidden means the token is valid but not for this activity (its
// channel is not endorsed by the signing key): answer 403.
var ErrForbidden = errors.New("forbidden")

// Config configures a Validator.
type Config struct {
	// AppID is the bot's Microsoft app id, the tokens' audience. Empty
	// means anonymous mode: only requests with no Authorization header are
	// accepted, as the Bot Framework SDKs do for local development.
	AppID string
	// MetadataURLs are the OpenID configuration documents whose keys sign
	// tokens; nil means the Bot Framework's and the Emulator's.
	MetadataURLs []string
	// Issuers are the accepted issuers; nil means the Bot Framework's and
	// the Emulator's.
	Issuers []string
	// Skew is the clock skew allowed on nbf and exp; 0 means 5 minutes.
	Skew time.Duration
	// KeyTTL is how long fetched keys are trusted; 0 means 24 hours.
	KeyTTL time.Duration
	// Client fetches metadata and keys; nil means a client with a 10 s timeout.
	Client *http.Client
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Log receives key refreshes and failures; nil discards them.
	Log *slog.Logger
}

// Claims are what a validated token says about its sender.
type Claims struct {
	Issuer string
	// AppID is the sender's app id, for Emulator tokens.
	AppID string
	// ServiceURL is the token's serviceurl claim, "" in Emulator tokens.
	ServiceURL string
	// Anonymous is true when no app id is configured and no token was sent.
	Anonymous bool
}

// Validator checks inbound Bot Framework tokens. It is safe for concurrent use.
type Validator struct {
	cfg Config
	log *slog.Logger

	mu       sync.Mutex
	keys     map[string]signingKey
	fetched  time.Time
	lastMiss time.Time
}

// signingKey is one key of a JWKS with its endorsements.
type signingKey struct {
	pub          *rsa.PublicKey
	endorsements []string
}

// NewValidator returns a Validator; keys are fetched on first use.
func NewValidator(cfg Config) *Validator {
	if cfg.MetadataURLs == nil {
		cfg.MetadataURLs = []string{BotFrameworkMetadataURL, EmulatorMetadataURL}
	}
	if cfg.Issuers == nil {
		cfg.Issuers = append([]string{BotFrameworkIssuer}, EmulatorIssuers...)
	}
	if cfg.Skew <= 0 {
		cfg.Skew = 5 * time.Minute
	}
	if cfg.KeyTTL <= 0 {
		cfg.KeyTTL = 24 * time.Hour
	}
	if cfg.Client == nil {
		cfg.Client = &http.Client{Timeout: 10 * time.Second}
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	log := cfg.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Validator{cfg: cfg, log: log.With("component", "bfauth")}
}

// Anonymous reports whether no app id is configured.
func (v *Validator) Anonymous() bool { return v.cfg.AppID == "" }

// Validate checks the Authorization header sent with an activity from
// channelID whose serviceUrl is serviceURL. Errors wrap ErrUnauthorized or
// ErrForbidden and say what was wrong.
func (v *Validator) Validate(ctx context.Context, authorization, channelID, serviceURL string) (Claims, error) {
	if v.cfg.AppID == "" {
		if authorization == "" {
			return Claims{Anonymous: true}, nil
		}
		return Claims{}, fmt.Errorf("%w: a token was sent but no bot app id is configured to check it against", ErrUnauthorized)
	}
	raw, ok := strings.CutPrefix(authorization, "Bearer ")
	if !ok || raw == "" {
		return Claims{}, fmt.Errorf("%w: missing Bearer token", ErrUnauthorized)
	}
	var used signingKey
	tok, err := jwt.Parse(raw, func(t *jwt.Token) (any, error) {
		kid, _ := t.Header["kid"].(string)
		k, err := v.key(ctx, kid)
		if err != nil {
			return nil, err
		}
		used = k
		return k.pub, nil
	},
		jwt.WithValidMethods([]string{"RS256"}),
		jwt.WithLeeway(v.cfg.Skew),
		jwt.WithTimeFunc(v.cfg.Now),
		jwt.WithAudience(v.cfg.AppID),
		jwt.WithExpirationRequired(),
	)
	if err != nil {
		return Claims{}, fmt.Errorf("%w: %v", ErrUnauthorized, err)
	}
	mc, _ := tok.Claims.(jwt.MapClaims)
	c := Claims{}
	c.Issuer, _ = mc["iss"].(string)
	if !slices.Contains(v.cfg.Issuers, c.Issuer) {
		return Claims{}, fmt.Errorf("%w: issuer %q is not accepted", ErrUnauthorized, c.Issuer)
	}
	c.ServiceURL, _ = mc["serviceurl"].(string)
	if appid, ok := mc["appid"].(string); ok {
		c.AppID = appid
	} else if azp, ok := mc["azp"].(string); ok {
		c.AppID = azp
	}
	if c.Issuer == BotFrameworkIssuer {
		if c.ServiceURL == "" {
			return Claims{}, fmt.Errorf("%w: the token has no serviceurl claim", ErrUnauthorized)
		}
		if !sameServiceURL(c.ServiceURL, serviceURL) {
			return Claims{}, fmt.Errorf("%w: the token's serviceurl %q differs from the activity's serviceUrl %q",
				ErrUnauthorized, c.ServiceURL, serviceURL)
		}
	}
	if channelID != "" && !slices.Contains(used.endorsements, channelID) {
		return Claims{}, fmt.Errorf("%w: the signing key does not endorse channel %q", ErrForbidden, channelID)
	}
	return c, nil
}

// sameServiceURL compares service URLs ignoring a trailing slash.
func sameServiceURL(a, b string) bool {
	return strings.TrimSuffix(a, "/") == strings.TrimSuffix(b, "/")
}

// minRefetch bounds refetches caused by unknown key ids.
const minRefetch = time.Minute

// key returns the signing key kid, fetching the key sets when they are
// stale or the id is unknown (at most once a minute for unknown ids).
func (v *Validator) key(ctx context.Context, kid string) (signingKey, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	now := v.cfg.Now()
	stale := v.keys == nil || now.Sub(v.fetched) > v.cfg.KeyTTL
	k, ok := v.keys[kid]
	if ok && !stale {
		return k, nil
	}
	if !stale && now.Sub(v.lastMiss) < minRefetch {
		return signingKey{}, fmt.Errorf("unknown signing key %q", kid)
	}
	if !stale {
		v.lastMiss = now
	}
	keys, err := v.fetch(ctx)
	if err != nil {
		if ok { // keep using a known key while the metadata is unreachable
			v.log.Warn("refreshing signing keys failed; keeping the cached ones", "err", err)
			return k, nil
		}
		return signingKey{}, err
	}
	v.keys, v.fetched = keys, now
	v.log.Info("signing keys refreshed", "keys", len(keys))
	if k, ok := keys[kid]; ok {
		return k, nil
	}
	return signingKey{}, fmt.Errorf("unknown signing key %q", kid)
}

// fetch reads every metadata document and its key set.
func (v *Validator) fetch(ctx context.Context) (map[string]signingKey, error) {
	keys := map[string]signingKey{}
	for _, u := range v.cfg.MetadataURLs {
		var meta struct {
			JWKSURI string `json:"jwks_uri"`
		}
		if err := v.getJSON(ctx, u, &meta); err != nil {
			return nil, fmt.Errorf("openid metadata %s: %w", u, err)
		}
		if meta.JWKSURI == "" {
			return nil, fmt.Errorf("openid metadata %s has no jwks_uri", u)
		}
		var set jwks
		if err := v.getJSON(ctx, meta.JWKSURI, &set); err != nil {
			return nil, fmt.Errorf("signing keys %s: %w", meta.JWKSURI, err)
		}
		for _, k := range set.Keys {
			pub, err := k.rsa()
			if err != nil {
				v.log.Warn("skipping a signing key", "kid", k.Kid, "err", err)
				continue
			}
			keys[k.Kid] = signingKey{pub: pub, endorsements: k.Endorsements}
		}
	}
	return keys, nil
}

func (v *Validator) getJSON(ctx context.Context, url string, into any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := v.cfg.Client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("status %s", resp.Status)
	}
	return json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(into)
}

// jwks is a JSON Web Key Set as the Bot Framework publishes it, with each
// key's channel endorsements.
type jwks struct {
	Keys []jwk `json:"keys"`
}

type jwk struct {
	Kty          string   `json:"kty"`
	Kid          string   `json:"kid"`
	N            string   `json:"n"`
	E            string   `json:"e"`
	Endorsements []string `json:"endorsements"`
}

func (k jwk) rsa() (*rsa.PublicKey, error) {
	if k.Kty != "RSA" {
		return nil, fmt.Errorf("key type %q is not RSA", k.Kty)
	}
	n, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(k.N, "="))
	if err != nil {
		return nil, fmt.Errorf("modulus: %w", err)
	}
	e, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(k.E, "="))
	if err != nil {
		return nil, fmt.Errorf("exponent: %w", err)
	}
	if len(e) == 0 || len(e) > 4 {
		return nil, errors.New("exponent out of range")
	}
	var exp int
	for _, b := range e {
		exp = exp<<8 | int(b)
	}
	return &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: exp}, nil
}
