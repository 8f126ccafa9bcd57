package app

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"time"

	"github.com/herald/herald/internal/event"
	"github.com/herald/herald/internal/handler"
	"github.com/herald/herald/internal/templates"
)

// TimingOptions configure when notifications go out and with what text:
// digests, escalation, templates and the loop that fires durable timers
// (deliverAt, digest windows, escalations). See docs/timing.md.
type TimingOptions struct {
	// Digests maps a category to its digest window: a person's
	// notifications of the category reach the conversation, mobile and
	// webpush channels as one digest when the window ends; the inbox gets
	// each one at once. Urgent notifications are not digested.
	Digests map[string]time.Duration
	// Escalations maps a category to how long its notifications may stay
	// unread in the inbox before they are sent to the person's devices
	// (mobile, webpush); a notification's escalateAfter wins.
	Escalations map[string]time.Duration
	// TemplatesDir is a directory of notification templates per category
	// and locale (see package templates); "" means none.
	TemplatesDir string
	// TimerEvery is how often the handler looks for due timers; 0 means
	// every second.
	TimerEvery time.Duration
	// Now is the handler's clock; nil means time.Now. Tests set it.
	Now func() time.Time
}

// maxWindow bounds digest windows and escalation delays set on the server.
const maxWindow = 7 * 24 * time.Hour

// apply checks the options and sets them on a handler configuration.
func (o TimingOptions) apply(cfg *handler.Config) error {
	check := func(flag string, m map[string]time.Duration, min time.Duration, minText string) error {
		for _, cat := range slices.Sorted(maps.Keys(m)) {
			if msg := event.CheckTopic(cat); msg != "" {
				return fmt.Errorf("--%s %s: not a category name: category names are 1-64 lower-case letters, digits, '.', '_' or '-'", flag, cat)
			}
			if d := m[cat]; d < min || d > maxWindow {
				return fmt.Errorf("--%s %s=%s: give a duration from %s to 168h", flag, cat, d, minText)
			}
		}
		return nil
	}
	if err := check("digest", o.Digests, time.Second, "1s"); err != nil {
		return err
	}
	if err := check("escalate", o.Escalations, event.MinEscalation, "1m"); err != nil {
		return err
	}
	if o.TimerEvery < 0 {
		return fmt.Errorf("--timer-interval %s must not be negative", o.TimerEvery)
	}
	cfg.Digests, cfg.Escalations, cfg.TimerEvery, cfg.Now = o.Digests, o.Escalations, o.TimerEvery, o.Now
	if o.TemplatesDir != "" {
		set, err := templates.Load(o.TemplatesDir)
		if err != nil {
			return fmt.Errorf("--templates: %w", err)
		}
		cfg.Templates = set
	}
	return nil
}

// logTiming says at start what timing rules are in force.
func logTiming(log *slog.Logger, o TimingOptions, cfg handler.Config) {
	if len(o.Digests) == 0 && len(o.Escalations) == 0 && cfg.Templates.Len() == 0 {
		return
	}
	log.Info("timing", "digests", fmt.Sprint(o.Digests), "escalations", fmt.Sprint(o.Escalations), "templates", cfg.Templates.Len())
}

// FireTimers fires the timers due at now, as the handler's timer loop does
// every TimerEvery, and returns how many fired. Tests drive time with it.
func (a *App) FireTimers(ctx context.Context, now time.Time) (int, error) {
	return a.handler.Tick(ctx, now)
}
