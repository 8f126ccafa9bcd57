package push_test

import (
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"

	"github.com/herald/herald/internal/channel/push"
)

// server is a local HTTP/2 TLS server whose certificate TestMain puts in
// SSL_CERT_FILE before anything loads the system trust pool.
var server *httptest.Server

func TestMain(m *testing.M) {
	server = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Proto", r.Proto)
	}))
	server.EnableHTTP2 = true
	server.StartTLS()
	dir, err := os.MkdirTemp("", "herald-push")
	if err != nil {
		panic(err)
	}
	ca := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: server.Certificate().Raw}), 0o600); err != nil {
		panic(err)
	}
	os.Setenv("SSL_CERT_FILE", ca)
	code := m.Run()
	server.Close()
	os.RemoveAll(dir)
	os.Exit(code)
}

// TestClientTrustsTheSystemPoolFromSSLCertFile: with no CA file of its own,
// a provider client trusts what SSL_CERT_FILE names, and speaks HTTP/2.
func TestClientTrustsTheSystemPoolFromSSLCertFile(t *testing.T) {
	for _, http2Only := range []bool{false, true} {
		c := push.NewHTTPClient(push.ClientOptions{HTTP2Only: http2Only})
		resp, err := c.Get(server.URL)
		if err != nil {
			t.Fatalf("HTTP2Only=%v: %v", http2Only, err)
		}
		resp.Body.Close()
		if resp.ProtoMajor != 2 {
			t.Errorf("HTTP2Only=%v: spoke %s, want HTTP/2", http2Only, resp.Proto)
		}
	}
}

func TestCertPool(t *testing.T) {
	if pool, err := push.CertPool(""); err != nil || pool != nil {
		t.Errorf(`CertPool("") = %v, %v; want nil (the system pool)`, pool, err)
	}
	empty := filepath.Join(t.TempDir(), "empty.pem")
	_ = os.WriteFile(empty, []byte("not a certificate"), 0o600)
	if _, err := push.CertPool(empty); err == nil {
		t.Error("a file without certificates was accepted")
	}
	if _, err := push.CertPool(filepath.Join(t.TempDir(), "missing.pem")); err == nil {
		t.Error("a missing file was accepted")
	}
}
