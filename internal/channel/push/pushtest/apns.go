package pushtest

import (
	"crypto/ecdsa"
	"encoding/json"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// APNsPeer behaves like APNs's provider API (PROTOCOLS.md §4): HTTP/2 only,
// POST /3/device/<hex token>, a bearer ES256 provider token whose kid and
// iss match and whose iat is less than an hour old, the apns-* headers, a
// JSON payload of at most 4096 bytes with an aps dictionary. A request that
// fails a check gets APNs's error for it; one that passes gets the Respond
// hook's answer (200 by default) with the apns-id echoed.
type APNsPeer struct {
	*peer
	key           *ecdsa.PublicKey
	keyID, teamID string
	// Now is the peer's clock for the token's age; nil means time.Now.
	Now func() time.Time

	tokMu  sync.Mutex
	tokens map[string]verified // provider tokens that passed
}

var (
	hexToken = regexp.MustCompile(`^[0-9a-fA-F]{64,200}$`)
	uuidRE   = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)
)

// NewAPNsPeer starts a peer that accepts tokens signed by key for keyID
// and teamID. t may be nil (benchmarks close Server themselves).
func NewAPNsPeer(t testing.TB, key *ecdsa.PublicKey, keyID, teamID string) *APNsPeer {
	a := &APNsPeer{key: key, keyID: keyID, teamID: teamID, tokens: map[string]verified{}}
	a.peer = newPeer(http.HandlerFunc(a.serve))
	a.start(t)
	return a
}

func (a *APNsPeer) now() time.Time {
	if a.Now != nil {
		return a.Now()
	}
	return time.Now()
}

func (a *APNsPeer) fail(w http.ResponseWriter, status int, reason string) {
	a.reject(strconv.Itoa(status) + " " + reason)
	writeJSON(w, status, map[string]any{"reason": reason})
}

func (a *APNsPeer) serve(w http.ResponseWriter, r *http.Request) {
	id := r.Header.Get("apns-id")
	if id != "" {
		w.Header().Set("apns-id", id)
	}
	if r.ProtoMajor != 2 {
		a.fail(w, http.StatusBadRequest, "HTTP/2 required")
		return
	}
	if r.Method != http.MethodPost {
		a.fail(w, http.StatusMethodNotAllowed, "MethodNotAllowed")
		return
	}
	token, ok := strings.CutPrefix(r.URL.Path, "/3/device/")
	if !ok {
		a.fail(w, http.StatusNotFound, "BadPath")
		return
	}
	if token == "" {
		a.fail(w, http.StatusBadRequest, "MissingDeviceToken")
		return
	}
	claims, header, reason := a.verify(r.Header.Get("authorization"))
	if reason != "" {
		a.fail(w, http.StatusForbidden, reason)
		return
	}
	switch {
	case !hexToken.MatchString(token):
		a.fail(w, http.StatusBadRequest, "BadDeviceToken")
		return
	case r.Header.Get("apns-topic") == "":
		a.fail(w, http.StatusBadRequest, "MissingTopic")
		return
	case r.Header.Get("apns-push-type") != "alert" && r.Header.Get("apns-push-type") != "background":
		a.fail(w, http.StatusBadRequest, "InvalidPushType")
		return
	case id != "" && !uuidRE.MatchString(id):
		a.fail(w, http.StatusBadRequest, "BadMessageId")
		return
	case len(r.Header.Get("apns-collapse-id")) > 64:
		a.fail(w, http.StatusBadRequest, "BadCollapseId")
		return
	}
	if p := r.Header.Get("apns-priority"); p != "" && p != "10" && p != "5" && p != "1" {
		a.fail(w, http.StatusBadRequest, "BadPriority")
		return
	}
	if e := r.Header.Get("apns-expiration"); e != "" {
		if _, err := strconv.ParseInt(e, 10, 64); err != nil {
			a.fail(w, http.StatusBadRequest, "BadExpirationDate")
			return
		}
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, 8192))
	if err != nil {
		a.fail(w, http.StatusBadRequest, "PayloadEmpty")
		return
	}
	if len(body) == 0 {
		a.fail(w, http.StatusBadRequest, "PayloadEmpty")
		return
	}
	if len(body) > 4096 {
		a.fail(w, http.StatusRequestEntityTooLarge, "PayloadTooLarge")
		return
	}
	var doc struct {
		APS json.RawMessage `json:"aps"`
	}
	if json.Unmarshal(body, &doc) != nil || len(doc.APS) == 0 {
		a.fail(w, http.StatusBadRequest, "PayloadEmpty")
		return
	}
	// The device shows notifications with the same apns-collapse-id as one.
	ans := a.answer(Request{ID: id, Device: token, Header: r.Header, Body: body, Claims: claims, JWTHeader: header,
		Collapse: r.Header.Get("apns-collapse-id")})
	writeRetryAfter(w, ans)
	if ans.Status == 0 || ans.Status == http.StatusOK {
		w.WriteHeader(http.StatusOK)
		return
	}
	resp := map[string]any{"reason": ans.Reason}
	if ans.Timestamp != 0 {
		resp["timestamp"] = ans.Timestamp
	}
	writeJSON(w, ans.Status, resp)
}

// verify checks a provider token; the answer is "" when it is good. A
// token verified once is remembered, as APNs does, so the peer's cost does
// not hide the client's.
func (a *APNsPeer) verify(authz string) (map[string]any, map[string]any, string) {
	raw, ok := strings.CutPrefix(authz, "bearer ")
	if !ok || raw == "" {
		return nil, nil, "MissingProviderToken"
	}
	a.tokMu.Lock()
	v, seen := a.tokens[raw]
	a.tokMu.Unlock()
	if seen {
		if a.now().Sub(v.iat) > time.Hour {
			return nil, nil, "ExpiredProviderToken"
		}
		return v.claims, v.header, ""
	}
	claims := jwt.MapClaims{}
	tok, err := jwt.NewParser(jwt.WithValidMethods([]string{"ES256"}), jwt.WithoutClaimsValidation()).
		ParseWithClaims(raw, claims, func(*jwt.Token) (any, error) { return a.key, nil })
	if err != nil || !tok.Valid {
		return nil, nil, "InvalidProviderToken"
	}
	if tok.Header["kid"] != a.keyID || claims["iss"] != a.teamID {
		return nil, nil, "InvalidProviderToken"
	}
	iat, ok := claims["iat"].(float64)
	if !ok {
		return nil, nil, "InvalidProviderToken"
	}
	v = verified{claims: claims, header: tok.Header, iat: time.Unix(int64(iat), 0)}
	if a.now().Sub(v.iat) > time.Hour {
		return nil, nil, "ExpiredProviderToken"
	}
	a.tokMu.Lock()
	a.tokens[raw] = v
	a.tokMu.Unlock()
	return v.claims, v.header, ""
}

// verified is a provider token that passed the checks.
type verified struct {
	claims, header map[string]any
	iat            time.Time
}
