package main

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/herald/herald/internal/client"
	"github.com/herald/herald/internal/event"
)

const (
	examplesDir = "../../examples/sources"
	samplesDir  = "../../examples/sources/samples"
)

// runCLIExit runs a herald command and returns its output and exit code.
func runCLIExit(t *testing.T, env []string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	cmd := herald(t, args...)
	cmd.Env = append(cmd.Env, env...)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		code = ee.ExitCode()
	case err != nil:
		t.Fatal(err)
	}
	return out.String(), errOut.String(), code
}

// TestSourcesTestOffline maps the shipped samples without a server or
// secrets, and shows a failing step precisely.
func TestSourcesTestOffline(t *testing.T) {
	t.Parallel()
	out := runCLI(t, nil, "sources", "test", "hr-training", filepath.Join(samplesDir, "hr-training-assigned.json"), "--sources", examplesDir)
	for _, want := range []string{`"specversion": "1.0"`, `"id": "evt-7f3a9c"`, `"users": [`, `"alice"`, `"title": "Training assigned: Security awareness"`, `"id": "startConversation"`} {
		if !strings.Contains(out, want) {
			t.Errorf("sources test printed no %s:\n%s", want, out)
		}
	}
	// The directory from the environment; the header read by the mapping.
	env := []string{"HERALD_SOURCES_DIR=" + examplesDir}
	out = runCLI(t, env, "sources", "test", "webhook", filepath.Join(samplesDir, "webhook-message.json"), "--header", "X-Event-Type: it.laptop.ready")
	if !strings.Contains(out, `"type": "com.example.webhook.it.laptop.ready"`) {
		t.Errorf("webhook mapped to:\n%s", out)
	}
	out = runCLI(t, env, "sources", "test", "hr-training", filepath.Join(samplesDir, "hr-training-completed.json"))
	if !strings.HasPrefix(out, "filtered:") {
		t.Errorf("a filtered payload printed %q", out)
	}

	bad := filepath.Join(t.TempDir(), "bad.json")
	for _, tc := range []struct{ body, want string }{
		{`{"event":"training.assigned","eventId":"x","employee":"ann"}`, "source hr-training: map.audience: jq error: expected an object but got: string"},
		{`{"event":"training.assigned","eventId":"x","course":{"name":"C","dueDate":"2035-01-01"}}`, "data.audience.users[0]: must be a string, got null (from map.audience)"},
		{`{"event": "training.assigned",`, "source hr-training: body: malformed JSON"},
	} {
		if err := os.WriteFile(bad, []byte(tc.body), 0o600); err != nil {
			t.Fatal(err)
		}
		_, stderr, code := runCLIExit(t, env, "sources", "test", "hr-training", bad)
		if code != 1 || !strings.Contains(stderr, tc.want) {
			t.Errorf("sources test %s: exit %d, stderr %q; want 1 and %q", tc.body, code, stderr, tc.want)
		}
	}
	if _, stderr, code := runCLIExit(t, env, "sources", "test", "payroll", bad); code != 1 || !strings.Contains(stderr, `no source "payroll"`) || !strings.Contains(stderr, "hr-training") {
		t.Errorf("unknown source: exit %d, %q", code, stderr)
	}

	out = runCLI(t, env, "sources", "list")
	for _, want := range []string{"benefits-enrollment", "bearer Authorization", "hr-training", "hmac X-Signature + X-Timestamp (5m0s)", "env:HR_TRAINING_SECRET", "webhook"} {
		if !strings.Contains(out, want) {
			t.Errorf("sources list lacks %q:\n%s", want, out)
		}
	}
	if _, stderr, code := runCLIExit(t, env, "sources", "list", "--secrets"); code != 1 || !strings.Contains(stderr, "environment variable HR_TRAINING_SECRET is not set") {
		t.Errorf("sources list --secrets without the secrets: exit %d, %q", code, stderr)
	}
}

// sourcesWithSecrets copies the shipped definitions into a directory with
// their env: secrets turned into file: ones holding hrSecret (and fixed
// others), so that parallel tests need no environment.
func sourcesWithSecrets(t *testing.T, hrSecret string) string {
	t.Helper()
	dir := t.TempDir()
	secrets := map[string]string{"HR_TRAINING_SECRET": hrSecret, "BENEFITS_KEY": "k-0123456789", "WEBHOOK_SECRET": "w-0123456789"}
	files, _ := filepath.Glob(filepath.Join(examplesDir, "*.yaml"))
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		def := string(b)
		for name, secret := range secrets {
			if err := os.WriteFile(filepath.Join(dir, name), []byte(secret), 0o600); err != nil {
				t.Fatal(err)
			}
			def = strings.ReplaceAll(def, "env:"+name, "file:"+name)
		}
		if err := os.WriteFile(filepath.Join(dir, filepath.Base(f)), []byte(def), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// TestProduceThroughASource starts herald with the shipped sources and
// plays the HR system: signed payloads, each with its own id, land in the
// inbox; the filtered one is counted as such; a wrong secret is refused with
// the reason.
func TestProduceThroughASource(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a server process")
	}
	t.Parallel()
	dataDir := t.TempDir()
	sources := sourcesWithSecrets(t, "hr-secret-for-cli-tests-0123456789")
	addr := freeAddr(t)
	proc := startServeWith(t, dataDir, addr, "--sources", sources, "--conversation", "off")
	t.Cleanup(proc.kill)
	key := strings.TrimSpace(runCLI(t, nil, "keys", "create", "--role", "admin", "--data", dataDir))
	env := []string{"HERALD_SERVER=http://" + addr, "HERALD_SOURCES_DIR=" + sources}

	out := runCLI(t, env, "produce", "--source", "hr-training", "--sample", filepath.Join(samplesDir, "hr-training-assigned.json"),
		"--vary", `.eventId += "-\($n)"`, "--count", "20", "--rate", "200")
	if !strings.Contains(out, "20 accepted, 0 errors") {
		t.Fatalf("produce --sample printed %q", out)
	}
	out = runCLI(t, env, "produce", "--source", "hr-training", "--sample", filepath.Join(samplesDir, "hr-training-completed.json"))
	if !strings.Contains(out, "0 accepted, 0 errors") || !strings.Contains(out, "1 payloads were left out by the source's filter") {
		t.Fatalf("produce of a filtered sample printed %q", out)
	}
	wrong := []string{"HERALD_SERVER=http://" + addr, "HERALD_SOURCES_DIR=" + sourcesWithSecrets(t, "not-the-secret")}
	stdout, _, code := runCLIExit(t, wrong, "produce", "--source", "hr-training", "--sample", filepath.Join(samplesDir, "hr-training-assigned.json"))
	if code != 2 || !strings.Contains(stdout, "signature does not match") {
		t.Fatalf("produce with the wrong secret: exit %d, %q", code, stdout)
	}

	c := client.New("http://"+addr, key)
	deadline := time.Now().Add(15 * time.Second)
	for {
		var page struct {
			Notifications []struct{ ID string } `json:"notifications"`
		}
		err := c.Do(context.Background(), http.MethodGet, "/v1/users/alice/notifications?limit=100", "", nil, &page)
		if err == nil && len(page.Notifications) == 20 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("alice has %d notifications (err %v), want 20", len(page.Notifications), err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	var st struct{ State string }
	if err := c.Do(context.Background(), http.MethodGet, "/v1/events/"+event.IDFor("urn:example:hr", "evt-7f3a9c-0"), "", nil, &st); err != nil {
		t.Fatalf("status of the first produced event: %v", err)
	}
}
