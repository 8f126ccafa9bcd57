package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// run runs a herald command to completion and returns its stdout, failing
// the test (with stderr) when it exits non-zero.
func runCLI(t *testing.T, env []string, args ...string) string {
	t.Helper()
	cmd := herald(t, args...)
	cmd.Env = append(cmd.Env, env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("herald %s: %v\nstderr: %s", strings.Join(args, " "), err, stderr.String())
	}
	return stdout.String()
}

// TestCommandLine drives the commands a person uses against a running
// server: a key created while it runs, send with --wait, prefs, produce from
// a JSONL file and synthetic load, and config print.
func TestCommandLine(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a server process")
	}
	dataDir := t.TempDir()
	addr := freeAddr(t)
	proc := startServe(t, dataDir, addr)
	t.Cleanup(proc.kill)

	key := strings.TrimSpace(runCLI(t, nil, "keys", "create", "--role", "admin", "--name", "cli-test", "--data", dataDir))
	if !strings.HasPrefix(key, "hrd_") || strings.Contains(key, "\n") {
		t.Fatalf("keys create printed %q, want the key alone", key)
	}
	if list := runCLI(t, nil, "keys", "list", "--data", dataDir); !strings.Contains(list, "cli-test") || strings.Contains(list, key) {
		t.Fatalf("keys list = %q: want the key's name and never its secret", list)
	}
	env := []string{"HERALD_SERVER=http://" + addr, "HERALD_KEY=" + key}

	out := runCLI(t, env, "send", "--user", "nina", "--title", "Training due", "--message", "Finish by Friday", "--wait", "10s")
	if !strings.Contains(out, "inbox") || !strings.Contains(out, "delivered 1") || !strings.Contains(out, "not_configured 1") {
		t.Fatalf("send --wait printed %q", out)
	}

	out = runCLI(t, env, "prefs", "set", "nina", "sendNotificationToMobileDevice=false", "categories.marketing=false", "timeZone=Europe/Paris")
	if !strings.Contains(out, `"sendNotificationToMobileDevice": false`) || !strings.Contains(out, `"marketing": false`) {
		t.Fatalf("prefs set printed %q", out)
	}
	if out = runCLI(t, env, "prefs", "get", "nina"); !strings.Contains(out, `"timeZone": "Europe/Paris"`) {
		t.Fatalf("prefs get printed %q", out)
	}

	file := filepath.Join(t.TempDir(), "events.jsonl")
	lines := `{"userId":"olga","message":"bare form"}
{"specversion":"1.0","id":"f2","source":"urn:file","type":"t","data":{"audience":{"users":["olga"]},"notification":{"message":"structured"}}}
`
	if err := os.WriteFile(file, []byte(lines), 0o600); err != nil {
		t.Fatal(err)
	}
	if out = runCLI(t, env, "produce", "--file", file); !strings.Contains(out, "2 accepted, 0 errors") {
		t.Fatalf("produce --file printed %q", out)
	}
	if out = runCLI(t, env, "produce", "--count", "300", "--rate", "1000", "--batch", "10", "--users", "20"); !strings.Contains(out, "300 accepted, 0 errors") {
		t.Fatalf("produce --count printed %q", out)
	}

	out = runCLI(t, []string{"HERALD_PARTITIONS=8"}, "config", "print", "--addr", ":9999")
	for _, want := range []string{"addr", ":9999", "flag", "partitions", "8", "env", "HERALD_MAX_ATTEMPTS"} {
		if !strings.Contains(out, want) {
			t.Errorf("config print lacks %q:\n%s", want, out)
		}
	}
}

func TestConfigFileAndPrecedence(t *testing.T) {
	file := filepath.Join(t.TempDir(), "herald.yaml")
	if err := os.WriteFile(file, []byte("partitions: 6\nmax-attempts: 3\naddr: \":7000\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	out := runCLI(t, []string{"HERALD_MAX_ATTEMPTS=5"}, "config", "print", "--config", file, "--addr", ":7001")
	for _, want := range []string{
		"partitions        6", // from the file
		"max-attempts      5", // the environment beats the file
		":7001",               // the flag beats both
	} {
		if !strings.Contains(strings.Join(strings.Fields(out), " "), strings.Join(strings.Fields(want), " ")) {
			t.Errorf("config print lacks %q:\n%s", want, out)
		}
	}
	if err := os.WriteFile(file, []byte("partitons: 6\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := herald(t, "config", "print", "--config", file)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err == nil || !strings.Contains(stderr.String(), `unknown setting "partitons"`) {
		t.Fatalf("a misspelt setting must be refused; got err %v, stderr %q", err, stderr.String())
	}
}
