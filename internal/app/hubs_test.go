package app_test

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/herald/herald/internal/app"
	"github.com/herald/herald/internal/event"
)

// TestExternalHubs runs the spine and a broadcast on each hub driver a
// deployment can pick: an external NATS server (127.0.0.1:4222) and Kafka
// (franz-go's in-process kfake cluster on a loopback port).
func TestExternalHubs(t *testing.T) {
	t.Parallel()
	t.Run("nats", func(t *testing.T) {
		t.Parallel()
		const url = "nats://127.0.0.1:4222"
		nc, err := nats.Connect(url, nats.Timeout(2*time.Second))
		if err != nil {
			if os.Getenv("CI") == "true" {
				t.Fatalf("CI needs nats-server with JetStream at %s: %v", url, err)
			}
			t.Skipf("no NATS at %s: %v", url, err)
		}
		defer nc.Close()
		prefix := fmt.Sprintf("APPTEST%d", time.Now().UnixNano())
		t.Cleanup(func() {
			js, err := jetstream.New(nc)
			if err != nil {
				return
			}
			for name := range js.StreamNames(context.Background()).Name() {
				if strings.HasPrefix(name, prefix) {
					_ = js.DeleteStream(context.Background(), name)
				}
			}
		})
		exerciseHub(t, app.HubOptions{URL: url, Prefix: prefix})
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
