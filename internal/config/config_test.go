package config

import (
	"strings"
	"testing"

	"github.com/spf13/pflag"
)

func TestRedactURL(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ in, want string }{
		{"sqlite", "sqlite"},
		{"", ""},
		{"postgres://herald:s3cret@db.example:5432/herald?sslmode=require", "postgres://herald:redacted@db.example:5432/herald?sslmode=require"},
		{"postgresql://herald@db.example/herald", "postgresql://herald@db.example/herald"},
		{"postgres://db.example/herald?user=herald&password=s3cret", "postgres://db.example/herald?password=redacted&user=herald"},
		{"postgres://herald:p%40ss@db.example/herald", "postgres://herald:redacted@db.example/herald"},
		{"nats://a:b@[::1", "[redacted]"},
	} {
		if got := RedactURL(tc.in); got != tc.want {
			t.Errorf("RedactURL(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestPrintRedactsURLPasswordsAndSecrets(t *testing.T) {
	fs := pflag.NewFlagSet("serve", pflag.ContinueOnError)
	fs.String("store", "sqlite", "")
	MarkURL(fs, "store")
	fs.String("hub-password", "", "")
	MarkSecret(fs, "hub-password")
	if err := fs.Parse([]string{"--store", "postgres://herald:s3cret@db:5432/herald", "--hub-password", "hunter2"}); err != nil {
		t.Fatal(err)
	}
	var lines []string
	for _, s := range Print(fs) {
		lines = append(lines, s.Name+"="+s.Value+" ("+s.Source+")")
	}
	out := strings.Join(lines, "\n")
	for _, secret := range []string{"s3cret", "hunter2"} {
		if strings.Contains(out, secret) {
			t.Errorf("Print shows %q:\n%s", secret, out)
		}
	}
	if !strings.Contains(out, "store=postgres://herald:redacted@db:5432/herald (flag)") {
		t.Errorf("Print should keep the URL's user, host and database:\n%s", out)
	}
}
