package push

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"time"

	"golang.org/x/time/rate"
)

// ClientOptions configure a provider's HTTP client.
type ClientOptions struct {
	// HTTP2Only refuses HTTP/1.1 (APNs speaks only HTTP/2).
	HTTP2Only bool
	// RootCAs is the trust pool; nil means the system pool, which honours
	// SSL_CERT_FILE and SSL_CERT_DIR.
	RootCAs *x509.CertPool
	// Dial replaces the dialer, such as a netguard.Guard's for endpoints
	// that come from input (Web Push subscriptions).
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
	// MaxConnsPerHost bounds connections to one provider host; 0 means 4.
	// Each HTTP/2 connection carries many streams, and providers dislike
	// rapid reconnects, so few long-lived connections are best.
	MaxConnsPerHost int
}

// NewHTTPClient returns a client that keeps its connections open and
// multiplexes requests over HTTP/2.
func NewHTTPClient(o ClientOptions) *http.Client {
	if o.MaxConnsPerHost <= 0 {
		o.MaxConnsPerHost = 4
	}
	dial := o.Dial
	if dial == nil {
		dial = (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext
	}
	t := &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           dial,
		TLSClientConfig:       &tls.Config{RootCAs: o.RootCAs, MinVersion: tls.VersionTLS12},
		TLSHandshakeTimeout:   10 * time.Second,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          256,
		MaxIdleConnsPerHost:   256,
		MaxConnsPerHost:       0, // HTTP/2 opens a new connection only when streams run out
		IdleConnTimeout:       10 * time.Minute,
		ExpectContinueTimeout: time.Second,
		HTTP2: &http.HTTP2Config{
			SendPingTimeout: 60 * time.Second,
			PingTimeout:     15 * time.Second,
		},
	}
	if o.HTTP2Only {
		var p http.Protocols
		p.SetHTTP2(true)
		t.Protocols = &p
	}
	return &http.Client{Transport: t}
}

// CertPool returns the system pool plus the PEM certificates in file (for
// providers behind a private CA, or local test peers); "" means the system
// pool unchanged (nil).
func CertPool(file string) (*x509.CertPool, error) {
	if file == "" {
		return nil, nil
	}
	pem, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("read CA file: %w", err)
	}
	pool, err := x509.SystemCertPool()
	if err != nil || pool == nil {
		pool = x509.NewCertPool()
	}
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("CA file %s holds no PEM certificate", file)
	}
	return pool, nil
}

// Limiter bounds one provider's requests: at most Concurrency in flight
// and, when Rate > 0, at most Rate per second (with a burst of Rate/10).
type Limiter struct {
	sem  chan struct{}
	rate *rate.Limiter
}

// NewLimiter returns a limiter; concurrency <= 0 means 256.
func NewLimiter(concurrency int, perSecond float64) *Limiter {
	if concurrency <= 0 {
		concurrency = 256
	}
	l := &Limiter{sem: make(chan struct{}, concurrency)}
	if perSecond > 0 {
		l.rate = rate.NewLimiter(rate.Limit(perSecond), max(1, int(perSecond/10)))
	}
	return l
}

// Acquire waits for a slot; call the returned release when done.
func (l *Limiter) Acquire(ctx context.Context) (release func(), err error) {
	if l.rate != nil {
		if err := l.rate.Wait(ctx); err != nil {
			return nil, err
		}
	}
	select {
	case l.sem <- struct{}{}:
		return func() { <-l.sem }, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// Drain reads and closes a response body so its connection stream is
// reused; it reads at most limit bytes and returns them.
func Drain(body io.ReadCloser, limit int64) []byte {
	defer body.Close()
	b, _ := io.ReadAll(io.LimitReader(body, limit))
	return b
}
