package main

import (
	"strings"
	"testing"

	"github.com/herald/herald/internal/store/pgstore/pgtest"
)

// TestConfigPrintRedactsTheStorePassword checks that `config print` shows
// where the PostgreSQL store is but never its password.
func TestConfigPrintRedactsTheStorePassword(t *testing.T) {
	t.Parallel()
	out := runCLI(t, []string{"HERALD_STORE=postgres://herald:s3cret-pw@db.example:5432/herald?sslmode=require"}, "config", "print")
	if strings.Contains(out, "s3cret-pw") {
		t.Fatalf("config print shows the store password:\n%s", out)
	}
	want := "postgres://herald:redacted@db.example:5432/herald?sslmode=require"
	if !strings.Contains(out, want) || !strings.Contains(out, "HERALD_STORE") {
		t.Errorf("config print lacks the redacted store URL %s:\n%s", want, out)
	}
}

// TestKeysOnPostgres creates and lists API keys in a PostgreSQL store
// named by --store.
func TestKeysOnPostgres(t *testing.T) {
	t.Parallel()
	url := pgtest.SchemaURL(t)
	dir := t.TempDir()
	key := strings.TrimSpace(runCLI(t, nil, "keys", "create", "--role", "reader", "--name", "pg-key", "--data", dir, "--store", url))
	if !strings.HasPrefix(key, "hrd_") {
		t.Fatalf("keys create printed %q, want a key", key)
	}
	if list := runCLI(t, []string{"HERALD_STORE=" + url}, "keys", "list", "--data", dir); !strings.Contains(list, "pg-key") {
		t.Fatalf("keys list (HERALD_STORE) = %q, want pg-key", list)
	}
}
