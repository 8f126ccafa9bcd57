package web

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func get(t *testing.T, h http.Handler, method, path string, hdr map[string]string) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest(method, path, nil)
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	return w
}

func TestServesTheAppWithItsHeaders(t *testing.T) {
	t.Parallel()
	h := New()
	for _, tc := range []struct {
		path, ctype, contains string
	}{
		{"/", "text/html; charset=utf-8", `<script type="module" src="/app/main.js">`},
		{"/app/main.js", "text/javascript; charset=utf-8", "notificationCenter"},
		{"/app/sw.js", "text/javascript; charset=utf-8", "showNotification"},
		{"/app/style.css", "text/css; charset=utf-8", ":root"},
		{"/app/icon.svg", "image/svg+xml", "<svg"},
		{"/app/config.json", "application/json", `"webChat":`},
	} {
		w := get(t, h, http.MethodGet, tc.path, nil)
		if w.Code != http.StatusOK {
			t.Errorf("GET %s: %d", tc.path, w.Code)
			continue
		}
		if got := w.Header().Get("Content-Type"); got != tc.ctype {
			t.Errorf("GET %s: Content-Type %q, want %q", tc.path, got, tc.ctype)
		}
		if !strings.Contains(w.Body.String(), tc.contains) {
			t.Errorf("GET %s: body lacks %q", tc.path, tc.contains)
		}
		for k, want := range map[string]string{
			"Content-Security-Policy": ContentSecurityPolicy,
			"X-Content-Type-Options":  "nosniff",
			"Cache-Control":           "no-cache",
		} {
			if got := w.Header().Get(k); got != want {
				t.Errorf("GET %s: %s = %q, want %q", tc.path, k, got, want)
			}
		}
		// A second visit revalidates and gets no body.
		etag := w.Header().Get("ETag")
		if w2 := get(t, h, http.MethodGet, tc.path, map[string]string{"If-None-Match": etag}); etag == "" || w2.Code != http.StatusNotModified {
			t.Errorf("GET %s with If-None-Match %s: %d, want 304", tc.path, etag, w2.Code)
		}
	}
	// The policy allows this origin only: no CDN, no inline or eval'd script.
	for _, bad := range []string{"http:", "https:", "'unsafe-eval'", "*"} {
		if strings.Contains(ContentSecurityPolicy, bad) {
			t.Errorf("the CSP allows %s", bad)
		}
	}
	if !strings.Contains(ContentSecurityPolicy, "script-src 'self';") {
		t.Error("the CSP does not pin scripts to this origin")
	}
}

func TestRefusesWhatIsNotTheApp(t *testing.T) {
	t.Parallel()
	h := New()
	for _, p := range []string{"/nope", "/app/", "/app/vendor/README.txt", "/app/../index.html", "/index.html.bak"} {
		if w := get(t, h, http.MethodGet, p, nil); w.Code != http.StatusNotFound {
			t.Errorf("GET %s: %d, want 404", p, w.Code)
		}
	}
	if w := get(t, h, http.MethodPost, "/", nil); w.Code != http.StatusMethodNotAllowed {
		t.Errorf("POST /: %d, want 405", w.Code)
	}
	if w := get(t, h, http.MethodHead, "/app/main.js", nil); w.Code != http.StatusOK || w.Body.Len() != 0 {
		t.Errorf("HEAD /app/main.js: %d with %d bytes", w.Code, w.Body.Len())
	}
}

func TestConfigSaysWhetherWebChatIsBundled(t *testing.T) {
	t.Parallel()
	h := New()
	var cfg struct{ WebChat bool }
	if err := json.Unmarshal(get(t, h, http.MethodGet, "/app/config.json", nil).Body.Bytes(), &cfg); err != nil {
		t.Fatal(err)
	}
	served := get(t, h, http.MethodGet, WebChatPath, nil).Code == http.StatusOK
	if cfg.WebChat != h.HasWebChat() || served != h.HasWebChat() {
		t.Errorf("config says webChat=%v, HasWebChat=%v, served=%v", cfg.WebChat, h.HasWebChat(), served)
	}
}
