package natshub_test

import (
	"context"
	"fmt"
	"os"

	"github.com/herald/herald/internal/hub"
	"github.com/herald/herald/internal/hub/natshub"
)

// An embedded hub stores under the data directory; a consumer group reads
// what was published, in batches, and acks it.
func ExampleEmbedded() {
	dir, err := os.MkdirTemp("", "herald-hub-example")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(dir)
	ctx := context.Background()
	h, err := natshub.Embedded(ctx, dir, natshub.Options{})
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
