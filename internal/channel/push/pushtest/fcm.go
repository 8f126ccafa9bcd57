package pushtest

import (
	"crypto/rand"
	"crypto/rsa"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// FCMPeer behaves like FCM HTTP v1 (PROTOCOLS.md §5) and Google's OAuth2
// token endpoint. POST /token takes a service account's RS256 assertion
// (grant type jwt-bearer, scope firebase.messaging, aud the token URL) and
// issues an access token valid for TokenLifetime; POST
// /v1/projects/{project}/messages:send takes a Bearer access token and a
// message of at most 4096 bytes with a token, and answers {name} or FCM's
// error document. Accepted messages are counted by data.heraldId. The
// device is an Android phone: a notification whose android.notification.tag
// is that of one it shows replaces it.
type FCMPeer struct {
	*peer
	key     *rsa.PublicKey
	project string
	// TokenLifetime is the access tokens' expires_in; 0 means an hour.
	TokenLifetime time.Duration

	tokMu   sync.Mutex
	issued  map[string]bool
	fetches int
}

// NewFCMPeer starts a peer for project that trusts service-account key.
func NewFCMPeer(t testing.TB, key *rsa.PublicKey, project string) *FCMPeer {
	f := &FCMPeer{key: key, project: project, issued: map[string]bool{}}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /token", f.token)
	mux.HandleFunc("POST /v1/projects/{project}/messages:send", f.send)
	f.peer = newPeer(mux)
	f.start(t)
	return f
}

// TokenURL is the peer's OAuth2 token endpoint.
func (f *FCMPeer) TokenURL() string { return f.URL() + "/token" }

// TokenFetches counts access tokens issued.
func (f *FCMPeer) TokenFetches() int {
	f.tokMu.Lock()
	defer f.tokMu.Unlock()
	return f.fetches
}

// RevokeTokens forgets every access token, as if they had expired early.
func (f *FCMPeer) RevokeTokens() {
	f.tokMu.Lock()
	f.issued = map[string]bool{}
	f.tokMu.Unlock()
}

func (f *FCMPeer) token(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "invalid_request"})
		return
	}
	if r.PostForm.Get("grant_type") != "urn:ietf:params:oauth:grant-type:jwt-bearer" {
		f.reject("token: grant_type " + r.PostForm.Get("grant_type"))
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "unsupported_grant_type"})
		return
	}
	claims := jwt.MapClaims{}
	tok, err := jwt.NewParser(jwt.WithValidMethods([]string{"RS256"})).
		ParseWithClaims(r.PostForm.Get("assertion"), claims, func(*jwt.Token) (any, error) { return f.key, nil })
	if err != nil || !tok.Valid {
		f.reject(fmt.Sprintf("token: bad assertion: %v", err))
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "invalid_grant", "error_description": "Invalid JWT Signature."})
		return
	}
	if claims["scope"] != "https://www.googleapis.com/auth/firebase.messaging" || claims["aud"] != f.TokenURL() ||
		!strings.HasSuffix(fmt.Sprint(claims["iss"]), ".iam.gserviceaccount.com") {
		f.reject(fmt.Sprintf("token: claims %v", claims))
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "invalid_scope"})
		return
	}
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	access := "ya29." + hex.EncodeToString(b)
	life := f.TokenLifetime
	if life == 0 {
		life = time.Hour
	}
	f.tokMu.Lock()
	f.issued[access] = true
	f.fetches++
	f.tokMu.Unlock()
	writeJSON(w, http.StatusOK, map[string]any{"access_token": access, "expires_in": int(life / time.Second), "token_type": "Bearer"})
}

// fcmError writes FCM's error document.
func fcmError(w http.ResponseWriter, status int, code, msg string) {
	canonical := map[int]string{400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED", 404: "NOT_FOUND",
		429: "RESOURCE_EXHAUSTED", 500: "INTERNAL", 503: "UNAVAILABLE"}[status]
	writeJSON(w, status, map[string]any{"error": map[string]any{
		"code": status, "message": msg, "status": canonical,
		"details": []map[string]string{{"@type": "type.googleapis.com/google.firebase.fcm.v1.FcmError", "errorCode": code}},
	}})
}

func (f *FCMPeer) send(w http.ResponseWriter, r *http.Request) {
	if r.ProtoMajor != 2 {
		f.reject("send: not HTTP/2")
	}
	if r.PathValue("project") != f.project {
		f.reject("send: project " + r.PathValue("project"))
		fcmError(w, http.StatusForbidden, "SENDER_ID_MISMATCH", "wrong project")
		return
	}
	access, _ := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	f.tokMu.Lock()
	ok := f.issued[access]
	f.tokMu.Unlock()
	if !ok {
		f.reject("send: unknown access token")
		writeJSON(w, http.StatusUnauthorized, map[string]any{"error": map[string]any{"code": 401, "status": "UNAUTHENTICATED",
			"message": "Request had invalid authentication credentials."}})
		return
	}
	body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<16))
	if len(body) > 4096 {
		f.reject("send: message too large")
		fcmError(w, http.StatusBadRequest, "INVALID_ARGUMENT", "Message is too big")
		return
	}
	var req struct {
		Message struct {
			Token   string            `json:"token"`
			Data    map[string]string `json:"data"`
			Android struct {
				Notification struct {
					Tag string `json:"tag"`
				} `json:"notification"`
			} `json:"android"`
		} `json:"message"`
	}
	if err := json.Unmarshal(body, &req); err != nil || req.Message.Token == "" {
		f.reject("send: no token or invalid JSON")
		fcmError(w, http.StatusBadRequest, "INVALID_ARGUMENT", "Invalid JSON payload or missing token")
		return
	}
	ans := f.answer(Request{ID: req.Message.Data["heraldId"], Device: req.Message.Token, Header: r.Header, Body: body,
		Collapse: req.Message.Android.Notification.Tag})
	writeRetryAfter(w, ans)
	if ans.Status == 0 || ans.Status == http.StatusOK {
		writeJSON(w, http.StatusOK, map[string]string{"name": "projects/" + f.project + "/messages/" + req.Message.Data["heraldId"]})
		return
	}
	msg := map[string]string{
		"UNREGISTERED":     "Requested entity was not found.",
		"INVALID_ARGUMENT": "The registration token is not a valid FCM registration token",
		"QUOTA_EXCEEDED":   "Quota exceeded",
		"UNAVAILABLE":      "The service is currently unavailable.",
		"INTERNAL":         "Internal error encountered.",
	}[ans.Reason]
	fcmError(w, ans.Status, ans.Reason, msg)
}
