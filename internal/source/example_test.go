package source_test

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/herald/herald/internal/source"
)

// A definition maps an upstream payload to herald's canonical event; a
// failure names the step at fault.
func ExampleSource_Map() {
	def := `
auth: {hmac: {secret: env:DEMO_SECRET, timestampHeader: X-Timestamp}}
filter: '.event == "laptop.ready"'
map:
  id: '.ticket | tostring'
  type: '"com.example.it.laptop.ready"'
  audience: '{users: [.owner]}'
  notification: '{title: "Laptop ready", message: "Pick it up at \(.desk)."}'
`
	src, err := source.Parse("it.yaml", []byte(def), source.LoadOptions{
		Secrets:   true,
		LookupEnv: func(string) (string, bool) { return "demo-secret", true },
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	now := time.Now()
	body := []byte(`{"event": "laptop.ready", "ticket": 1001, "owner": "bob", "desk": "building B"}`)
	h := http.Header{}
	_ = src.Sign(h, body, now) // what the upstream system does
	fmt.Println("verify:", src.Verify(h, body, now))

	res, _ := src.Map(context.Background(), body, h, now)
	ev := res.Event
	fmt.Println(ev.Source, ev.SourceID, ev.Audience.Users, ev.Notification.Message)

	res, _ = src.Map(context.Background(), []byte(`{"event": "laptop.lost"}`), h, now)
	fmt.Println("filtered:", res.Filtered)

	_, err = src.Map(context.Background(), []byte(`{"event": "laptop.ready", "ticket": 1002, "owner": ["bob"]}`), h, now)
	fmt.Println(err)
	// Output:
	// verify: <nil>
	// urn:herald:source:it 1001 [bob] Pick it up at building B.
	// filtered: true
	// invalid event: data.audience.users[0]: must be a string, got array (from map.audience)
}
