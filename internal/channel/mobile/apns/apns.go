// Package apns is herald's client of Apple's push notification service: the
// HTTP/2 provider API with token (ES256 JWT) authentication. It turns one
// push.Message into one request and APNs's answer into herald's outcome
// errors. It owns no retry loop and no store: the mobile channel does.
package apns

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/herald/herald/internal/channel"
	"github.com/herald/herald/internal/channel/push"
	"github.com/herald/herald/internal/event"
)

// Apple's hosts.
const (
	ProductionEndpoint = "https://api.push.apple.com"
	SandboxEndpoint    = "https://api.sandbox.push.apple.com"
)

// MaxPayload is the largest alert payload APNs accepts, in bytes.
const MaxPayload = 4096

// Token refresh: Apple rejects a token older than an hour and one renewed
// more often than every 20 minutes.
const (
	tokenRefreshAfter = 50 * time.Minute
	tokenMinAge       = 20 * time.Minute
)

// Config configures a Client.
type Config struct {
	// Endpoint serves production devices; "" means ProductionEndpoint.
	Endpoint string
	// SandboxEndpoint serves devices registered with environment
	// "sandbox"; "" means SandboxEndpoint, or Endpoint when Endpoint was
	// set (a local peer serves both).
	SandboxEndpoint string
	// Key is the .p8 signing key (PEM, PKCS#8 P-256).
	Key []byte
	// KeyID and TeamID identify the key to Apple (the JWT's kid and iss).
	KeyID, TeamID string
	// Topic is the default apns-topic (the app's bundle id) for devices
	// registered without one.
	Topic string
	// Client sends the requests; nil means push.NewHTTPClient with HTTP/2
	// only and the system trust pool.
	Client *http.Client
	// Concurrency bounds requests in flight; 0 means 256.
	Concurrency int
	// Rate bounds requests per second; 0 means no bound.
	Rate float64
	// Timeout bounds one request; 0 means 30s.
	Timeout time.Duration
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Client sends notifications to APNs. It is safe for concurrent use.
type Client struct {
	cfg    Config
	key    *ecdsa.PrivateKey
	http   *http.Client
	limit  *push.Limiter
	mu     sync.Mutex
	token  string
	issued time.Time
}

// New checks cfg and returns a client.
func New(cfg Config) (*Client, error) {
	var missing []string
	if len(cfg.Key) == 0 {
		missing = append(missing, "key file")
	}
	if cfg.KeyID == "" {
		missing = append(missing, "key id")
	}
	if cfg.TeamID == "" {
		missing = append(missing, "team id")
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("apns: %s required for token authentication", strings.Join(missing, ", "))
	}
	key, err := jwt.ParseECPrivateKeyFromPEM(cfg.Key)
	if err != nil {
		return nil, fmt.Errorf("apns: the key file is not a PEM P-256 private key (.p8): %w", err)
	}
	if cfg.Endpoint == "" {
		cfg.Endpoint = ProductionEndpoint
		if cfg.SandboxEndpoint == "" {
			cfg.SandboxEndpoint = SandboxEndpoint
		}
	}
	if cfg.SandboxEndpoint == "" {
		cfg.SandboxEndpoint = cfg.Endpoint
	}
	cfg.Endpoint = strings.TrimRight(cfg.Endpoint, "/")
	cfg.SandboxEndpoint = strings.TrimRight(cfg.SandboxEndpoint, "/")
	if cfg.Timeout <= 0 {
		cfg.Timeout = 30 * time.Second
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	c := &Client{cfg: cfg, key: key, http: cfg.Client, limit: push.NewLimiter(cfg.Concurrency, cfg.Rate)}
	if c.http == nil {
		c.http = push.NewHTTPClient(push.ClientOptions{HTTP2Only: true})
	}
	return c, nil
}

// bearer returns the provider token, signing a new one when the current
// one is older than 50 minutes, or when force is set and it is older than
// 20 minutes (after APNs answered ExpiredProviderToken).
func (c *Client) bearer(force bool) (string, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.cfg.Now()
	age := now.Sub(c.issued)
	if c.token != "" && age < tokenRefreshAfter && (!force || age < tokenMinAge) {
		return c.token, nil
	}
	t := jwt.NewWithClaims(jwt.SigningMethodES256, jwt.MapClaims{"iss": c.cfg.TeamID, "iat": now.Unix()})
	t.Header["kid"] = c.cfg.KeyID
	s, err := t.SignedString(c.key)
	if err != nil {
		return "", fmt.Errorf("apns: sign provider token: %w", err)
	}
	c.token, c.issued = s, now
	return s, nil
}

// alert is the aps.alert dictionary.
type alert struct {
	Title string `json:"title,omitempty"`
	Body  string `json:"body"`
}

type aps struct {
	Alert    alert  `json:"alert"`
	Sound    string `json:"sound,omitempty"`
	ThreadID string `json:"thread-id,omitempty"`
	Category string `json:"category,omitempty"`
	// InterruptionLevel is "time-sensitive" for high urgency and
	// "passive" for low.
	InterruptionLevel string `json:"interruption-level,omitempty"`
}

// payload is the request body: aps plus herald's own keys, which the app
// reads to act on the notification.
type payload struct {
	APS      aps             `json:"aps"`
	ID       string          `json:"heraldId"`
	EventID  string          `json:"eventId"`
	Category string          `json:"category,omitempty"`
	Actions  []event.Action  `json:"actions,omitempty"`
	Data     json.RawMessage `json:"data,omitempty"`
}

// Payload renders m's JSON body within MaxPayload bytes.
func Payload(m push.Message) ([]byte, error) {
	n := m.Event.Notification
	text := push.Localize(n, m.Device.Locale)
	data := push.DeviceData(n)
	level := ""
	switch push.Priority(n.Urgency) {
	case event.UrgencyHigh:
		level = "time-sensitive"
	case event.UrgencyLow:
		level = "passive"
	}
	return push.Fit(MaxPayload, text, func(t push.Text, lean bool) ([]byte, error) {
		p := payload{
			APS: aps{Alert: alert{Title: push.ValidUTF8(t.Title), Body: push.ValidUTF8(t.Message)}, Sound: "default",
				ThreadID: n.Category, InterruptionLevel: level},
			ID: m.ID, EventID: m.Event.ID, Category: n.Category,
		}
		if !lean {
			p.Actions, p.Data = n.Actions, data
		}
		return json.Marshal(p)
	})
}

// answer is an error body.
type answer struct {
	Reason string `json:"reason"`
	// Timestamp is when APNs learned the token was no longer valid (410):
	// documented as milliseconds since the epoch; some servers send
	// seconds.
	Timestamp json.Number `json:"timestamp"`
}

// Send delivers one message. See the package doc of push.Sender for what
// its error means.
func (c *Client) Send(ctx context.Context, m push.Message) error {
	body, err := Payload(m)
	if err != nil {
		return channel.Permanent(fmt.Errorf("apns: %w", err))
	}
	release, err := c.limit.Acquire(ctx)
	if err != nil {
		return err
	}
	defer release()
	token, err := c.bearer(false)
	if err != nil {
		return channel.Permanent(err)
	}
	base := c.cfg.Endpoint
	if m.Device.Environment == "sandbox" {
		base = c.cfg.SandboxEndpoint
	}
	ctx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+"/3/device/"+m.Device.Token, bytes.NewReader(body))
	if err != nil {
		return channel.Permanent(fmt.Errorf("apns: build request: %w", err))
	}
	n := m.Event.Notification
	h := req.Header
	h["authorization"] = []string{"bearer " + token}
	topic := m.Device.Topic
	if topic == "" {
		topic = c.cfg.Topic
	}
	if topic != "" {
		h["apns-topic"] = []string{topic}
	}
	h["apns-push-type"] = []string{"alert"}
	if push.Priority(n.Urgency) == event.UrgencyLow {
		h["apns-priority"] = []string{"5"}
	} else {
		h["apns-priority"] = []string{"10"}
	}
	if n.ExpiresAt != nil {
		h["apns-expiration"] = []string{strconv.FormatInt(n.ExpiresAt.Unix(), 10)}
	}
	// A repeat of this send (a crash between APNs's answer and herald's
	// record of it) carries the same ids: the device shows it as one
	// notification.
	h["apns-collapse-id"] = []string{push.CollapseID(m.Event.ID)}
	h["apns-id"] = []string{m.ID}
	h["content-type"] = []string{"application/json"}
	resp, err := c.http.Do(req)
	if err != nil {
		if ctx.Err() != nil && errors.Is(err, context.DeadlineExceeded) {
			return fmt.Errorf("apns: no answer within %s", c.cfg.Timeout)
		}
		return fmt.Errorf("apns: %w", err)
	}
	raw := push.Drain(resp.Body, 4096)
	if resp.StatusCode == http.StatusOK {
		return nil
	}
	var a answer
	_ = json.Unmarshal(raw, &a)
	return c.outcome(resp, a)
}

// outcome maps an APNs error answer to herald's errors (PROTOCOLS.md §4).
func (c *Client) outcome(resp *http.Response, a answer) error {
	now := c.cfg.Now()
	err := fmt.Errorf("apns: %d %s", resp.StatusCode, a.Reason)
	switch a.Reason {
	case "Unregistered", "ExpiredToken":
		reason := a.Reason
		if at, ok := parseTimestamp(a.Timestamp); ok {
			reason += " since " + at.UTC().Format(time.RFC3339)
		}
		return push.Retire(reason)
	case "BadDeviceToken":
		return push.Retire("BadDeviceToken (the token is malformed or belongs to the other APNs environment)")
	case "DeviceTokenNotForTopic":
		return push.Retire("DeviceTokenNotForTopic")
	case "ExpiredProviderToken":
		_, _ = c.bearer(true)
		return err
	case "TooManyRequests", "TooManyProviderTokenUpdates":
		if d := push.ParseRetryAfter(resp.Header.Get("Retry-After"), now); d > 0 {
			return channel.RetryAfter(d, err)
		}
		return err
	}
	switch {
	case resp.StatusCode == http.StatusGone:
		return push.Retire("Unregistered")
	case resp.StatusCode == http.StatusRequestEntityTooLarge:
		return channel.Permanent(err)
	case resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500:
		if d := push.ParseRetryAfter(resp.Header.Get("Retry-After"), now); d > 0 {
			return channel.RetryAfter(d, err)
		}
		return err
	case resp.StatusCode == http.StatusForbidden:
		return channel.Permanent(fmt.Errorf("%w (check the APNs key, key id and team id)", err))
	case resp.StatusCode >= 400:
		return channel.Permanent(err)
	}
	return err
}

// parseTimestamp reads a 410 timestamp: milliseconds since the epoch as
// documented, or seconds when the number is too small to be milliseconds.
func parseTimestamp(n json.Number) (time.Time, bool) {
	v, err := n.Int64()
	if err != nil || v <= 0 {
		return time.Time{}, false
	}
	if v < 100_000_000_000 { // before 1973 in ms: it must be seconds
		return time.Unix(v, 0), true
	}
	return time.UnixMilli(v), true
}
