// Package connector is a client of the Bot Framework Connector REST API,
// the channel side of a bot conversation: it sends activities into a
// conversation at a channel's serviceUrl (SendToConversation), and posts
// activities to a bot's messaging endpoint (how herald hands a
// BroadcastEvent to an external assistant), each with the bot's bearer
// token. Errors carry the HTTP status, the Bot Framework error code and
// sub-code and any Retry-After, for the caller to classify.
package connector

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"golang.org/x/oauth2"

	"github.com/herald/herald/internal/activity"
)

// Client calls the Connector API. It is safe for concurrent use.
type Client struct {
	http   *http.Client
	tokens oauth2.TokenSource
	agent  string
}

// New returns a client; tokens may be nil (anonymous mode: no token sent).
func New(hc *http.Client, tokens oauth2.TokenSource, userAgent string) *Client {
	if hc == nil {
		hc = &http.Client{Timeout: 30 * time.Second}
	}
	return &Client{http: hc, tokens: tokens, agent: userAgent}
}

// Error is a failed call's answer.
type Error struct {
	Status  int
	Code    string
	SubCode string
	Message string
	// RetryAfter is the Retry-After header's delay, 0 when absent.
	RetryAfter time.Duration
}

func (e *Error) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "connector: %d %s", e.Status, http.StatusText(e.Status))
	if e.Code != "" {
		b.WriteString(" " + e.Code)
	}
	if e.SubCode != "" {
		b.WriteString("/" + e.SubCode)
	}
	if e.Message != "" {
		b.WriteString(": " + e.Message)
	}
	return b.String()
}

// Gone reports whether the bot can no longer write into the conversation:
// 404, or 403 because the bot was removed or blocked. The reference should
// be retired.
func (e *Error) Gone() bool {
	if e.Status == http.StatusNotFound {
		return true
	}
	if e.Status != http.StatusForbidden {
		return false
	}
	for _, c := range []string{e.SubCode, e.Code} {
		switch c {
		case "MessageWritesBlocked", "BotNotInConversationRoster", "ConversationBlockedByUser", "BotDisabledByAdmin":
			return true
		}
	}
	return false
}

// Retryable reports whether trying again later may succeed: 429, 412, 5xx
// and 401 (a token the channel did not accept yet).
func (e *Error) Retryable() bool {
	switch {
	case e.Status == http.StatusTooManyRequests, e.Status == http.StatusPreconditionFailed,
		e.Status == http.StatusUnauthorized, e.Status >= 500:
		return true
	}
	return false
}

// SendToConversation posts a into the conversation at serviceURL and
// returns the id the channel gave it.
func (c *Client) SendToConversation(ctx context.Context, serviceURL, conversationID string, a activity.Activity) (string, error) {
	u := strings.TrimSuffix(serviceURL, "/") + "/v3/conversations/" + url.PathEscape(conversationID) + "/activities"
	var rr activity.ResourceResponse
	if err := c.Post(ctx, u, a, &rr); err != nil {
		return "", err
	}
	return rr.ID, nil
}

// PostToBot delivers a to a bot's messaging endpoint, as a channel does.
func (c *Client) PostToBot(ctx context.Context, endpoint string, a activity.Activity) error {
	return c.Post(ctx, endpoint, a, nil)
}

// Post sends body as JSON to u with the client's bearer token and decodes
// a 2xx answer into into (when given and the answer has a body). Any
// other answer is an *Error. It serves every Bot Framework style JSON API:
// the Connector, a bot's endpoint, a Direct Line service.
func (c *Client) Post(ctx context.Context, u string, body any, into any) error {
	data, err := json.Marshal(body)
	if err != nil {
		return fmt.Errorf("connector: encode activity: %w", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, bytes.NewReader(data))
	if err != nil {
		return fmt.Errorf("connector: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	if c.agent != "" {
		req.Header.Set("User-Agent", c.agent)
	}
	if c.tokens != nil {
		tok, err := c.tokens.Token()
		if err != nil {
			return fmt.Errorf("connector: get the bot's token: %w", err)
		}
		req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("connector: POST %s: %w", u, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode/100 == 2 {
		if into != nil && len(bytes.TrimSpace(raw)) > 0 {
			if err := json.Unmarshal(raw, into); err != nil {
				return fmt.Errorf("connector: POST %s: decode answer: %w", u, err)
			}
		}
		return nil
	}
	e := &Error{Status: resp.StatusCode, RetryAfter: retryAfter(resp.Header.Get("Retry-After"), time.Now())}
	var er activity.ErrorResponse
	if json.Unmarshal(raw, &er) == nil {
		e.Code, e.SubCode, e.Message = er.Error.Code, er.Error.SubCode, er.Error.Message
	}
	if e.SubCode == "" && strings.Contains(e.Message, "MessageWritesBlocked") {
		e.SubCode = "MessageWritesBlocked"
	}
	return e
}

// retryAfter reads a Retry-After header: seconds or an HTTP date.
func retryAfter(v string, now time.Time) time.Duration {
	if v == "" {
		return 0
	}
	if s, err := strconv.ParseFloat(v, 64); err == nil && s >= 0 {
		return time.Duration(s * float64(time.Second))
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}

// AsError returns err's *Error, if it has one.
func AsError(err error) (*Error, bool) {
	var e *Error
	ok := errors.As(err, &e)
	return e, ok
}
