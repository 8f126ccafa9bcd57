package kafkahub_test

import (
	"context"
	"crypto/tls"
	"fmt"

	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/herald/herald/internal/hub"
	"github.com/herald/herald/internal/hub/kafkahub"
)

// A hub on a Kafka cluster (here franz-go's in-process kfake): a consumer
// group reads what was published, in batches, and acks it.
func ExampleConnect() {
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		panic(err)
	}
	defer cluster.Close()
	ctx := context.Background()
	h, err := kafkahub.Connect(ctx, kafkahub.Options{Brokers: cluster.ListenAddrs()})
	if err != nil {
		panic(err)
	}
	defer h.Close()

	err = h.Publish(ctx, hub.TopicEvents,
		hub.Message{Key: "user-42", ID: "evt-1", Data: []byte("training due")},
		hub.Message{Key: "user-42", ID: "evt-2", Data: []byte("laptop ready")},
	)
	if err != nil {
		panic(err)
	}

	ctx, stop := context.WithCancel(ctx)
	seen := 0
	err = h.Consume(ctx, hub.TopicEvents, "handler", hub.ConsumeOptions{}, func(_ context.Context, batch []hub.Delivery) {
		for _, d := range batch {
			fmt.Printf("%s %s attempt %d\n", d.Message().ID, d.Message().Data, d.Attempt())
			if err := d.Ack(); err != nil {
				panic(err)
			}
			if seen++; seen == 2 {
				stop()
			}
		}
	})
	fmt.Println("consume returned", err)
	// Output:
	// evt-1 training due attempt 1
	// evt-2 laptop ready attempt 1
	// consume returned <nil>
}

// The options for Azure Event Hubs' Kafka endpoint: TLS, SASL PLAIN with the
// namespace's connection string, and event hubs created beforehand.
func ExampleOptions_eventHubs() {
	opts := kafkahub.Options{
		Brokers: []string{"mynamespace.servicebus.windows.net:9093"},
		TLS:     &tls.Config{MinVersion: tls.VersionTLS12},
		SASL: &kafkahub.SASL{
			Mechanism: kafkahub.MechanismPlain,
			User:      "$ConnectionString",
			Password:  "Endpoint=sb://mynamespace.servicebus.windows.net/;SharedAccessKeyName=herald;SharedAccessKey=...",
		},
		NoCreateTopics: true, // herald.events, herald.deliveries and herald.dlq exist as event hubs
	}
	fmt.Println(opts.Brokers[0], opts.SASL.Mechanism)
	// Output: mynamespace.servicebus.windows.net:9093 PLAIN
}
