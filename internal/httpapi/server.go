// Package httpapi serves herald's HTTP API: the /v1 routes, their API-key
// middleware, health and readiness, and Prometheus metrics. Handlers are thin:
// they validate, call the store, ingest or live broker, and render JSON or a
// problem document from the one error table in package problem.
package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/herald/herald/internal/auth"
	"github.com/herald/herald/internal/handler"
	"github.com/herald/herald/internal/hub"
	"github.com/herald/herald/internal/ingest"
	"github.com/herald/herald/internal/live"
	"github.com/herald/herald/internal/metrics"
	"github.com/herald/herald/internal/problem"
	"github.com/herald/herald/internal/source"
	"github.com/herald/herald/internal/store"
)

// Deps are what the API needs.
type Deps struct {
	Store    store.Store
	Hub      hub.Hub
	Ingest   *ingest.Ingest
	Broker   *live.Broker
	Verifier *auth.Verifier
	Metrics  *metrics.Metrics
	Log      *slog.Logger
	// ChannelRates are the sends per second of rate-limited channels (the
	// conversation channel's tenant limit), for predicted finish times.
	ChannelRates map[string]float64
	// DirectLine mints Direct Line tokens for people; nil when herald's
	// Direct Line is off.
	DirectLine TokenMinter
	// Sessions issues and checks user session tokens (auth.RoleUser); nil
	// accepts none.
	Sessions *auth.Sessions
	// VAPIDPublicKey is served to browsers subscribing to Web Push; empty
	// when Web Push is not configured.
	VAPIDPublicKey string
	// Sources are the upstream adapters served at POST /v1/sources/{name};
	// nil has none.
	Sources *source.Registry
	// OpsOnly serves only /healthz, /readyz and /metrics: a process
	// without the api role.
	OpsOnly bool
	// StreamPoll, when set, makes live streams also read the inbox at this
	// interval: for api processes whose notifications are delivered by
	// handler processes elsewhere.
	StreamPoll time.Duration
}

// API is the HTTP surface.
type API struct {
	deps     Deps
	log      *slog.Logger
	mux      *http.ServeMux
	routes   []Route
	draining atomic.Bool
	// streams is closed when shutdown starts, ending every SSE stream.
	streams chan struct{}
}

// Route describes one registered /v1 route and who may call it; the list is
// public so that tests can check every route's protection.
type Route struct {
	Method  string
	Pattern string
	Roles   []store.Role
}

// Role sets used by routes.
var (
	produce   = []store.Role{store.RoleProducer, store.RoleAdmin}
	read      = []store.Role{store.RoleReader, store.RoleAdmin}
	readEvent = []store.Role{store.RoleReader, store.RoleProducer, store.RoleAdmin}
	admin     = []store.Role{store.RoleAdmin}
	// A user session reaches only its own person's routes (those with a
	// {userId} equal to the session's) and the ones listed with it here.
	readOwn  = []store.Role{store.RoleReader, store.RoleAdmin, auth.RoleUser}
	adminOwn = []store.Role{store.RoleAdmin, auth.RoleUser}
	anyone   = []store.Role{store.RoleProducer, store.RoleReader, store.RoleAdmin, auth.RoleUser}
)

// New builds the API and its routes.
func New(d Deps) *API {
	a := &API{deps: d, log: d.Log.With("component", "http"), mux: http.NewServeMux(), streams: make(chan struct{})}
	a.mux.HandleFunc("GET /healthz", a.healthz)
	a.mux.HandleFunc("GET /readyz", a.readyz)
	if d.Metrics != nil {
		a.mux.Handle("GET /metrics", promhttp.HandlerFor(d.Metrics.Registry, promhttp.HandlerOpts{}))
	}
	if d.OpsOnly {
		return a
	}
	a.handle("POST /v1/events", produce, a.ingestEvents)
	a.handle("GET /v1/events/{id}", readEvent, a.eventStatus)
	a.handle("DELETE /v1/events/{id}", produce, a.cancelEvent)
	a.handle("GET /v1/topics", read, a.listTopics)
	a.handle("POST /v1/topics", admin, a.createTopic)
	a.handle("GET /v1/topics/{name}", read, a.getTopic)
	a.handle("DELETE /v1/topics/{name}", admin, a.deleteTopic)
	a.handle("GET /v1/topics/{name}/members", read, a.listMembers)
	a.handle("POST /v1/topics/{name}/members", admin, a.changeMembers)
	a.handle("DELETE /v1/topics/{name}/members", admin, a.changeMembers)
	a.handle("POST /v1/users:import", admin, a.importUsers)
	a.handle("GET /v1/deadletters", admin, a.listDeadLetters)
	a.handle("POST /v1/deadletters/{seq}/replay", admin, a.replayDeadLetter)
	a.handle("DELETE /v1/deadletters/{seq}", admin, a.deleteDeadLetter)
	a.handle("POST /v1/deadletters:replay", admin, a.replayDeadLetters)
	a.handle("POST /v1/deadletters:purge", admin, a.purgeDeadLetters)
	a.handle("GET /v1/users/{userId}/preferences", readOwn, a.getPreferences)
	a.handle("PUT /v1/users/{userId}/preferences", adminOwn, a.putPreferences)
	a.handle("PATCH /v1/users/{userId}/preferences", adminOwn, a.patchPreferences)
	a.handle("GET /v1/users/{userId}/notifications", readOwn, a.listNotifications)
	a.handle("POST /v1/users/{userId}/notifications/{id}/read", readOwn, a.markRead)
	a.handle("GET /v1/users/{userId}/notifications/stream", readOwn, a.stream)
	a.handle("POST /v1/users/{userId}/devices", adminOwn, a.registerDevice)
	a.handle("GET /v1/users/{userId}/devices", readOwn, a.listDevices)
	a.handle("DELETE /v1/users/{userId}/devices/{deviceId}", adminOwn, a.deleteDevice)
	a.handle("GET /v1/users/{userId}/conversations", readOwn, a.listConversations)
	a.handle("POST /v1/users/{userId}/directline/token", readOwn, a.directLineToken)
	a.handle("POST /v1/users/{userId}/session", admin, a.createSession)
	a.handle("GET /v1/whoami", anyone, a.whoami)
	a.handle("GET /v1/stats", admin, a.stats)
	a.handle("GET /v1/webpush/vapid", anyone, a.vapidKey)
	// Upstream systems authenticate with their source's own credentials.
	a.mux.HandleFunc("POST /v1/sources/{name}", a.postSource)
	a.handle("GET /v1/sources", admin, a.listSources)
	a.handle("GET /v1/sources/{name}", admin, a.getSource)
	a.mux.HandleFunc("/v1/", func(w http.ResponseWriter, r *http.Request) {
		problem.Write(w, problem.NotFound, "No such route: "+r.Method+" "+r.URL.Path+". See docs/api.md.", nil, 0)
	})
	return a
}

// Mount serves h at pattern beside the /v1 routes: the Bot Framework
// assistant and Direct Line, which authenticate on their own terms.
func (a *API) Mount(pattern string, h http.Handler) { a.mux.Handle(pattern, h) }

// Routes lists the protected routes.
func (a *API) Routes() []Route { return slices.Clone(a.routes) }

// ServeHTTP routes a request.
func (a *API) ServeHTTP(w http.ResponseWriter, r *http.Request) { a.mux.ServeHTTP(w, r) }

// Drain marks the API as shutting down: readiness fails, new events are
// refused and open streams end, so that a load balancer moves away.
func (a *API) Drain() {
	if a.draining.CompareAndSwap(false, true) {
		close(a.streams)
	}
}

func (a *API) handle(pattern string, roles []store.Role, h http.HandlerFunc) {
	method, path, _ := strings.Cut(pattern, " ")
	a.routes = append(a.routes, Route{Method: method, Pattern: path, Roles: roles})
	a.mux.Handle(pattern, a.authorize(roles, h))
}

type principalCtx struct{}

// Principal is who made a request: an API key's role, or a user session
// (auth.RoleUser) and its person.
type Principal struct {
	Role store.Role `json:"role"`
	// KeyID names the API key; empty for a session.
	KeyID string `json:"keyId,omitempty"`
	// UserID is the session's person; empty for a key.
	UserID string `json:"userId,omitempty"`
	// ExpiresAt is when the session ends.
	ExpiresAt *time.Time `json:"expiresAt,omitempty"`
}

func principalFrom(r *http.Request) Principal {
	p, _ := r.Context().Value(principalCtx{}).(Principal)
	return p
}

// authorize checks the Bearer key (or user session) and its role before h
// runs. A user session reaches a route only if the route allows
// auth.RoleUser and its {userId}, when it has one, is the session's person.
func (a *API) authorize(roles []store.Role, h http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		authz := r.Header.Get("Authorization")
		scheme, presented, ok := strings.Cut(authz, " ")
		if authz == "" || !ok || !strings.EqualFold(scheme, "Bearer") {
			problem.Write(w, problem.Unauthenticated, "Send an API key as 'Authorization: Bearer <key>'. Create one with 'herald keys create --role admin'.", nil, 0)
			return
		}
		presented = strings.TrimSpace(presented)
		var p Principal
		if auth.IsSessionToken(presented) {
			var user string
			var exp time.Time
			err := auth.ErrInvalidSession
			if a.deps.Sessions != nil {
				user, exp, err = a.deps.Sessions.Verify(presented)
			}
			if err != nil {
				problem.Write(w, problem.Unauthenticated, "The user session is not valid (expired, or issued by another herald); sign in again.", nil, 0)
				return
			}
			p = Principal{Role: auth.RoleUser, UserID: user, ExpiresAt: &exp}
		} else {
			key, err := a.deps.Verifier.Verify(r.Context(), presented)
			switch {
			case errors.Is(err, auth.ErrInvalidKey):
				problem.Write(w, problem.Unauthenticated, "The API key is not valid (unknown, deleted or mistyped).", nil, 0)
				return
			case err != nil:
				a.log.Error("key lookup failed", "err", err)
				problem.Write(w, problem.StoreUnavailable, "The key could not be checked; try again.", nil, time.Second)
				return
			}
			p = Principal{Role: key.Role, KeyID: key.ID}
		}
		if !slices.Contains(roles, p.Role) {
			problem.Write(w, problem.Forbidden, "This route needs a key with role "+joinRoles(roles)+"; the key's role is "+string(p.Role)+".", nil, 0)
			return
		}
		if p.Role == auth.RoleUser {
			if u := r.PathValue("userId"); u != "" && u != p.UserID {
				problem.Write(w, problem.Forbidden, "A user session reaches only its own person's routes (/v1/users/"+p.UserID+"/...).", nil, 0)
				return
			}
		}
		if a.draining.Load() && r.Method == http.MethodPost && r.URL.Path == "/v1/events" {
			problem.Write(w, problem.ShuttingDown, "This herald process is shutting down; send the events to another one or retry shortly.", nil, time.Second)
			return
		}
		h(w, r.WithContext(context.WithValue(r.Context(), principalCtx{}, p)))
	})
}

func joinRoles(roles []store.Role) string {
	s := make([]string, len(roles))
	for i, r := range roles {
		s[i] = string(r)
	}
	return strings.Join(s, " or ")
}

func (a *API) healthz(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

// readyz answers 200 when the store answers and the process is not draining.
func (a *API) readyz(w http.ResponseWriter, r *http.Request) {
	if a.draining.Load() {
		problem.Write(w, problem.ShuttingDown, "draining", nil, 0)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	if err := a.deps.Store.Ping(ctx); err != nil {
		problem.Write(w, problem.StoreUnavailable, err.Error(), nil, time.Second)
		return
	}
	if _, err := a.deps.Hub.Lag(ctx, hub.TopicEvents, handler.Group); err != nil {
		problem.Write(w, problem.HubUnavailable, err.Error(), nil, time.Second)
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
