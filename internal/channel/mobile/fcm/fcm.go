// Package fcm is herald's client of Firebase Cloud Messaging's HTTP v1 API,
// authenticated with a service account's OAuth2 access token (cached and
// refreshed before it expires). It turns one push.Message into one
// messages:send request and FCM's answer into herald's outcome errors. It
// owns no retry loop and no store: the mobile channel does.
package fcm

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/google"

	"github.com/herald/herald/internal/channel"
	"github.com/herald/herald/internal/channel/push"
	"github.com/herald/herald/internal/event"
)

// DefaultEndpoint is Google's FCM host.
const DefaultEndpoint = "https://fcm.googleapis.com"

// Scope is the OAuth2 scope of the messaging API.
const Scope = "https://www.googleapis.com/auth/firebase.messaging"

// MaxPayload bounds a message, in bytes. FCM limits the notification and
// data to 4096 bytes; herald keeps the whole message within it.
const MaxPayload = 4096

// minQuotaWait is how long herald backs off on QUOTA_EXCEEDED without a
// Retry-After: Google asks for at least a minute.
const minQuotaWait = time.Minute

// Config configures a Client.
type Config struct {
	// Endpoint is the API's base URL; "" means DefaultEndpoint.
	Endpoint string
	// Credentials is the service account's JSON key file.
	Credentials []byte
	// TokenURL replaces the key file's token_uri; "" keeps it.
	TokenURL string
	// ProjectID replaces the key file's project_id; "" keeps it.
	ProjectID string
	// Client sends the requests, token requests included; nil means
	// push.NewHTTPClient with the system trust pool.
	Client *http.Client
	// Concurrency bounds requests in flight; 0 means 256.
	Concurrency int
	// Rate bounds requests per second; 0 means no bound (FCM's default
	// quota is 600,000 a minute per project).
	Rate float64
	// Timeout bounds one request; 0 means 30s.
	Timeout time.Duration
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Client sends notifications through FCM. It is safe for concurrent use.
type Client struct {
	cfg   Config
	url   string
	http  *http.Client
	limit *push.Limiter
	oauth func() oauth2.TokenSource
	mu    sync.Mutex
	ts    oauth2.TokenSource
}

// New reads the service account and returns a client.
func New(cfg Config) (*Client, error) {
	if len(cfg.Credentials) == 0 {
		return nil, errors.New("fcm: a service-account credentials file is required")
	}
	var meta struct {
		ProjectID string `json:"project_id"`
	}
	if err := json.Unmarshal(cfg.Credentials, &meta); err != nil {
		return nil, fmt.Errorf("fcm: the credentials file is not JSON: %w", err)
	}
	jc, err := google.JWTConfigFromJSON(cfg.Credentials, Scope)
	if err != nil {
		return nil, fmt.Errorf("fcm: the credentials file is not a service-account key: %w", err)
	}
	if cfg.TokenURL != "" {
		jc.TokenURL = cfg.TokenURL
	}
	if cfg.ProjectID == "" {
		cfg.ProjectID = meta.ProjectID
	}
	if cfg.ProjectID == "" {
		return nil, errors.New("fcm: the credentials file has no project_id; give the project id")
	}
	if cfg.Endpoint == "" {
		cfg.Endpoint = DefaultEndpoint
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 30 * time.Second
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	c := &Client{cfg: cfg, http: cfg.Client, limit: push.NewLimiter(cfg.Concurrency, cfg.Rate)}
	if c.http == nil {
		c.http = push.NewHTTPClient(push.ClientOptions{})
	}
	c.url = strings.TrimRight(cfg.Endpoint, "/") + "/v1/projects/" + cfg.ProjectID + "/messages:send"
	tokenCtx := context.WithValue(context.Background(), oauth2.HTTPClient, c.http)
	c.oauth = func() oauth2.TokenSource {
		// Each refresh asks the token endpoint (a fresh jwt source has no
		// cache), five minutes before the current token expires, so no
		// request carries a token about to lapse.
		fetch := tokenFunc(func() (*oauth2.Token, error) { return jc.TokenSource(tokenCtx).Token() })
		return oauth2.ReuseTokenSourceWithExpiry(nil, fetch, 5*time.Minute)
	}
	c.ts = c.oauth()
	return c, nil
}

// tokenFunc adapts a function to oauth2.TokenSource.
type tokenFunc func() (*oauth2.Token, error)

func (f tokenFunc) Token() (*oauth2.Token, error) { return f() }

// accessToken returns a cached token, fetching a new one when needed.
func (c *Client) accessToken() (string, error) {
	c.mu.Lock()
	ts := c.ts
	c.mu.Unlock()
	t, err := ts.Token()
	if err != nil {
		return "", fmt.Errorf("fcm: get an OAuth2 access token: %w", err)
	}
	return t.AccessToken, nil
}

// dropToken forgets the cached token after FCM refused it.
func (c *Client) dropToken() {
	c.mu.Lock()
	c.ts = c.oauth()
	c.mu.Unlock()
}

type notification struct {
	Title string `json:"title,omitempty"`
	Body  string `json:"body"`
}

// android is AndroidConfig. It sets no collapse_key on purpose: a key
// makes the message collapsible, and FCM keeps at most four collapse keys
// per device while it is offline, dropping the rest without saying which.
// notification.tag replaces a notification already shown with the same
// tag instead.
type android struct {
	Priority     string              `json:"priority,omitempty"`
	TTL          string              `json:"ttl,omitempty"`
	Notification androidNotification `json:"notification"`
}

type androidNotification struct {
	Tag string `json:"tag,omitempty"`
}

type apnsOverride struct {
	Headers map[string]string `json:"headers,omitempty"`
}

// webpushOverride is WebpushConfig: headers of RFC 8030 and Web
// Notification options (tag) for FCM's web clients.
type webpushOverride struct {
	Headers      map[string]string `json:"headers,omitempty"`
	Notification map[string]string `json:"notification,omitempty"`
}

type message struct {
	Token        string            `json:"token"`
	Notification notification      `json:"notification"`
	Data         map[string]string `json:"data,omitempty"`
	Android      *android          `json:"android,omitempty"`
	APNs         *apnsOverride     `json:"apns,omitempty"`
	Webpush      *webpushOverride  `json:"webpush,omitempty"`
}

type request struct {
	Message message `json:"message"`
}

// Payload renders m's request body within MaxPayload bytes. Data values
// are strings, as FCM requires: heraldId, eventId, category, and actions
// and data as JSON text.
func Payload(m push.Message, now time.Time) ([]byte, error) {
	n := m.Event.Notification
	text := push.Localize(n, m.Device.Locale)
	data := push.DeviceData(n)
	var actions []byte
	if len(n.Actions) > 0 {
		actions, _ = json.Marshal(n.Actions)
	}
	prio, apnsPrio, urgency := "NORMAL", "10", "normal"
	switch push.Priority(n.Urgency) {
	case event.UrgencyHigh:
		prio, urgency = "HIGH", "high"
	case event.UrgencyLow:
		apnsPrio, urgency = "5", "low"
	}
	// A repeated send of the notification replaces the one shown instead
	// of adding one: Android by tag, iOS by collapse id, browsers by tag
	// (and a message still pending at the push service by Topic).
	collapse := push.CollapseID(m.Event.ID)
	and := &android{Priority: prio, Notification: androidNotification{Tag: collapse}}
	ap := &apnsOverride{Headers: map[string]string{"apns-priority": apnsPrio, "apns-collapse-id": collapse}}
	wp := &webpushOverride{Headers: map[string]string{"Urgency": urgency, "Topic": push.Topic(m.Event.ID)},
		Notification: map[string]string{"tag": collapse}}
	if n.ExpiresAt != nil {
		ttl := max(int64(n.ExpiresAt.Sub(now)/time.Second), 0)
		and.TTL = strconv.FormatInt(ttl, 10) + "s"
		ap.Headers["apns-expiration"] = strconv.FormatInt(n.ExpiresAt.Unix(), 10)
		wp.Headers["TTL"] = strconv.FormatInt(ttl, 10)
	}
	return push.Fit(MaxPayload, text, func(t push.Text, lean bool) ([]byte, error) {
		d := map[string]string{"heraldId": m.ID, "eventId": m.Event.ID}
		if n.Category != "" {
			d["category"] = n.Category
		}
		if !lean {
			if len(actions) > 0 {
				d["actions"] = string(actions)
			}
			if len(data) > 0 {
				d["data"] = string(data)
			}
		}
		return json.Marshal(request{Message: message{
			Token:        m.Device.Token,
			Notification: notification{Title: push.ValidUTF8(t.Title), Body: push.ValidUTF8(t.Message)},
			Data:         d, Android: and, APNs: ap, Webpush: wp,
		}})
	})
}

// apiError is FCM's error body.
type apiError struct {
	Error struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
		Status  string `json:"status"`
		Details []struct {
			Type      string `json:"@type"`
			ErrorCode string `json:"errorCode"`
		} `json:"details"`
	} `json:"error"`
}

// code is the FcmError errorCode when present, else the status.
func (e apiError) code() string {
	for _, d := range e.Error.Details {
		if strings.HasSuffix(d.Type, "google.firebase.fcm.v1.FcmError") && d.ErrorCode != "" {
			return d.ErrorCode
		}
	}
	return e.Error.Status
}

// Send delivers one message. See push.Sender for what its error means.
func (c *Client) Send(ctx context.Context, m push.Message) error {
	body, err := Payload(m, c.cfg.Now())
	if err != nil {
		return channel.Permanent(fmt.Errorf("fcm: %w", err))
	}
	release, err := c.limit.Acquire(ctx)
	if err != nil {
		return err
	}
	defer release()
	token, err := c.accessToken()
	if err != nil {
		return err // retried: the token endpoint may be back soon
	}
	ctx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.url, bytes.NewReader(body))
	if err != nil {
		return channel.Permanent(fmt.Errorf("fcm: build request: %w", err))
	}
	req.Header["Authorization"] = []string{"Bearer " + token}
	req.Header["Content-Type"] = []string{"application/json; charset=utf-8"}
	resp, err := c.http.Do(req)
	if err != nil {
		if ctx.Err() != nil && errors.Is(err, context.DeadlineExceeded) {
			return fmt.Errorf("fcm: no answer within %s", c.cfg.Timeout)
		}
		return fmt.Errorf("fcm: %w", err)
	}
	raw := push.Drain(resp.Body, 16<<10)
	if resp.StatusCode == http.StatusOK {
		return nil
	}
	var e apiError
	_ = json.Unmarshal(raw, &e)
	return c.outcome(resp, e)
}

// outcome maps an FCM error answer to herald's errors (PROTOCOLS.md §5).
func (c *Client) outcome(resp *http.Response, e apiError) error {
	code := e.code()
	err := fmt.Errorf("fcm: %d %s: %s", resp.StatusCode, code, e.Error.Message)
	wait := push.ParseRetryAfter(resp.Header.Get("Retry-After"), c.cfg.Now())
	switch {
	case code == "UNREGISTERED" || resp.StatusCode == http.StatusNotFound && code == "NOT_FOUND":
		return push.Retire("UNREGISTERED")
	case code == "INVALID_ARGUMENT" && invalidToken(e.Error.Message):
		return push.Retire("INVALID_ARGUMENT: " + e.Error.Message)
	case code == "SENDER_ID_MISMATCH":
		return push.Retire("SENDER_ID_MISMATCH (the token belongs to another Firebase project)")
	case code == "QUOTA_EXCEEDED" || resp.StatusCode == http.StatusTooManyRequests:
		return channel.RetryAfter(max(wait, minQuotaWait), err)
	case code == "UNAVAILABLE" || code == "INTERNAL" || resp.StatusCode >= 500:
		if wait > 0 {
			return channel.RetryAfter(wait, err)
		}
		return err
	case resp.StatusCode == http.StatusUnauthorized && code != "THIRD_PARTY_AUTH_ERROR":
		// Our access token was refused: fetch a new one and retry.
		c.dropToken()
		return err
	case code == "THIRD_PARTY_AUTH_ERROR":
		return channel.Permanent(fmt.Errorf("%w (check the APNs or Web Push credentials uploaded to Firebase)", err))
	case resp.StatusCode == http.StatusRequestEntityTooLarge:
		return channel.Permanent(err)
	case resp.StatusCode >= 400:
		return channel.Permanent(err)
	}
	return err
}

// invalidToken reports whether an INVALID_ARGUMENT message is about the
// registration token rather than the message.
func invalidToken(msg string) bool {
	m := strings.ToLower(msg)
	return strings.Contains(m, "registration token") || strings.Contains(m, "token is not") || strings.Contains(m, "invalid token")
}
