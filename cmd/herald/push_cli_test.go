package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/herald/herald/internal/channel/push/pushtest"
)

// TestPushCommandLine configures `herald serve` for APNs and Web Push the
// way an operator does (HERALD_* variables, a .p8 file, keys from `herald
// vapid generate`), trusting the local peers only through SSL_CERT_FILE,
// then registers devices with `herald devices`, sends an event and reads
// the device list after the provider retires a device.
func TestPushCommandLine(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a server process")
	}
	dir := t.TempDir()
	key, p8 := pushtest.APNsKey()
	apns := pushtest.NewAPNsPeer(t, &key.PublicKey, "KEYID12345", "TEAMID1234")
	web := pushtest.NewWebPushPeer(t)
	keyFile := filepath.Join(dir, "AuthKey.p8")
	if err := os.WriteFile(keyFile, p8, 0o600); err != nil {
		t.Fatal(err)
	}
	vapid := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(runCLI(t, nil, "vapid", "generate")), "\n") {
		k, v, ok := strings.Cut(line, "=")
		if !ok || v == "" {
			t.Fatalf("vapid generate printed %q", line)
		}
		vapid[k] = v
	}
	for k, v := range map[string]string{
		"SSL_CERT_FILE":        apns.WriteCA(t, dir),
		"HERALD_APNS_ENDPOINT": apns.URL(), "HERALD_APNS_KEY_FILE": keyFile, "HERALD_APNS_KEY_ID": "KEYID12345",
		"HERALD_APNS_TEAM_ID": "TEAMID1234", "HERALD_APNS_TOPIC": "com.example.herald",
		"HERALD_VAPID_PUBLIC_KEY": vapid["HERALD_VAPID_PUBLIC_KEY"], "HERALD_VAPID_PRIVATE_KEY": vapid["HERALD_VAPID_PRIVATE_KEY"],
		"HERALD_VAPID_SUBJECT": "mailto:ops@example.com", "HERALD_OUTBOUND_ALLOW": "127.0.0.0/8",
	} {
		t.Setenv(k, v)
	}
	dataDir := filepath.Join(dir, "data")
	if err := os.MkdirAll(dataDir, 0o750); err != nil {
		t.Fatal(err)
	}
	addr := freeAddr(t)
	proc := startServe(t, dataDir, addr)
	t.Cleanup(proc.kill)
	admin := strings.TrimSpace(runCLI(t, nil, "keys", "create", "--role", "admin", "--data", dataDir))
	env := []string{"HERALD_SERVER=http://" + addr, "HERALD_KEY=" + admin}

	out := runCLI(t, env, "devices", "add", "nina", "--platform", "apns", "--token", pushtest.HexToken(42), "--locale", "de-AT")
	var phone struct{ ID, State string }
	if err := json.Unmarshal([]byte(out), &phone); err != nil || phone.State != "active" {
		t.Fatalf("devices add printed %q", out)
	}
	endpoint, sub := web.Subscribe()
	subJSON, _ := json.Marshal(map[string]any{"endpoint": endpoint, "keys": map[string]string{"p256dh": sub.P256dh(), "auth": sub.AuthSecret()}})
	runCLI(t, env, "devices", "add", "nina", "--platform", "webpush", "--subscription", string(subJSON))

	out = runCLI(t, env, "send", "--user", "nina", "--title", "Laptop ready", "--message", "Pick it up at desk 4", "--wait", "20s")
	if !strings.Contains(out, "mobile") || !strings.Contains(out, "webpush") {
		t.Fatalf("send --wait printed %q", out)
	}
	if apns.AcceptedCount() != 1 || web.AcceptedCount() != 1 {
		t.Fatalf("peers accepted APNs %d, Web Push %d; want 1 each (rejected: %v %v; server log in %s)",
			apns.AcceptedCount(), web.AcceptedCount(), apns.Rejected(), web.Rejected(), dataDir)
	}

	apns.SetRespond(func(int, *pushtest.Request) pushtest.Answer {
		return pushtest.Answer{Status: 410, Reason: "Unregistered", Timestamp: time.Now().UnixMilli()}
	})
	runCLI(t, env, "send", "--user", "nina", "--message", "second", "--wait", "20s")
	list := runCLI(t, env, "devices", "list", "nina")
	if !strings.Contains(list, phone.ID) || !strings.Contains(list, "retired") || !strings.Contains(list, "Unregistered since") ||
		!strings.Contains(list, "active") {
		t.Fatalf("devices list = %q: want the phone retired with the reason and the browser active", list)
	}
	runCLI(t, env, "devices", "remove", "nina", phone.ID)
	if list = runCLI(t, env, "devices", "list", "nina"); strings.Contains(list, phone.ID) {
		t.Fatalf("devices list after remove = %q", list)
	}
}
