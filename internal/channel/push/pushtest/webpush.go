package pushtest

import (
	"cmp"
	"crypto/ecdsa"
	"crypto/elliptic"
	"encoding/base64"
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

	"github.com/herald/herald/internal/channel/webpush"
)

// WebPushPeer is an RFC 8030 push service: POST /push/{id} for a
// subscription it created with Subscribe. It requires RFC 8292 VAPID
// (Authorization: vapid t=<ES256 JWT>, k=<key>, aud its origin, exp at most
// 24 hours ahead, sub mailto: or https:), Content-Encoding aes128gcm and a
// TTL header; it decrypts the body with the subscriber's keys (RFC 8291)
// and counts the plaintext's id. Success is 201 Created with a Location.
//
// Behind the service is each subscription's browser, running herald's
// service worker: it shows each message with showNotification and the tag
// internal/web/assets/app/sw.js gives it (the payload's tag, else eventId,
// else id), and a notification with the tag of one shown replaces it. A
// browser is online unless SetOnline says otherwise; while it is offline the
// service keeps its messages pending, a message replacing a pending one
// with the same Topic (RFC 8030 section 5.4), and delivers them when it
// comes back.
type WebPushPeer struct {
	*peer
	// SkipDecrypt counts by (subscription, Topic) without decrypting, for
	// benchmarks that measure the sender's encryption alone.
	SkipDecrypt bool

	subMu   sync.Mutex
	subs    map[string]Subscriber
	n       int
	vapid   map[string]bool
	offline map[string]bool
	pending map[string][]Request
}

// topicRE is RFC 8030's Topic: at most 32 characters of the URL and
// filename safe base64 alphabet.
var topicRE = regexp.MustCompile(`^[A-Za-z0-9_-]{0,32}$`)

// NewWebPushPeer starts a push service.
func NewWebPushPeer(t testing.TB) *WebPushPeer {
	p := &WebPushPeer{subs: map[string]Subscriber{}, vapid: map[string]bool{}, offline: map[string]bool{}, pending: map[string][]Request{}}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /push/{id}", p.serve)
	p.peer = newPeer(mux)
	p.arrive = p.toBrowser
	p.start(t)
	return p
}

// toBrowser hands an accepted message to its subscription's browser, or
// keeps it pending while the browser is offline.
func (p *WebPushPeer) toBrowser(r Request) {
	p.subMu.Lock()
	if p.offline[r.Device] {
		q := p.pending[r.Device]
		if topic := r.Header.Get("Topic"); topic != "" {
			for i := range q {
				if q[i].Header.Get("Topic") == topic {
					q[i] = r
					p.subMu.Unlock()
					return
				}
			}
		}
		p.pending[r.Device] = append(q, r)
		p.subMu.Unlock()
		return
	}
	p.subMu.Unlock()
	p.show(r.Device, r.Collapse, r.ID)
}

// subscriptionID is the id at the end of an endpoint Subscribe returned.
func subscriptionID(endpoint string) string {
	return endpoint[strings.LastIndex(endpoint, "/")+1:]
}

// SetOnline connects or disconnects a subscription's browser (endpoint as
// Subscribe returned it). Coming online, it receives what is pending.
func (p *WebPushPeer) SetOnline(endpoint string, online bool) {
	id := subscriptionID(endpoint)
	p.subMu.Lock()
	p.offline[id] = !online
	var deliver []Request
	if online {
		deliver = p.pending[id]
		delete(p.pending, id)
	}
	p.subMu.Unlock()
	for _, r := range deliver {
		p.show(r.Device, r.Collapse, r.ID)
	}
}

// Pending is how many messages wait for a subscription's offline browser.
func (p *WebPushPeer) Pending(endpoint string) int {
	p.subMu.Lock()
	defer p.subMu.Unlock()
	return len(p.pending[subscriptionID(endpoint)])
}

// Subscribe creates a subscription and returns its endpoint and keys.
func (p *WebPushPeer) Subscribe() (endpoint string, s Subscriber) {
	s = NewSubscriber()
	p.subMu.Lock()
	p.n++
	id := "sub" + strconv.Itoa(p.n)
	p.subs[id] = s
	p.subMu.Unlock()
	return p.URL() + "/push/" + id, s
}

func (p *WebPushPeer) fail(w http.ResponseWriter, status int, why string) {
	p.reject(strconv.Itoa(status) + " " + why)
	http.Error(w, why, status)
}

func (p *WebPushPeer) serve(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	p.subMu.Lock()
	sub, ok := p.subs[id]
	p.subMu.Unlock()
	if !ok {
		p.fail(w, http.StatusNotFound, "no such subscription")
		return
	}
	claims, reason := p.verify(r.Header.Get("Authorization"))
	if reason != "" {
		p.fail(w, http.StatusUnauthorized, reason)
		return
	}
	if r.Header.Get("Crypto-Key") != "" {
		p.fail(w, http.StatusBadRequest, "pre-RFC Crypto-Key header")
		return
	}
	if r.Header.Get("Content-Encoding") != "aes128gcm" {
		p.fail(w, http.StatusUnsupportedMediaType, "Content-Encoding must be aes128gcm")
		return
	}
	if _, err := strconv.Atoi(r.Header.Get("TTL")); err != nil {
		p.fail(w, http.StatusBadRequest, "TTL header required")
		return
	}
	if u := r.Header.Get("Urgency"); u != "" && u != "very-low" && u != "low" && u != "normal" && u != "high" {
		p.fail(w, http.StatusBadRequest, "bad Urgency")
		return
	}
	if t := r.Header.Get("Topic"); !topicRE.MatchString(t) {
		p.fail(w, http.StatusBadRequest, "Topic must be at most 32 characters of the base64url alphabet")
		return
	}
	body, _ := io.ReadAll(io.LimitReader(r.Body, 8192))
	if len(body) > 4096 {
		p.fail(w, http.StatusRequestEntityTooLarge, "payload larger than 4096 bytes")
		return
	}
	req := Request{Device: id, Header: r.Header, Claims: claims}
	if p.SkipDecrypt {
		req.ID = id + "/" + r.Header.Get("Topic")
	} else {
		plain, err := webpush.Decrypt(body, sub.Key, sub.Auth)
		if err != nil {
			p.fail(w, http.StatusBadRequest, "decrypt: "+err.Error())
			return
		}
		var doc struct {
			ID      string `json:"id"`
			EventID string `json:"eventId"`
			Tag     string `json:"tag"`
		}
		if err := json.Unmarshal(plain, &doc); err != nil {
			p.fail(w, http.StatusBadRequest, "plaintext is not JSON")
			return
		}
		req.ID, req.Body = doc.ID, plain
		// The tag herald's service worker shows it with.
		req.Collapse = cmp.Or(doc.Tag, doc.EventID, doc.ID)
	}
	ans := p.answer(req)
	writeRetryAfter(w, ans)
	if ans.Status == 0 || ans.Status/100 == 2 {
		w.Header().Set("Location", p.URL()+"/message/"+strconv.Itoa(p.Calls()))
		w.WriteHeader(http.StatusCreated)
		return
	}
	http.Error(w, http.StatusText(ans.Status), ans.Status)
}

// verify checks the VAPID header; it returns a reason when it is bad.
// Good tokens are remembered so the peer does not verify each again.
func (p *WebPushPeer) verify(h string) (map[string]any, string) {
	rest, ok := strings.CutPrefix(h, "vapid ")
	if !ok {
		return nil, "Authorization is not vapid"
	}
	var t, k string
	for _, part := range strings.Split(rest, ",") {
		kv := strings.SplitN(strings.TrimSpace(part), "=", 2)
		if len(kv) != 2 {
			continue
		}
		switch kv[0] {
		case "t":
			t = kv[1]
		case "k":
			k = kv[1]
		}
	}
	if t == "" || k == "" {
		return nil, "vapid needs t= and k="
	}
	claims := jwt.MapClaims{}
	p.subMu.Lock()
	seen := p.vapid[h]
	p.subMu.Unlock()
	if seen {
		if _, _, err := jwt.NewParser().ParseUnverified(t, claims); err != nil {
			return nil, err.Error()
		}
	} else {
		raw, err := base64.RawURLEncoding.DecodeString(k)
		if err != nil {
			return nil, "k is not base64url"
		}
		pub, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), raw)
		if err != nil {
			return nil, "k is not a P-256 point"
		}
		tok, err := jwt.NewParser(jwt.WithValidMethods([]string{"ES256"})).ParseWithClaims(t, claims, func(*jwt.Token) (any, error) { return pub, nil })
		if err != nil || !tok.Valid {
			return nil, "bad VAPID signature"
		}
	}
	exp, _ := claims["exp"].(float64)
	if d := time.Until(time.Unix(int64(exp), 0)); d <= 0 || d > 24*time.Hour {
		return nil, "exp must be within 24 hours"
	}
	if claims["aud"] != p.URL() {
		return nil, "aud is not the push service's origin"
	}
	if sub, _ := claims["sub"].(string); !strings.HasPrefix(sub, "mailto:") && !strings.HasPrefix(sub, "https:") {
		return nil, "sub must be mailto: or https:"
	}
	p.subMu.Lock()
	p.vapid[h] = true
	p.subMu.Unlock()
	return claims, ""
}
