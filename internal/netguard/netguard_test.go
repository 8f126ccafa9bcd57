package netguard_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"testing"
	"time"

	"github.com/herald/herald/internal/netguard"
)

func TestAllowed(t *testing.T) {
	g, err := netguard.New([]string{"10.20.0.0/16", "192.0.2.7"})
	if err != nil {
		t.Fatal(err)
	}
	for addr, want := range map[string]bool{
		"8.8.8.8": true, "2606:4700::1111": true, "93.184.216.34": true,
		"127.0.0.1": false, "::1": false, "10.0.0.1": false, "172.16.5.4": false, "192.168.1.1": false,
		"169.254.169.254": false, "fe80::1": false, "fd00::1": false, "100.64.0.1": false, "0.0.0.0": false,
		"::": false, "224.0.0.1": false, "::ffff:127.0.0.1": false, "::ffff:169.254.169.254": false,
		"10.20.3.4": true, "192.0.2.7": true,
	} {
		if got := g.Allowed(netip.MustParseAddr(addr)); got != want {
			t.Errorf("Allowed(%s) = %v, want %v", addr, got, want)
		}
	}
	if _, err := netguard.New([]string{"not-a-range"}); err == nil {
		t.Error("New accepted a bad range")
	}
}

func TestDialRefusesLoopbackUnlessAllowed(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer srv.Close()
	get := func(g *netguard.Guard) error {
		c := &http.Client{Transport: &http.Transport{DialContext: g.DialContext(time.Second, 0)}}
		req, _ := http.NewRequestWithContext(context.Background(), http.MethodGet, srv.URL, nil)
		resp, err := c.Do(req)
		if err == nil {
			resp.Body.Close()
		}
		return err
	}
	deny, _ := netguard.New(nil)
	if err := get(deny); !errors.Is(err, netguard.ErrRefused) {
		t.Fatalf("GET %s through the default guard = %v, want ErrRefused", srv.URL, err)
	}
	allow, _ := netguard.New([]string{"127.0.0.0/8"})
	if err := get(allow); err != nil {
		t.Fatalf("GET %s with loopback allowed: %v", srv.URL, err)
	}
	// A name resolving to loopback is refused as well.
	c := &http.Client{Transport: &http.Transport{DialContext: deny.DialContext(time.Second, 0)}}
	_, err := c.Get("http://localhost:" + srv.URL[len("http://127.0.0.1:"):])
	if !errors.Is(err, netguard.ErrRefused) {
		t.Fatalf("GET via localhost = %v, want ErrRefused", err)
	}
}
