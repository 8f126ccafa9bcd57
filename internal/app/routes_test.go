package app_test

import (
	"context"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/herald/herald/internal/auth"
	"github.com/herald/herald/internal/event"
	"github.com/herald/herald/internal/httpapi"
	"github.com/herald/herald/internal/store"
)

// TestEveryRouteIsProtected walks every route the API registers (so a
// route added later is checked without touching this test) and calls it
// without a key (401), with each role the route does not allow (403), and
// with each role it allows (neither 401 nor 403). Path parameters are filled
// with things that exist: an event, a person, a topic, a device, a dead
// letter. A user session is tried on its own person's routes, and on
// another person's (403).
func TestEveryRouteIsProtected(t *testing.T) {
	t.Parallel()
	b := setup(t, "")
	ctx := context.Background()

	// Things for the path parameters to name.
	ev := b.post(t, event.MediaCloudEvent, cloudEvent("routes", []string{"kim"}, "x", nil))
	b.waitCompleted(t, ev.ids[0])
	if err := b.admin.Do(ctx, http.MethodPost, "/v1/topics", "application/json", []byte(`{"name": "route-topic"}`), nil); err != nil {
		t.Fatal(err)
	}
	var dev struct {
		ID string `json:"id"`
	}
	if err := b.admin.Do(ctx, http.MethodPost, "/v1/users/kim/devices", "application/json", []byte(`{"platform": "fcm", "token": "route-token"}`), &dev); err != nil {
		t.Fatal(err)
	}
	b.poison(t, "routes", 1)
	dl := b.deadLetters(t).DeadLetters[0].Seq
	params := map[string]string{
		"id":       ev.ids[0], // an event, or a notification (same id)
		"userId":   "kim",
		"name":     "route-topic",
		"deviceId": dev.ID,
		"seq":      fmt.Sprint(dl),
	}
	session := func(user string) string {
		var s struct {
			Token string `json:"token"`
		}
		if err := b.admin.Do(ctx, http.MethodPost, "/v1/users/"+user+"/session", "", nil, &s); err != nil {
			t.Fatalf("session for %s: %v", user, err)
		}
		return s.Token
	}
	creds := map[store.Role]string{
		store.RoleProducer: b.keys[store.RoleProducer],
		store.RoleReader:   b.keys[store.RoleReader],
		store.RoleAdmin:    b.keys[store.RoleAdmin],
		auth.RoleUser:      session("kim"),
	}
	otherUser := session("someone-else")

	hc := &http.Client{Timeout: 10 * time.Second}
	call := func(method, path, cred string) (int, string) {
		t.Helper()
		rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		req, err := http.NewRequestWithContext(rctx, method, b.url+path, strings.NewReader("{}"))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/json")
		if cred != "" {
			req.Header.Set("Authorization", "Bearer "+cred)
		}
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v", method, path, err)
		}
		defer resp.Body.Close() // a stream ends here, once its headers are in
		buf := make([]byte, 512)
		n, _ := resp.Body.Read(buf)
		return resp.StatusCode, string(buf[:n])
	}

	param := regexp.MustCompile(`\{([A-Za-z]+)(?:\.\.\.)?\}`)
	routes := b.app.API.Routes()
	if len(routes) < 20 {
		t.Fatalf("only %d routes registered", len(routes))
	}
	// Routes that remove what others name run last.
	removes := func(r httpapi.Route) int {
		if r.Method == http.MethodDelete || strings.HasSuffix(r.Pattern, ":purge") {
			return 1
		}
		return 0
	}
	slices.SortStableFunc(routes, func(x, y httpapi.Route) int { return removes(x) - removes(y) })
	for _, r := range routes {
		path := param.ReplaceAllStringFunc(r.Pattern, func(m string) string {
			name := param.FindStringSubmatch(m)[1]
			v, ok := params[name]
			if !ok {
				t.Logf("%s %s: no value for {%s}; add one to this test so the route is called with a real one", r.Method, r.Pattern, name)
				v = "x"
			}
			return v
		})
		route := r.Method + " " + r.Pattern
		if s, body := call(r.Method, path, ""); s != http.StatusUnauthorized {
			t.Errorf("%s without a key: %d %s, want 401", route, s, body)
		}
		if s, _ := call(r.Method, path, "hrd_0000_nope"); s != http.StatusUnauthorized {
			t.Errorf("%s with an unknown key: %d, want 401", route, s)
		}
		for _, role := range []store.Role{store.RoleProducer, store.RoleReader, auth.RoleUser, store.RoleAdmin} {
			s, body := call(r.Method, path, creds[role])
			allowed := slices.Contains(r.Roles, role)
			switch {
			case !allowed && s != http.StatusForbidden:
				t.Errorf("%s as %s: %d %s, want 403", route, role, s, body)
			case allowed && (s == http.StatusUnauthorized || s == http.StatusForbidden):
				t.Errorf("%s as %s, which it allows: %d %s", route, role, s, body)
			}
		}
		if slices.Contains(r.Roles, auth.RoleUser) && strings.Contains(r.Pattern, "{userId}") {
			if s, body := call(r.Method, path, otherUser); s != http.StatusForbidden {
				t.Errorf("%s with another person's session: %d %s, want 403", route, s, body)
			}
		}
	}
	t.Logf("checked %d routes", len(routes))
}
