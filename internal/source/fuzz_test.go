package source

import (
	"context"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"testing"

	"github.com/herald/herald/internal/event"
)

// FuzzMap runs every shipped example's mapping on arbitrary payloads: it
// never panics or hangs, and it either filters, fails naming a step or a
// field, or yields a deliverable event. The seed corpus (testdata/fuzz) holds
// the shipped samples and payloads that reach each kind of failure.
func FuzzMap(f *testing.F) {
	reg, err := LoadDir(examplesDir, LoadOptions{})
	if err != nil {
		f.Fatal(err)
	}
	samples, _ := filepath.Glob(filepath.Join(examplesDir, "samples", "*.json"))
	for _, s := range samples {
		b, err := os.ReadFile(s)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b, "")
	}
	sources := reg.List()
	f.Fuzz(func(t *testing.T, body []byte, eventType string) {
		for _, src := range sources {
			res, err := src.Map(context.Background(), body, http.Header{"X-Event-Type": {eventType}}, received)
			var me *MapError
			var ve *event.ValidationError
			switch {
			case errors.As(err, &me):
				if me.Step == "" || me.Problem == "" {
					t.Fatalf("%s: MapError without step or problem: %+v", src.Name(), me)
				}
			case errors.As(err, &ve):
				for _, fe := range ve.Errors {
					if fe.Field == "" || fe.Problem == "" {
						t.Fatalf("%s: FieldError without field or problem: %+v", src.Name(), fe)
					}
				}
			case err != nil:
				t.Fatalf("%s: error %T %v; want *MapError or *event.ValidationError", src.Name(), err, err)
			case res.Filtered:
			default:
				ev := res.Event
				if ev.ID != event.IDFor(ev.Source, ev.SourceID) || ev.Type == "" || ev.Notification.Message == "" {
					t.Fatalf("%s: accepted an incomplete event %+v", src.Name(), ev)
				}
				if ev.Audience.Empty() {
					t.Fatalf("%s: accepted an event without recipients %+v", src.Name(), ev)
				}
			}
		}
	})
}
