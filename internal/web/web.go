package web

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"io/fs"
	"net/http"
	"path"
	"strings"
	"time"
)

//go:embed assets
var assets embed.FS

// WebChatPath is where the Web Chat bundle is served when the build
// included it.
const WebChatPath = "/app/vendor/webchat.js"

// ContentSecurityPolicy is sent with every response: scripts, styles,
// connections (the API, SSE, Direct Line and its WebSocket) and workers
// come from this origin only. Web Chat injects its styles at run time,
// hence 'unsafe-inline' for styles (never for scripts).
const ContentSecurityPolicy = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; " +
	"img-src 'self' data: blob:; font-src 'self' data:; media-src 'self' data: blob:; connect-src 'self'; " +
	"worker-src 'self'; manifest-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

// contentTypes are the types of the files served; others are not served.
var contentTypes = map[string]string{
	".html":        "text/html; charset=utf-8",
	".js":          "text/javascript; charset=utf-8",
	".css":         "text/css; charset=utf-8",
	".svg":         "image/svg+xml",
	".webmanifest": "application/manifest+json",
}

type file struct {
	data  []byte
	ctype string
	etag  string
}

// Handler serves the web app.
type Handler struct {
	files map[string]file // by URL path
}

// New returns the web app's handler; mount it at "/".
func New() *Handler {
	h := &Handler{files: map[string]file{}}
	_ = fs.WalkDir(assets, "assets", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		ctype, ok := contentTypes[path.Ext(p)]
		if !ok {
			return nil
		}
		data, err := assets.ReadFile(p)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(data)
		h.files[strings.TrimPrefix(p, "assets")] = file{data: data, ctype: ctype, etag: `"` + hex.EncodeToString(sum[:12]) + `"`}
		return nil
	})
	h.files["/"] = h.files["/index.html"]
	// What the build included, for the app to ask without a failing request.
	_, webChat := h.files[WebChatPath]
	cfg := []byte(fmt.Sprintf("{\"webChat\":%t}\n", webChat))
	sum := sha256.Sum256(cfg)
	h.files["/app/config.json"] = file{data: cfg, ctype: "application/json", etag: `"` + hex.EncodeToString(sum[:12]) + `"`}
	return h
}

// HasWebChat reports whether the build included the Web Chat bundle.
func (h *Handler) HasWebChat() bool {
	_, ok := h.files[WebChatPath]
	return ok
}

// ServeHTTP serves "/" (the app's page) and the files under "/app/".
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	hd := w.Header()
	hd.Set("Content-Security-Policy", ContentSecurityPolicy)
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("Referrer-Policy", "no-referrer")
	hd.Set("X-Frame-Options", "DENY")
	f, ok := h.files[r.URL.Path]
	if !ok || (r.URL.Path != "/" && !strings.HasPrefix(r.URL.Path, "/app/")) {
		hd.Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(http.StatusNotFound)
		_, _ = w.Write([]byte("404 not found: the web app is at /\n"))
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		hd.Set("Allow", "GET, HEAD")
		http.Error(w, "405 method not allowed", http.StatusMethodNotAllowed)
		return
	}
	hd.Set("Content-Type", f.ctype)
	hd.Set("ETag", f.etag)
	// Revalidate every time (a 304 costs a round trip, no body): a new
	// herald version changes the files behind the same names.
	hd.Set("Cache-Control", "no-cache")
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(f.data))
}
