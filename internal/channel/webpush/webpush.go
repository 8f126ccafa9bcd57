// Package webpush is the "webpush" channel: browser notifications through
// each stored push subscription's push service (RFC 8030), authenticated
// with VAPID (RFC 8292) and encrypted with aes128gcm (RFC 8291, RFC 8188).
// Fan-out, exactly-once records and outcome rules are package push's.
//
// herald implements the RFCs itself (crypto/ecdh, crypto/hkdf, AES-GCM, and
// golang-jwt for the ES256 token) rather than using webpush-go, because a
// channel needs to reuse VAPID tokens per push service instead of signing
// one per message, to send one unpadded record instead of padding each to
// 4 KiB, and to check its encryption against the RFC's fixed-key example.
package webpush

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/herald/herald/internal/channel"
	"github.com/herald/herald/internal/channel/push"
	"github.com/herald/herald/internal/event"
	"github.com/herald/herald/internal/netguard"
	"github.com/herald/herald/internal/prefs"
	"github.com/herald/herald/internal/store"
)

// Name is the channel's name.
const Name = prefs.WebPush

// DefaultTTL is how long a push service keeps a message for an offline
// browser when the notification has no expiry.
const DefaultTTL = 24 * time.Hour

// Config configures the channel.
type Config struct {
	// Keys is the VAPID key pair; Subject a mailto: or https: contact.
	Keys    Keys
	Subject string
	// Store holds the subscriptions.
	Store store.Store
	// Client sends the requests; nil means push.NewHTTPClient with the
	// system trust pool.
	Client *http.Client
	// Concurrency bounds requests in flight; 0 means 256.
	Concurrency int
	// Rate bounds requests per second; 0 means no bound.
	Rate float64
	// Timeout bounds one request; 0 means 30s.
	Timeout time.Duration
	// TTL is used when a notification has no expiry; 0 means DefaultTTL.
	TTL time.Duration
	// Workers bounds sends in flight; 0 means 256.
	Workers int
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Log receives warnings; nil discards them.
	Log *slog.Logger
}

// Client sends Web Push messages. It is safe for concurrent use.
type Client struct {
	cfg   Config
	vapid *vapid
	http  *http.Client
	limit *push.Limiter
}

// NewClient checks the VAPID settings and returns a client.
func NewClient(cfg Config) (*Client, error) {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 30 * time.Second
	}
	if cfg.TTL <= 0 {
		cfg.TTL = DefaultTTL
	}
	v, err := newVAPID(cfg.Keys, cfg.Subject, cfg.Now)
	if err != nil {
		return nil, err
	}
	c := &Client{cfg: cfg, vapid: v, http: cfg.Client, limit: push.NewLimiter(cfg.Concurrency, cfg.Rate)}
	if c.http == nil {
		c.http = push.NewHTTPClient(push.ClientOptions{})
	}
	return c, nil
}

// New returns the webpush channel.
func New(cfg Config) (*push.Fanout, error) {
	c, err := NewClient(cfg)
	if err != nil {
		return nil, err
	}
	return push.New(push.Config{Name: Name, Senders: map[store.Platform]push.Sender{store.PlatformWebPush: c},
		Store: cfg.Store, Workers: cfg.Workers, Now: cfg.Now, Log: cfg.Log})
}

// Notification is the plaintext a service worker receives: JSON it can
// hand to showNotification.
type Notification struct {
	ID      string `json:"id"`
	EventID string `json:"eventId"`
	// Tag is the notification's tag for showNotification: a repeat of
	// the same notification replaces the one shown instead of adding one.
	Tag      string          `json:"tag"`
	Title    string          `json:"title,omitempty"`
	Message  string          `json:"message"`
	Category string          `json:"category,omitempty"`
	Urgency  event.Urgency   `json:"urgency,omitempty"`
	Actions  []event.Action  `json:"actions,omitempty"`
	Data     json.RawMessage `json:"data,omitempty"`
	// ExpiresAt is when the notification stops mattering.
	ExpiresAt *time.Time `json:"expiresAt,omitempty"`
}

// Payload renders m's plaintext within MaxPlaintext bytes.
func Payload(m push.Message) ([]byte, error) {
	n := m.Event.Notification
	text := push.Localize(n, m.Device.Locale)
	data := push.DeviceData(n)
	return push.Fit(MaxPlaintext, text, func(t push.Text, lean bool) ([]byte, error) {
		p := Notification{ID: m.ID, EventID: m.Event.ID, Tag: push.CollapseID(m.Event.ID), Title: push.ValidUTF8(t.Title), Message: push.ValidUTF8(t.Message),
			Category: n.Category, Urgency: n.Urgency, ExpiresAt: n.ExpiresAt}
		if !lean {
			p.Actions, p.Data = n.Actions, data
		}
		return json.Marshal(p)
	})
}

// Send delivers one message to a subscription.
func (c *Client) Send(ctx context.Context, m push.Message) error {
	plain, err := Payload(m)
	if err != nil {
		return channel.Permanent(fmt.Errorf("webpush: %w", err))
	}
	p256dh, err := DecodeBase64URL(m.Device.P256dh)
	if err != nil {
		return push.Retire("the subscription's p256dh key is not base64url")
	}
	auth, err := DecodeBase64URL(m.Device.Auth)
	if err != nil {
		return push.Retire("the subscription's auth secret is not base64url")
	}
	body, err := Encrypt(plain, p256dh, auth)
	if err != nil {
		return push.Retire(err.Error())
	}
	authz, err := c.vapid.authorization(m.Device.Token)
	if err != nil {
		return push.Retire("the subscription endpoint is not a URL")
	}
	release, err := c.limit.Acquire(ctx)
	if err != nil {
		return err
	}
	defer release()
	ctx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, m.Device.Token, bytes.NewReader(body))
	if err != nil {
		return push.Retire("the subscription endpoint is not a URL")
	}
	n := m.Event.Notification
	ttl := c.cfg.TTL
	if n.ExpiresAt != nil {
		ttl = max(n.ExpiresAt.Sub(c.cfg.Now()), 0)
	}
	h := req.Header
	h["Authorization"] = []string{authz}
	h["Content-Encoding"] = []string{"aes128gcm"}
	h["Content-Type"] = []string{"application/octet-stream"}
	h["Ttl"] = []string{strconv.FormatInt(int64(ttl/time.Second), 10)}
	h["Urgency"] = []string{urgency(n.Urgency)}
	// A message still pending at the push service with the same Topic is
	// replaced rather than delivered twice.
	h["Topic"] = []string{push.Topic(m.Event.ID)}
	resp, err := c.http.Do(req)
	if err != nil {
		if ctx.Err() != nil && errors.Is(err, context.DeadlineExceeded) {
			return fmt.Errorf("webpush: %s: no answer within %s", host(m.Device.Token), c.cfg.Timeout)
		}
		if errors.Is(err, netguard.ErrRefused) {
			// An endpoint inside herald's network: never a push service.
			return push.Retire("the subscription endpoint's address is not allowed: " + err.Error())
		}
		return fmt.Errorf("webpush: %w", err)
	}
	raw := push.Drain(resp.Body, 4096)
	if resp.StatusCode/100 == 2 {
		return nil
	}
	err = fmt.Errorf("webpush: %s answered %d: %s", host(m.Device.Token), resp.StatusCode, bytes.TrimSpace(raw))
	wait := push.ParseRetryAfter(resp.Header.Get("Retry-After"), c.cfg.Now())
	switch s := resp.StatusCode; {
	case s == http.StatusNotFound || s == http.StatusGone:
		return push.Retire(fmt.Sprintf("the push service answered %d: the subscription has expired or was unsubscribed", s))
	case s == http.StatusRequestEntityTooLarge:
		return channel.Permanent(err)
	case s == http.StatusTooManyRequests || s >= 500:
		if wait > 0 {
			return channel.RetryAfter(wait, err)
		}
		return err
	case s == http.StatusUnauthorized || s == http.StatusForbidden:
		return channel.Permanent(fmt.Errorf("%w (the push service refused herald's VAPID credentials)", err))
	case s >= 400:
		return channel.Permanent(err)
	}
	return err
}

// urgency maps herald's urgency to RFC 8030's.
func urgency(u event.Urgency) string {
	switch push.Priority(u) {
	case event.UrgencyHigh:
		return "high"
	case event.UrgencyLow:
		return "low"
	}
	return "normal"
}

func host(endpoint string) string {
	if u, err := url.Parse(endpoint); err == nil {
		return u.Host
	}
	return "the push service"
}
