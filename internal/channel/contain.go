package channel

import (
	"fmt"
	"log/slog"
	"runtime/debug"
)

// Contain calls send and turns a panic in it into an error worth retrying,
// so that a bug in one concurrent send (or another step a channel runs in a
// goroutine of its own) fails that step's jobs (retried, then dead-lettered)
// instead of stopping the process. The panic is logged with the event id,
// the address's id or the step's name, and the stack, never with the
// notification's content.
func Contain(log *slog.Logger, eventID, addressID string, send func() error) (err error) {
	defer func() {
		if p := recover(); p != nil {
			log.Error("a delivery step panicked; its jobs will be retried", "event", eventID, "address", addressID,
				"panic", fmt.Sprint(p), "stack", string(debug.Stack()))
			err = fmt.Errorf("panic: %v", p)
		}
	}()
	return send()
}
