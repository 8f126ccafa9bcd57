package delivery

import (
	"math/rand/v2"
	"time"
)

// Backoff is the delay before the attempt after attempt: exponential from
// 500 ms, capped at five minutes, with jitter over the upper half.
func Backoff(attempt int) time.Duration {
	if attempt < 1 {
		attempt = 1
	}
	d := 500 * time.Millisecond << min(attempt-1, 10)
	if d > 5*time.Minute {
		d = 5 * time.Minute
	}
	return d/2 + rand.N(d/2+1)
}
