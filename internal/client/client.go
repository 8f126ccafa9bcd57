// Package client is a small Go client for herald's /v1 API, used by the
// command line, the load generator and tests. It reports API errors as
// *APIError carrying the problem document.
package client

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/herald/herald/internal/ingest"
	"github.com/herald/herald/internal/problem"
)

// Client talks to one herald server.
type Client struct {
	base string
	key  string
	http *http.Client
}

// New returns a client for the server at base (such as
// http://127.0.0.1:8080) using API key key.
func New(base, key string) *Client {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConnsPerHost = 256
	return &Client{base: strings.TrimRight(base, "/"), key: key, http: &http.Client{Transport: t, Timeout: 60 * time.Second}}
}

// APIError is a non-2xx answer.
type APIError struct {
	// Body is the answer as received.
	Body       []byte
	Status     int
	Problem    problem.Document
	RetryAfter time.Duration
}

func (e *APIError) Error() string {
	msg := fmt.Sprintf("server answered %d", e.Status)
	if e.Problem.Title != "" {
		msg += ": " + e.Problem.Title
	}
	if e.Problem.Detail != "" {
		msg += ": " + e.Problem.Detail
	}
	for _, f := range e.Problem.Errors {
		msg += "\n  - " + f.String()
	}
	return msg
}

// Retryable reports whether the request may succeed if sent again later.
func (e *APIError) Retryable() bool {
	return e.Status == http.StatusTooManyRequests || e.Status == http.StatusServiceUnavailable
}

// Do sends a request with the key and decodes a JSON answer into out (if not nil).
func (c *Client) Do(ctx context.Context, method, path, contentType string, body []byte, out any) error {
	var r io.Reader
	if body != nil {
		r = bytes.NewReader(body)
	}
	return c.DoStream(ctx, method, path, contentType, r, out)
}

// DoStream is Do with a streamed body, sent without a timeout.
func (c *Client) DoStream(ctx context.Context, method, path, contentType string, r io.Reader, out any) error {
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, r)
	if err != nil {
		return err
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if c.key != "" {
		req.Header.Set("Authorization", "Bearer "+c.key)
	}
	hc := c.http
	if _, buffered := r.(*bytes.Reader); r != nil && !buffered {
		hc = &http.Client{Transport: c.http.Transport}
	}
	return c.send(hc, req, out)
}

// send does req and decodes a JSON answer into out (if not nil), or
// returns an *APIError.
func (c *Client) send(hc *http.Client, req *http.Request, out any) error {
	method, path := req.Method, req.URL.Path
	resp, err := hc.Do(req)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, c.base+path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return fmt.Errorf("%s %s: read answer: %w", method, path, err)
	}
	if resp.StatusCode/100 != 2 {
		ae := &APIError{Status: resp.StatusCode, Body: data}
		_ = json.Unmarshal(data, &ae.Problem)
		if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil {
			ae.RetryAfter = time.Duration(s) * time.Second
		}
		return ae
	}
	if out != nil && len(data) > 0 {
		if err := json.Unmarshal(data, out); err != nil {
			return fmt.Errorf("%s %s: decode answer: %w", method, path, err)
		}
	}
	return nil
}

// PostEvents sends a body of the given media type to /v1/events.
func (c *Client) PostEvents(ctx context.Context, contentType string, body []byte) (ingest.Response, error) {
	var resp ingest.Response
	err := c.Do(ctx, http.MethodPost, "/v1/events", contentType, body, &resp)
	return resp, err
}

// SourceResponse is the answer of POST /v1/sources/{name}.
type SourceResponse struct {
	ingest.Response
	// Filtered is set when the source's filter left the payload out.
	Filtered bool `json:"filtered"`
}

// PostSource sends an upstream system's payload to POST
// /v1/sources/{name} as that system does: not with herald's API key but
// with the headers sign sets (a signature and timestamp, or the source's
// bearer key) just before it is sent.
func (c *Client) PostSource(ctx context.Context, name string, body []byte, sign func(http.Header) error) (SourceResponse, error) {
	var out SourceResponse
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.base+"/v1/sources/"+url.PathEscape(name), bytes.NewReader(body))
	if err != nil {
		return out, err
	}
	req.Header.Set("Content-Type", "application/json")
	if sign != nil {
		if err := sign(req.Header); err != nil {
			return out, err
		}
	}
	err = c.send(c.http, req, &out)
	return out, err
}

// UserPath builds /v1/users/{id}/suffix with the id escaped.
func UserPath(userID, suffix string) string {
	return "/v1/users/" + url.PathEscape(userID) + suffix
}
