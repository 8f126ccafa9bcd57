// Package live fans newly delivered inbox notifications out to the open
// streams (Server-Sent Events) of the people they are for, inside one
// process. It never blocks a publisher: a subscriber that cannot keep up is
// told it missed items and is expected to re-read its inbox.
package live

import (
	"sync"

	"github.com/herald/herald/internal/store"
)

// Subscription receives a person's new notifications.
type Subscription struct {
	// C carries the notifications in delivery order.
	C <-chan store.InboxItem
	// Overflow is closed if the subscriber fell behind and items were dropped.
	Overflow <-chan struct{}

	c        chan store.InboxItem
	overflow chan struct{}
	once     sync.Once
	userID   string
	broker   *Broker
}

// Broker routes notifications to subscriptions by user id.
type Broker struct {
	mu     sync.RWMutex
	byUser map[string]map[*Subscription]struct{}
	all    map[*Subscription]struct{}
	buffer int
}

// NewBroker returns a broker whose subscriptions buffer up to buffer items.
func NewBroker(buffer int) *Broker {
	if buffer <= 0 {
		buffer = 64
	}
	return &Broker{byUser: map[string]map[*Subscription]struct{}{}, all: map[*Subscription]struct{}{}, buffer: buffer}
}

// Subscribe starts a subscription to userID's notifications; an empty
// userID subscribes to everyone's (used by benchmarks and operators).
// Close it when done.
func (b *Broker) Subscribe(userID string) *Subscription {
	return b.SubscribeBuffered(userID, b.buffer)
}

// SubscribeBuffered is Subscribe with its own buffer size, for a
// subscriber that takes many people's notifications at once.
func (b *Broker) SubscribeBuffered(userID string, buffer int) *Subscription {
	s := &Subscription{c: make(chan store.InboxItem, buffer), overflow: make(chan struct{}), userID: userID, broker: b}
	s.C, s.Overflow = s.c, s.overflow
	b.mu.Lock()
	if userID == "" {
		b.all[s] = struct{}{}
	} else {
		set := b.byUser[userID]
		if set == nil {
			set = map[*Subscription]struct{}{}
			b.byUser[userID] = set
		}
		set[s] = struct{}{}
	}
	b.mu.Unlock()
	return s
}

// Close ends the subscription.
func (s *Subscription) Close() {
	b := s.broker
	b.mu.Lock()
	if s.userID == "" {
		delete(b.all, s)
	} else if set := b.byUser[s.userID]; set != nil {
		delete(set, s)
		if len(set) == 0 {
			delete(b.byUser, s.userID)
		}
	}
	b.mu.Unlock()
}

// Watched reports whether anyone follows userID's stream.
func (b *Broker) Watched(userID string) bool {
	b.mu.RLock()
	defer b.mu.RUnlock()
	return len(b.byUser[userID]) > 0 || len(b.all) > 0
}

// Publish hands items to their owners' subscriptions without blocking.
func (b *Broker) Publish(items []store.InboxItem) {
	b.mu.RLock()
	defer b.mu.RUnlock()
	if len(b.byUser) == 0 && len(b.all) == 0 {
		return
	}
	for _, it := range items {
		for s := range b.byUser[it.UserID] {
			s.send(it)
		}
		for s := range b.all {
			s.send(it)
		}
	}
}

func (s *Subscription) send(it store.InboxItem) {
	select {
	case s.c <- it:
	default:
		s.once.Do(func() { close(s.overflow) })
	}
}
