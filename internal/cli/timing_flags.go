package cli

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/herald/herald/internal/app"
)

// timingFlags registers the settings of digests, escalation, templates and
// the timer loop.
func timingFlags(cmd *cobra.Command, o *app.TimingOptions) {
	f := cmd.Flags()
	f.Var(&durationMap{m: &o.Digests}, "digest", "digest windows per category, such as marketing=1h: within a window a person's notifications of the category reach conversation, mobile and webpush as one digest when it ends (the inbox gets each at once); repeat or separate with commas")
	f.Var(&durationMap{m: &o.Escalations}, "escalate", "escalation per category, such as training=30m: a notification still unread in the inbox after that long is sent to the person's devices (mobile, webpush), which wait until then; a notification's escalateAfter wins")
	f.StringVar(&o.TemplatesDir, "templates", "", "directory of notification templates: <category>.tmpl and <locale>/<category>.tmpl (Go text/template), rendered per person in their locale (see docs/timing.md)")
	f.DurationVar(&o.TimerEvery, "timer-interval", time.Second, "how often the handler fires due timers (scheduled deliverAt, digest windows, escalations)")
}

// durationMap is a flag of category=duration pairs.
type durationMap struct{ m *map[string]time.Duration }

func (d *durationMap) Set(v string) error {
	if *d.m == nil {
		*d.m = map[string]time.Duration{}
	}
	for pair := range strings.SplitSeq(v, ",") {
		pair = strings.TrimSpace(pair)
		if pair == "" {
			continue
		}
		cat, dur, ok := strings.Cut(pair, "=")
		if !ok {
			return fmt.Errorf("%q: give category=duration, such as marketing=1h", pair)
		}
		t, err := time.ParseDuration(strings.TrimSpace(dur))
		if err != nil {
			return fmt.Errorf("%q: %q is not a duration such as 30m or 1h", pair, dur)
		}
		(*d.m)[strings.TrimSpace(cat)] = t
	}
	return nil
}

func (d *durationMap) String() string {
	if d.m == nil || len(*d.m) == 0 {
		return ""
	}
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(*d.m)) {
		parts = append(parts, k+"="+shortDuration((*d.m)[k]))
	}
	return strings.Join(parts, ",")
}

func (d *durationMap) Type() string { return "category=duration" }

// shortDuration writes d without zero units: 30m, 1h, 1h30m.
func shortDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}
