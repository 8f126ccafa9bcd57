// Package connectortest is a local Bot Connector service for tests. It
// behaves as the documented service does for SendToConversation: it checks
// the bearer token, answers 200 with {id} and keeps every activity per
// conversation, and can be told to answer a conversation's next requests
// with 429 and Retry-After, 403 MessageWritesBlocked, 404 or 5xx. It can
// also enforce a per-conversation rate, answering 429 beyond it, as Teams
// does.
//
// Unlike the push providers, the Connector takes no idempotency key and no
// collapse identifier: every activity accepted is a new message in the
// conversation (its id is the channel's), so what a person is shown is
// exactly what Received lists, repeats included. The peer also measures how
// many sends were in flight at once (MaxInFlight), the quantity a crash's
// repeats are bounded by.
package connectortest

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/herald/herald/internal/activity"
)

// Reply is a scripted answer.
type Reply struct {
	Status     int
	Code       string
	SubCode    string
	RetryAfter string
}

// Common scripted answers.
var (
	TooManyRequests = Reply{Status: http.StatusTooManyRequests, Code: "TooManyRequests", RetryAfter: "1"}
	WritesBlocked   = Reply{Status: http.StatusForbidden, Code: "Forbidden", SubCode: "MessageWritesBlocked"}
	NotFound        = Reply{Status: http.StatusNotFound, Code: "ConversationNotFound"}
	Unavailable     = Reply{Status: http.StatusServiceUnavailable, Code: "ServiceUnavailable"}
	BadGateway      = Reply{Status: http.StatusBadGateway, Code: "BadGateway"}
)

// Received is an activity the peer accepted.
type Received struct {
	Conversation string
	Activity     activity.Activity
	Token        string
	At           time.Time
}

// Connector is the peer.
type Connector struct {
	Server *httptest.Server
	// Token, when set, is the bearer token every request must carry.
	Token string
	// PerConversationPerSecond, when > 0, answers 429 to a conversation's
	// sends beyond that many in any second.
	PerConversationPerSecond int

	mu          sync.Mutex
	received    []Received
	script      map[string][]Reply
	recent      map[string][]time.Time
	requests    int
	rejected    int
	inFlight    int
	maxInFlight int
}

// New starts a peer on a loopback address, stopped when the test ends.
func New(t testing.TB) *Connector {
	t.Helper()
	c := Start()
	t.Cleanup(c.Server.Close)
	return c
}

// Start starts a peer on a loopback address; close c.Server when done.
func Start() *Connector {
	c := &Connector{script: map[string][]Reply{}, recent: map[string][]time.Time{}}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v3/conversations/{cid}/activities", c.send)
	c.Server = httptest.NewServer(mux)
	return c
}

// Count returns how many activities were accepted, cheaply.
func (c *Connector) Count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.received)
}

// URL is the peer's serviceUrl.
func (c *Connector) URL() string { return c.Server.URL + "/" }

// Script queues answers for a conversation's next requests.
func (c *Connector) Script(conversation string, replies ...Reply) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.script[conversation] = append(c.script[conversation], replies...)
}

// Received returns the accepted activities, in order.
func (c *Connector) Received() []Received {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]Received(nil), c.received...)
}

// In returns the accepted activities of one conversation.
func (c *Connector) In(conversation string) []activity.Activity {
	var out []activity.Activity
	for _, r := range c.Received() {
		if r.Conversation == conversation {
			out = append(out, r.Activity)
		}
	}
	return out
}

// MaxInFlight is the largest number of requests the peer was handling at
// once.
func (c *Connector) MaxInFlight() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.maxInFlight
}

// Shown counts the messages each conversation shows, by key(r) (the test's
// notion of one notification, such as conversation and summary): with no
// collapse identifier in the API, a repeated send is a second message.
func (c *Connector) Shown(key func(Received) string) map[string]int {
	out := map[string]int{}
	for _, r := range c.Received() {
		out[key(r)]++
	}
	return out
}

// Stats returns the requests seen and how many were refused.
func (c *Connector) Stats() (requests, rejected int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.requests, c.rejected
}

func (c *Connector) send(w http.ResponseWriter, r *http.Request) {
	c.mu.Lock()
	c.inFlight++
	c.maxInFlight = max(c.maxInFlight, c.inFlight)
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		c.inFlight--
		c.mu.Unlock()
	}()
	cid := r.PathValue("cid")
	tok, _ := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	body, _ := io.ReadAll(r.Body)
	now := time.Now()
	c.mu.Lock()
	c.requests++
	if c.Token != "" && tok != c.Token {
		c.rejected++
		c.mu.Unlock()
		writeError(w, Reply{Status: http.StatusUnauthorized, Code: "Unauthorized"})
		return
	}
	if q := c.script[cid]; len(q) > 0 {
		rep := q[0]
		c.script[cid] = q[1:]
		c.rejected++
		c.mu.Unlock()
		writeError(w, rep)
		return
	}
	if n := c.PerConversationPerSecond; n > 0 {
		var keep []time.Time
		for _, at := range c.recent[cid] {
			if now.Sub(at) < time.Second {
				keep = append(keep, at)
			}
		}
		if len(keep) >= n {
			c.recent[cid] = keep
			c.rejected++
			c.mu.Unlock()
			writeError(w, TooManyRequests)
			return
		}
		c.recent[cid] = append(keep, now)
	}
	var a activity.Activity
	if err := json.Unmarshal(body, &a); err != nil || a.Type == "" {
		c.rejected++
		c.mu.Unlock()
		writeError(w, Reply{Status: http.StatusBadRequest, Code: "BadSyntax"})
		return
	}
	id := fmt.Sprintf("1:%d", len(c.received)+1)
	c.received = append(c.received, Received{Conversation: cid, Activity: a, Token: tok, At: now})
	c.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(activity.ResourceResponse{ID: id})
}

func writeError(w http.ResponseWriter, r Reply) {
	if r.RetryAfter != "" {
		w.Header().Set("Retry-After", r.RetryAfter)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(r.Status)
	var er activity.ErrorResponse
	er.Error.Code, er.Error.SubCode, er.Error.Message = r.Code, r.SubCode, http.StatusText(r.Status)
	_ = json.NewEncoder(w).Encode(er)
}
