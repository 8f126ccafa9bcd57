package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestTimingSettings: --digest and --escalate take category=duration pairs
// from flags, the environment or a YAML list; bad ones are refused with the
// setting named.
func TestTimingSettings(t *testing.T) {
	t.Parallel()
	file := filepath.Join(t.TempDir(), "herald.yaml")
	if err := os.WriteFile(file, []byte("digest:\n  - marketing=1h\n  - news=30m\ntemplates: /etc/herald/templates\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	out := runCLI(t, []string{"HERALD_ESCALATE=training=30m,security=5m"}, "config", "print", "--config", file, "--timer-interval", "250ms")
	for _, want := range []string{
		"digest marketing=1h,news=30m file HERALD_DIGEST",
		"escalate security=5m,training=30m env HERALD_ESCALATE",
		"templates /etc/herald/templates file",
		"timer-interval 250ms flag HERALD_TIMER_INTERVAL",
	} {
		if !strings.Contains(strings.Join(strings.Fields(out), " "), want) {
			t.Errorf("config print lacks %q:\n%s", want, out)
		}
	}
	for _, tc := range []struct {
		args    []string
		problem string
	}{
		{[]string{"config", "print", "--digest", "marketing"}, "give category=duration, such as marketing=1h"},
		{[]string{"config", "print", "--escalate", "training=soon"}, `"soon" is not a duration`},
		{[]string{"serve", "--data", t.TempDir(), "--addr", "127.0.0.1:0", "--digest", "Marketing=1h"}, "--digest Marketing: not a category name"},
		{[]string{"serve", "--data", t.TempDir(), "--addr", "127.0.0.1:0", "--escalate", "training=10s"}, "--escalate training=10s: give a duration from 1m to 168h"},
		{[]string{"serve", "--data", t.TempDir(), "--addr", "127.0.0.1:0", "--templates", filepath.Join(t.TempDir(), "none")}, "--templates: templates:"},
	} {
		cmd := herald(t, tc.args...)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		if err := cmd.Run(); err == nil || !strings.Contains(stderr.String(), tc.problem) {
			t.Errorf("herald %s: err %v, stderr %q; want it refused with %q", strings.Join(tc.args, " "), err, stderr.String(), tc.problem)
		}
	}
}
