package app_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/herald/herald/internal/app"
	"github.com/herald/herald/internal/event"
	"github.com/herald/herald/internal/testenv"
)

// TestExternalHubs runs the spine and a broadcast on each hub driver a
// deployment can pick: an external NATS server (127.0.0.1:4222) and Kafka
// (franz-go's in-process kfake cluster on a loopback port).
func TestExternalHubs(t *testing.T) {
	t.Parallel()
	t.Run("nats", func(t *testing.T) {
		t.Parallel()
		nc := testenv.NATS(t)
		prefix := fmt.Sprintf("APPTEST%d", time.Now().UnixNano())
		testenv.DeleteStreamsAtCleanup(t, nc, prefix)
		exerciseHub(t, app.HubOptions{URL: testenv.NATSURL, Prefix: prefix})
	})
	t.Run("kafka", func(t *testing.T) {
		t.Parallel()
		cluster, err := kfake.NewCluster(kfake.NumBrokers(1))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(cluster.Close)
		exerciseHub(t, app.HubOptions{URL: "kafka://" + strings.Join(cluster.ListenAddrs(), ",")})
	})
}

func exerciseHub(t *testing.T, h app.HubOptions) {
	b := setupWith(t, app.Options{Hub: h})
	a := b.post(t, event.MediaCloudEvent, cloudEvent("hub-1", []string{"zoe"}, "through the hub", nil))
	st := b.waitCompleted(t, a.ids[0])
	if st.Channels["inbox"].Outcomes["delivered"] != 1 {
		t.Fatalf("status %+v", st)
	}
	b.importCSV(t, "id,topics\nz1,team\nz2,team\nz3,other\n")
	bc := b.post(t, event.MediaCloudEvent, broadcastEvent("hub-bc", map[string]any{"topics": []string{"team"}}, nil))
	if got := b.waitBroadcast(t, bc.ids[0]).Broadcast.Recipients; got != 2 {
		t.Fatalf("broadcast reached %d, want 2", got)
	}
}
