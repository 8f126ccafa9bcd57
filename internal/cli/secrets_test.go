package cli_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/herald/herald/internal/channel/webpush"
	"github.com/herald/herald/internal/cli"
)

// syncBuffer is a bytes.Buffer safe for a command writing while the test
// reads.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// secrets are the values of every secret setting, each distinct and easy
// to find in output.
type secrets struct {
	botPassword, directLine, vaDirectLine, vapidPrivate, vapidPublic, session, hubPassword, storePassword, hubURLPassword, apiKey string
	apnsKey                                                                                                                       []byte // the .p8 file's content
	apnsKeyFile, configFile                                                                                                       string
}

func newSecrets(t *testing.T) secrets {
	t.Helper()
	dir := t.TempDir()
	vapid, err := webpush.GenerateKeys()
	if err != nil {
		t.Fatal(err)
	}
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	s := secrets{
		botPassword: "BOTPASSWORD-9f8e7d", directLine: "DIRECTLINESECRET-1a2b3c", vaDirectLine: "VADIRECTLINE-4d5e6f",
		vapidPrivate: vapid.Private, vapidPublic: vapid.Public, session: "SESSIONSECRET-0123456789abcdef",
		hubPassword: "HUBPASSWORD-777", storePassword: "STOREPASSWORD-888", hubURLPassword: "HUBURLPASSWORD-999",
		apiKey:  "hrd_0a0b0c0d0e0f_APIKEYSECRET0123456789abcdef0123456789ab",
		apnsKey: pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}),
	}
	s.apnsKeyFile = filepath.Join(dir, "AuthKey_ABC123.p8")
	if err := os.WriteFile(s.apnsKeyFile, s.apnsKey, 0o600); err != nil {
		t.Fatal(err)
	}
	// Some secrets come from the YAML file, some from the environment and
	// the rest from flags, so that every source is redacted.
	s.configFile = filepath.Join(dir, "herald.yaml")
	yaml := fmt.Sprintf("va-directline-secret: %s\nvapid-private-key: %s\nvapid-public-key: %s\nvapid-subject: mailto:ops@example.com\n",
		s.vaDirectLine, s.vapidPrivate, s.vapidPublic)
	if err := os.WriteFile(s.configFile, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("HERALD_DIRECTLINE_SECRET", s.directLine)
	t.Setenv("HERALD_SESSION_SECRET", s.session)
	return s
}

// values are the strings that must never be printed: every secret, and
// the body of the APNs key.
func (s secrets) values() map[string]string {
	block, _ := pem.Decode(s.apnsKey)
	body := strings.Split(strings.TrimSpace(string(s.apnsKey)), "\n")
	return map[string]string{
		"bot-app-password": s.botPassword, "directline-secret": s.directLine, "va-directline-secret": s.vaDirectLine,
		"vapid-private-key": s.vapidPrivate, "session-secret": s.session, "hub-password": s.hubPassword,
		"store password": s.storePassword, "hub URL password": s.hubURLPassword, "API key": s.apiKey,
		"API key secret": strings.SplitN(s.apiKey, "_", 3)[2],
		"APNs key line":  body[1], "APNs key bytes": fmt.Sprintf("%x", block.Bytes[:16]),
	}
}

// flags are the secret settings given on the command line.
func (s secrets) flags() []string {
	return []string{"--config", s.configFile, "--bot-app-id", "00000000-0000-0000-0000-00000000b07", "--bot-app-password", s.botPassword,
		"--bot-openid-metadata", "http://127.0.0.1:1/openid", "--bot-token-url", "http://127.0.0.1:1/token",
		"--hub-password", s.hubPassword, "--apns-key-file", s.apnsKeyFile, "--apns-key-id", "ABC123", "--apns-team-id", "TEAM123",
		"--apns-endpoint", "http://127.0.0.1:1"}
}

func (s secrets) check(t *testing.T, what, out string) {
	t.Helper()
	for name, v := range s.values() {
		if strings.Contains(out, v) {
			t.Errorf("%s shows the %s (%q):\n%s", what, name, v, out)
		}
	}
}

func run(ctx context.Context, args ...string) (stdout, stderr string, code int) {
	var out, errOut syncBuffer
	code = cli.Execute(ctx, args, &out, &errOut)
	return out.String(), errOut.String(), code
}

// TestConfigPrintRedactsEverySecret: with every secret set (flags,
// environment and YAML file), config print shows each as [redacted] and
// URLs without their passwords, and none of the values appears.
func TestConfigPrintRedactsEverySecret(t *testing.T) {
	s := newSecrets(t)
	args := append([]string{"config", "print",
		"--store", "postgres://herald:" + s.storePassword + "@db.example.com:5432/herald?sslmode=require",
		"--hub", "nats://herald:" + s.hubURLPassword + "@nats.example.com:4222"}, s.flags()...)
	out, errOut, code := run(context.Background(), args...)
	if code != 0 {
		t.Fatalf("config print: exit %d: %s", code, errOut)
	}
	s.check(t, "config print", out+errOut)
	rows := map[string]string{}
	for _, line := range strings.Split(out, "\n") {
		if f := strings.Fields(line); len(f) >= 2 {
			rows[f[0]] = f[1]
		}
	}
	for _, name := range []string{"bot-app-password", "directline-secret", "va-directline-secret", "vapid-private-key", "session-secret", "hub-password"} {
		if rows[name] != "[redacted]" {
			t.Errorf("config print shows %s as %q, want [redacted]", name, rows[name])
		}
	}
	for name, want := range map[string]string{
		"store": "postgres://herald:redacted@db.example.com:5432/herald?sslmode=require",
		"hub":   "nats://herald:redacted@nats.example.com:4222",
		// Not secrets: a key file's path, the public key.
		"apns-key-file":    s.apnsKeyFile,
		"vapid-public-key": s.vapidPublic,
	} {
		if rows[name] != want {
			t.Errorf("config print shows %s as %q, want %q", name, rows[name], want)
		}
	}
}

// TestSecretsStayOutOfLogsAndErrors: herald serve with every secret set
// logs none of them (at debug level, from start to shutdown), and the
// errors of a store, a hub or a server that cannot be reached, or of a
// client refused, do not repeat the password or key they were given.
func TestSecretsStayOutOfLogsAndErrors(t *testing.T) {
	if testing.Short() {
		t.Skip("starts herald serve")
	}
	s := newSecrets(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	serveCtx, stop := context.WithCancel(ctx)
	var out, errOut syncBuffer
	done := make(chan int, 1)
	go func() {
		done <- cli.Execute(serveCtx, append([]string{"serve", "--addr", "127.0.0.1:0", "--data", t.TempDir(), "--log-level", "debug"}, s.flags()...), &out, &errOut)
	}()
	for !strings.Contains(errOut.String(), "herald is serving") {
		select {
		case code := <-done:
			t.Fatalf("serve exited %d:\n%s", code, errOut.String())
		case <-time.After(20 * time.Millisecond):
		}
		if ctx.Err() != nil {
			t.Fatalf("serve did not start:\n%s", errOut.String())
		}
	}
	// A client whose key the server refuses: neither the client's error nor
	// the server's logs repeat it.
	addr := regexp.MustCompile(`addr=(127\.0\.0\.1:[0-9]+)`).FindStringSubmatch(errOut.String())
	if addr == nil {
		t.Fatalf("no address in serve's logs:\n%s", errOut.String())
	}
	for _, args := range [][]string{
		{"dlq", "list", "--server", "http://" + addr[1], "--key", s.apiKey},
		{"send", "--server", "http://" + addr[1], "--key", s.apiKey, "--user", "u", "--message", "m"},
	} {
		cout, cerr, code := run(ctx, args...)
		if code == 0 || !strings.Contains(cerr, "401") {
			t.Errorf("herald %s with an unknown key: exit %d, %s", args[0], code, cerr)
		}
		s.check(t, "herald "+args[0]+" refused", cout+cerr)
	}
	stop()
	if code := <-done; code != 0 {
		t.Errorf("serve exited %d", code)
	}
	logs := out.String() + errOut.String()
	if !strings.Contains(logs, "APNs configured") || !strings.Contains(logs, "Web Push configured") {
		t.Errorf("serve did not configure push; the test does not cover it:\n%s", logs)
	}
	s.check(t, "serve's logs", logs)

	for _, tc := range []struct {
		name string
		args []string
	}{
		{"a PostgreSQL store that does not answer", []string{"serve", "--data", t.TempDir(), "--addr", "127.0.0.1:0",
			"--store", "postgres://herald:" + s.storePassword + "@127.0.0.1:1/herald?connect_timeout=2"}},
		{"a store URL that does not parse", []string{"serve", "--data", t.TempDir(), "--addr", "127.0.0.1:0",
			"--store", "mysql://herald:" + s.storePassword + "@127.0.0.1:1/herald"}},
		{"a NATS hub that does not answer", []string{"serve", "--data", t.TempDir(), "--addr", "127.0.0.1:0",
			"--hub", "nats://herald:" + s.hubURLPassword + "@127.0.0.1:1", "--hub-password", s.hubPassword}},
		{"an APNs key that is not one", []string{"serve", "--data", t.TempDir(), "--addr", "127.0.0.1:0",
			"--apns-key-file", s.configFile, "--apns-key-id", "K", "--apns-team-id", "T"}},
		{"a client whose server is down", []string{"send", "--server", "http://127.0.0.1:1", "--key", s.apiKey, "--user", "u", "--message", "m"}},
	} {
		out, errOut, code := run(ctx, tc.args...)
		if code == 0 {
			t.Errorf("%s: exit 0, want a failure", tc.name)
		}
		s.check(t, tc.name, out+errOut)
	}
}
