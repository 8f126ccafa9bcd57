package app_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/herald/herald/internal/client"
	"github.com/herald/herald/internal/event"
	"github.com/herald/herald/internal/testenv"
)

// dlProject is the Node project with the official DirectLineJS client.
var dlProject = filepath.Join("..", "directline", "testdata", "node")

// TestDirectLineJSWithHerald: the official botframework-directlinejs client
// talks to herald's assistant through herald's Direct Line (the conversation
// is stored), an event is ingested for the person and the proactive message
// arrives; it disconnects, another event is delivered, and reconnecting from
// its watermark brings the missed one (internal/directline/testdata/node/herald.mjs).
func TestDirectLineJSWithHerald(t *testing.T) {
	t.Parallel()
	node, err := testenv.Node(filepath.Join(dlProject, "node_modules", "botframework-directlinejs", "package.json"))
	testenv.Need(t, err, "the DirectLineJS test", "install Node.js 20+ and run: scripts/node-deps.sh")
	b := setup(t, "")
	var conv struct{ Token string }
	if err := b.reader.Do(context.Background(), http.MethodPost, client.UserPath("ada", "/directline/token"), "application/json", []byte(`{"name":"Ada"}`), &conv); err != nil {
		t.Fatal(err)
	}
	var n atomic.Int64
	control := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var in struct{ Message string }
		if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		resp, err := b.producer.PostEvents(r.Context(), event.MediaCloudEvent, cloudEvent(fmt.Sprintf("dljs-%d", n.Add(1)), []string{"ada"}, in.Message, nil))
		if err != nil || len(resp.Accepted) != 1 {
			http.Error(w, fmt.Sprintf("ingest: %v", err), http.StatusBadGateway)
			return
		}
		for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
			var st statusDoc
			if b.reader.Do(r.Context(), http.MethodGet, "/v1/events/"+resp.Accepted[0].ID, "", nil, &st) == nil && st.State == "completed" {
				if st.Channels["conversation"].Outcomes["delivered"] != 1 {
					http.Error(w, fmt.Sprintf("conversation outcomes %v", st.Channels["conversation"].Outcomes), http.StatusConflict)
				}
				return
			}
		}
		http.Error(w, "not delivered within 15 s", http.StatusGatewayTimeout)
	}))
	t.Cleanup(control.Close)

	runNode(t, node, dlProject, "herald.mjs", "directlinejs: ok", 90*time.Second,
		"DL_DOMAIN="+b.url+"/v3/directline", "DL_TOKEN="+conv.Token, "DL_CONTROL="+control.URL)
}
