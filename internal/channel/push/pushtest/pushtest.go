// Package pushtest provides local peers that behave like the push providers
// as their documentation describes (APNs's HTTP/2 provider API, FCM HTTP v1
// with its OAuth2 token endpoint, an RFC 8030 push service), for tests and
// benchmarks that cannot reach Apple or Google. Each peer is an HTTP/2 TLS
// server on the loopback interface that checks what it receives (headers,
// tokens and their signatures, payload limits, encryption) the way the
// provider would, counts accepted messages by their herald id, and lets a
// test choose each answer.
//
// Each peer also models what the device does with what it is sent, as the
// providers document it: a message whose collapse identifier (APNs's
// apns-collapse-id, Android's notification tag, the tag a browser's service
// worker shows a Web Push message with) matches a notification the device
// shows replaces it instead of adding one. So a test can tell raw sends
// (Accepted, Repeats' raw count) from what a person sees (Shown, Repeats'
// shown count). The Web Push peer also keeps messages pending for an
// offline browser, a newer one replacing a pending one of the same Topic
// (RFC 8030 section 5.4).
package pushtest

import (
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/herald/herald/internal/channel/push"
)

// Answer is what a peer replies to one request. A zero Status means the
// provider's success answer.
type Answer struct {
	Status int
	// Reason is APNs's reason or FCM's errorCode / status.
	Reason string
	// RetryAfter, when set, is sent as the Retry-After header.
	RetryAfter string
	// Timestamp is APNs's 410 timestamp (milliseconds).
	Timestamp int64
	// Delay holds the answer back, like a slow provider.
	Delay time.Duration
}

// Request is what a peer saw of one request that passed its checks.
type Request struct {
	// ID is the herald message id (apns-id, FCM data.heraldId, or the
	// decrypted Web Push payload's id).
	ID string
	// Device is the device token or subscription id in the path or body.
	Device string
	Header http.Header
	// Body is the payload: APNs's JSON, FCM's request JSON, or Web Push's
	// decrypted plaintext.
	Body []byte
	// Collapse is what the device merges notifications by: apns-collapse-id,
	// FCM's android.notification.tag, or the tag herald's service worker
	// shows a Web Push message with; "" when each message adds one.
	Collapse string
	// Claims are the verified JWT's claims.
	Claims map[string]any
	// JWTHeader is the verified JWT's header.
	JWTHeader map[string]any
}

// peer is what every provider peer shares.
type peer struct {
	Server   *httptest.Server
	mu       sync.Mutex
	respond  func(n int, r *Request) Answer
	keep     bool
	n        int
	accepted map[string]acceptance
	requests []Request
	rejected []string
	// screens holds the notifications the devices show: the herald id
	// shown under each device and collapse identifier (a message without
	// one gets a key of its own).
	screens     map[screenKey]string
	uncollapsed int
	// arrive hands an accepted message to its device; nil shows it at once.
	arrive func(r Request)
	// inFlight and maxInFlight count requests being handled.
	inFlight, maxInFlight atomic.Int64
}

// screenKey is a device and a collapse identifier.
type screenKey struct{ device, collapse string }

// acceptance is how often a message id was accepted, and when first.
type acceptance struct {
	n     int
	first time.Time
}

func newPeer(h http.Handler) *peer {
	p := &peer{accepted: map[string]acceptance{}, screens: map[screenKey]string{}}
	s := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := p.inFlight.Add(1)
		for m := p.maxInFlight.Load(); n > m && !p.maxInFlight.CompareAndSwap(m, n); m = p.maxInFlight.Load() {
		}
		defer p.inFlight.Add(-1)
		h.ServeHTTP(w, r)
	}))
	s.EnableHTTP2 = true
	s.Config.MaxHeaderBytes = 1 << 16
	p.Server = s
	return p
}

// MaxInFlight is the largest number of requests the peer was handling at
// once.
func (p *peer) MaxInFlight() int { return int(p.maxInFlight.Load()) }

func (p *peer) start(t testing.TB) {
	p.Server.StartTLS()
	if t != nil {
		t.Cleanup(p.Server.Close)
	}
}

// URL is the peer's base URL.
func (p *peer) URL() string { return p.Server.URL }

// CertPool trusts the peer's certificate (all httptest servers share one).
func (p *peer) CertPool() *x509.CertPool {
	pool := x509.NewCertPool()
	pool.AddCert(p.Server.Certificate())
	return pool
}

// WriteCA writes the peer's certificate as PEM into dir and returns the
// file name, for settings that take a CA file.
func (p *peer) WriteCA(t testing.TB, dir string) string {
	name := filepath.Join(dir, "peer-ca.pem")
	data := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: p.Server.Certificate().Raw})
	if err := os.WriteFile(name, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return name
}

// Client is an HTTP/2 client of herald's kind (push.NewHTTPClient) that
// trusts the peer.
func (p *peer) Client(http2Only bool) *http.Client {
	return push.NewHTTPClient(push.ClientOptions{RootCAs: p.CertPool(), HTTP2Only: http2Only})
}

// answer counts a checked request and decides its answer.
func (p *peer) answer(r Request) Answer {
	p.mu.Lock()
	p.n++
	n := p.n
	if p.keep {
		p.requests = append(p.requests, r)
	}
	respond := p.respond
	p.mu.Unlock()
	var a Answer
	if respond != nil {
		a = respond(n, &r)
	}
	if a.Delay > 0 {
		time.Sleep(a.Delay)
	}
	if a.Status == 0 || a.Status/100 == 2 {
		p.mu.Lock()
		acc := p.accepted[r.ID]
		if acc.n == 0 {
			acc.first = time.Now()
		}
		acc.n++
		p.accepted[r.ID] = acc
		arrive := p.arrive
		p.mu.Unlock()
		if arrive != nil {
			arrive(r)
		} else {
			p.show(r.Device, r.Collapse, r.ID)
		}
	}
	return a
}

// show puts a message on its device's screen: one with a collapse
// identifier replaces the notification shown with the same identifier,
// one without (or with a new identifier) adds a notification.
func (p *peer) show(device, collapse, id string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if collapse == "" {
		p.uncollapsed++
		collapse = "\x00" + strconv.Itoa(p.uncollapsed)
	}
	p.screens[screenKey{device, collapse}] = id
}

// Shown returns how many notifications the devices show for each herald
// message id: 1 when the repeats of a message replaced its first showing.
func (p *peer) Shown() map[string]int {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := map[string]int{}
	for _, id := range p.screens {
		out[id]++
	}
	return out
}

// Repeats counts sends beyond the first of each message: raw, as the
// provider accepted them, and shown, as the devices show them.
func (p *peer) Repeats() (raw, shown int) {
	for _, n := range p.Accepted() {
		raw += n - 1
	}
	for _, n := range p.Shown() {
		shown += n - 1
	}
	return raw, shown
}

func (p *peer) reject(why string) {
	p.mu.Lock()
	p.rejected = append(p.rejected, why)
	p.mu.Unlock()
}

// Accepted returns how often each message id was accepted.
func (p *peer) Accepted() map[string]int {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make(map[string]int, len(p.accepted))
	for k, v := range p.accepted {
		out[k] = v.n
	}
	return out
}

// FirstAccepted returns when each message id was first accepted.
func (p *peer) FirstAccepted() map[string]time.Time {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make(map[string]time.Time, len(p.accepted))
	for k, v := range p.accepted {
		out[k] = v.first
	}
	return out
}

// AcceptedCount is the number of accepted requests.
func (p *peer) AcceptedCount() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for _, v := range p.accepted {
		n += v.n
	}
	return n
}

// SetRespond sets the function that chooses the answer to each checked
// request (n counts requests from 1); nil means success.
func (p *peer) SetRespond(f func(n int, r *Request) Answer) {
	p.mu.Lock()
	p.respond = f
	p.mu.Unlock()
}

// SetKeep makes the peer keep every checked request for Requests.
func (p *peer) SetKeep(keep bool) {
	p.mu.Lock()
	p.keep = keep
	p.mu.Unlock()
}

// Requests returns the kept requests (see SetKeep).
func (p *peer) Requests() []Request {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]Request(nil), p.requests...)
}

// Rejected lists why requests failed the peer's checks.
func (p *peer) Rejected() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.rejected...)
}

// Calls counts requests that passed the checks.
func (p *peer) Calls() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.n
}

func writeRetryAfter(w http.ResponseWriter, a Answer) {
	if a.RetryAfter != "" {
		w.Header().Set("Retry-After", a.RetryAfter)
	}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// ---------------------------------------------------------------- credentials

// APNsKey makes a P-256 signing key and returns it with its .p8 PEM.
func APNsKey() (*ecdsa.PrivateKey, []byte) {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		panic(err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		panic(err)
	}
	return k, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
}

// ServiceAccount makes an RSA key and a service-account JSON key file for
// project whose token_uri is tokenURL.
func ServiceAccount(project, tokenURL string) (*rsa.PrivateKey, []byte) {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic(err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		panic(err)
	}
	doc, _ := json.Marshal(map[string]string{
		"type": "service_account", "project_id": project, "private_key_id": "key-1",
		"private_key":  string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})),
		"client_email": "herald@" + project + ".iam.gserviceaccount.com", "client_id": "1",
		"token_uri": tokenURL,
	})
	return k, doc
}

// Subscriber is a browser's side of a Web Push subscription.
type Subscriber struct {
	Key  *ecdh.PrivateKey
	Auth []byte
}

// NewSubscriber makes a subscriber's key pair and auth secret.
func NewSubscriber() Subscriber {
	k, err := ecdh.P256().GenerateKey(rand.Reader)
	if err != nil {
		panic(err)
	}
	auth := make([]byte, 16)
	_, _ = rand.Read(auth)
	return Subscriber{Key: k, Auth: auth}
}

// P256dh is the subscription's p256dh key, base64url.
func (s Subscriber) P256dh() string {
	return base64.RawURLEncoding.EncodeToString(s.Key.PublicKey().Bytes())
}

// AuthSecret is the subscription's auth secret, base64url.
func (s Subscriber) AuthSecret() string { return base64.RawURLEncoding.EncodeToString(s.Auth) }

// HexToken makes an APNs-style device token: 32 bytes in hex, from n.
func HexToken(n int) string { return fmt.Sprintf("%064x", n) }
