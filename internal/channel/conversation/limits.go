package conversation

import (
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Window is one rate limit: at most N sends in any Per.
type Window struct {
	N   int
	Per time.Duration
}

// Limits are the send rates the channel keeps to.
type Limits struct {
	// PerConversation are the windows a bot must respect in one
	// conversation; nil means TeamsConversationLimits.
	PerConversation []Window
	// PerTenant bounds sends per second to one tenant (all of Teams' in a
	// tenant count together); 0 means 50.
	PerTenant float64
}

// TeamsConversationLimits are Teams' documented limits per bot per
// conversation: 7 in 1 s, 8 in 2 s, 60 in 30 s, 1800 in an hour.
var TeamsConversationLimits = []Window{
	{7, time.Second}, {8, 2 * time.Second}, {60, 30 * time.Second}, {1800, time.Hour},
}

// DefaultTenantRate is Teams' global limit per app per tenant.
const DefaultTenantRate = 50

func (l Limits) withDefaults() Limits {
	if l.PerConversation == nil {
		l.PerConversation = TeamsConversationLimits
	}
	if l.PerTenant <= 0 {
		l.PerTenant = DefaultTenantRate
	}
	return l
}

// slidingLog enforces windows exactly, as Teams counts them: a send is
// allowed at T when fewer than N sends fall in (T-Per, T] for every window.
// It keeps the times of recent (and reserved) sends, oldest first, and
// sends in one conversation keep their order.
type slidingLog struct {
	windows []Window
	times   []time.Time
	used    time.Time
}

// margin widens every window a little, so that sends a network hop
// reorders or bunches up still fit the channel's own count.
const margin = 20

// reserve returns when the next send may go, and records it.
func (l *slidingLog) reserve(now time.Time) time.Time {
	at := now
	if n := len(l.times); n > 0 && l.times[n-1].After(at) {
		at = l.times[n-1]
	}
	for _, w := range l.windows {
		if n := len(l.times); n >= w.N {
			if t := l.times[n-w.N].Add(w.Per + w.Per/margin); t.After(at) {
				at = t
			}
		}
	}
	l.times = append(l.times, at)
	// Forget sends older than every window.
	var longest time.Duration
	for _, w := range l.windows {
		longest = max(longest, w.Per+w.Per/margin)
	}
	drop := 0
	for drop < len(l.times)-1 && at.Sub(l.times[drop]) > longest {
		drop++
	}
	if drop > 0 {
		l.times = append(l.times[:0], l.times[drop:]...)
	}
	l.used = now
	return at
}

// cancel forgets a reserved send.
func (l *slidingLog) cancel(at time.Time) {
	for i := len(l.times) - 1; i >= 0; i-- {
		if l.times[i].Equal(at) {
			l.times = append(l.times[:i], l.times[i+1:]...)
			return
		}
	}
}

// reservation is one send reserved in a conversation and a tenant.
type reservation struct {
	l      *limiters
	log    *slidingLog
	at     time.Time
	tenant *rate.Reservation
}

// delay is how long the send must wait.
func (r reservation) delay(now time.Time) time.Duration {
	return max(r.at.Sub(now), r.tenant.DelayFrom(now), 0)
}

// cancel gives the reservation back.
func (r reservation) cancel(now time.Time) {
	r.tenant.CancelAt(now)
	r.l.mu.Lock()
	r.log.cancel(r.at)
	r.l.mu.Unlock()
}

// limiters holds the buckets of conversations and tenants.
type limiters struct {
	limits Limits

	mu      sync.Mutex
	convs   map[string]*slidingLog
	tenants map[string]*rate.Limiter
}

func newLimiters(l Limits) *limiters {
	return &limiters{limits: l.withDefaults(), convs: map[string]*slidingLog{}, tenants: map[string]*rate.Limiter{}}
}

// pruneAt is how many conversations are tracked before those idle longer
// than the longest window (whose logs no longer matter) are forgotten.
const pruneAt = 100_000

// reserve reserves one send into conversation conv of tenant.
func (l *limiters) reserve(conv, tenant string, now time.Time) reservation {
	l.mu.Lock()
	defer l.mu.Unlock()
	log := l.convs[conv]
	if log == nil {
		if len(l.convs) >= pruneAt {
			l.prune(now)
		}
		log = &slidingLog{windows: l.limits.PerConversation}
		l.convs[conv] = log
	}
	t := l.tenants[tenant]
	if t == nil {
		t = rate.NewLimiter(rate.Limit(l.limits.PerTenant), max(1, int(l.limits.PerTenant)))
		l.tenants[tenant] = t
	}
	return reservation{l: l, log: log, at: log.reserve(now), tenant: t.ReserveN(now, 1)}
}

// prune forgets conversations idle longer than the longest window.
func (l *limiters) prune(now time.Time) {
	var longest time.Duration
	for _, w := range l.limits.PerConversation {
		longest = max(longest, w.Per)
	}
	for k, log := range l.convs {
		if now.Sub(log.used) > longest {
			delete(l.convs, k)
		}
	}
}

// Predict estimates how long sending one message to each of n people
// (one conversation each, one tenant) takes under the limits: the tenant
// rate governs, after its initial burst.
func (l Limits) Predict(n int) time.Duration {
	l = l.withDefaults()
	burst := max(1, int(l.PerTenant))
	if n <= burst {
		return 0
	}
	return time.Duration(float64(n-burst) / l.PerTenant * float64(time.Second))
}
