package handler

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/herald/herald/internal/channel"
	"github.com/herald/herald/internal/event"
	"github.com/herald/herald/internal/prefs"
	"github.com/herald/herald/internal/store"
)

// addressBook is a channel.Addresser that knows a fixed set of people.
type addressBook map[string]bool

func (a addressBook) Reachable(_ context.Context, users []string) (map[string]bool, string, error) {
	out := map[string]bool{}
	for _, u := range users {
		if a[u] {
			out[u] = true
		}
	}
	return out, "nobody here", nil
}

// TestPeopleWithoutAnAddressAreUnreachableAtPlanning: on a channel whose
// addresses live in the store, a person without one is recorded
// unreachable when the event is planned and no delivery is queued for them.
func TestPeopleWithoutAnAddressAreUnreachableAtPlanning(t *testing.T) {
	tm := newTiming(t, Config{Addresser: func(ch string) (channel.Addresser, bool) {
		if ch == prefs.Conversation {
			return addressBook{"ada": true}, true
		}
		return nil, false
	}})
	ev := notification("ev-1", []string{"ada", "bob"}, event.Notification{Message: "hello"})
	tm.send(t, ev)
	if o, why := tm.outcome(t, ev.ID, "bob", prefs.Conversation); o != store.Unreachable || !strings.Contains(why, "nobody here") {
		t.Fatalf("bob's conversation outcome = %s %q, want unreachable with the channel's reason", o, why)
	}
	var conv []string
	for _, b := range tm.hub.take() {
		if b.Channel != prefs.Conversation {
			continue
		}
		for _, it := range b.Items {
			conv = append(conv, it.Users...)
		}
	}
	if !slices.Equal(conv, []string{"ada"}) {
		t.Fatalf("conversation deliveries queued for %v, want only ada", conv)
	}
}
