package httpapi

import (
	"encoding/json"
	"io"
	"net/http"
	"time"

	"github.com/herald/herald/internal/auth"
	"github.com/herald/herald/internal/event"
	"github.com/herald/herald/internal/problem"
)

// sessionView is the body of POST /v1/users/{userId}/session.
type sessionView struct {
	UserID    string    `json:"userId"`
	Token     string    `json:"token"`
	ExpiresAt time.Time `json:"expiresAt"`
}

// createSession handles POST /v1/users/{userId}/session: a user session
// token, scoped to the person, for the web app's notification center (an
// intranet's backend, or an operator, mints it with an admin key). Optional
// body {"ttlSeconds": N}, at most auth.MaxSessionTTL.
func (a *API) createSession(w http.ResponseWriter, r *http.Request) {
	id, ok := userID(w, r)
	if !ok {
		return
	}
	var body struct {
		TTLSeconds int64 `json:"ttlSeconds"`
	}
	if r.ContentLength != 0 {
		if err := json.NewDecoder(io.LimitReader(r.Body, 4096)).Decode(&body); err != nil && err != io.EOF {
			problem.Write(w, problem.InvalidRequest, "The body must be a JSON object such as {\"ttlSeconds\": 3600}: "+err.Error(), nil, 0)
			return
		}
	}
	maxTTL := int64(auth.MaxSessionTTL / time.Second)
	if body.TTLSeconds < 0 || body.TTLSeconds > maxTTL {
		problem.Write(w, problem.InvalidRequest, "", []event.FieldError{{Index: -1, Field: "ttlSeconds", Problem: "must be from 1 to 86400 (0 or absent: 3600)"}}, 0)
		return
	}
	tok, exp, err := a.deps.Sessions.Issue(id, time.Duration(body.TTLSeconds)*time.Second)
	if err != nil {
		a.log.Error("issuing a session failed", "err", err)
		problem.Write(w, problem.Internal, "The session could not be issued.", nil, 0)
		return
	}
	writeJSON(w, http.StatusOK, sessionView{UserID: id, Token: tok, ExpiresAt: exp})
}

// whoami handles GET /v1/whoami: the caller's role and, for a user session,
// the person and when the session ends. The web app signs in with it.
func (a *API) whoami(w http.ResponseWriter, r *http.Request) {
	p := principalFrom(r)
	writeJSON(w, http.StatusOK, p)
}

// stats handles GET /v1/stats: this process's counters and the hub's lag,
// for the web console's live dashboard.
func (a *API) stats(w http.ResponseWriter, r *http.Request) {
	if a.deps.Metrics == nil {
		problem.Write(w, problem.NotFound, "This process keeps no metrics.", nil, 0)
		return
	}
	s, err := a.deps.Metrics.Snapshot(time.Now())
	if err != nil {
		a.log.Warn("gathering metrics", "err", err)
	}
	writeJSON(w, http.StatusOK, s)
}

// vapidKey handles GET /v1/webpush/vapid: whether Web Push is configured
// and the VAPID public key a browser subscribes with
// (PushManager.subscribe's applicationServerKey). It answers 200 either
// way, so that a page asking does not log a failed request.
func (a *API) vapidKey(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, struct {
		Configured bool   `json:"configured"`
		PublicKey  string `json:"publicKey,omitempty"`
	}{a.deps.VAPIDPublicKey != "", a.deps.VAPIDPublicKey})
}
