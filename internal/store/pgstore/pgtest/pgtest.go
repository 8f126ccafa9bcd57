// Package pgtest gives tests a PostgreSQL schema of their own on the test
// server: HERALD_TEST_POSTGRES, by default
// postgres://postgres@127.0.0.1:5432/test?sslmode=disable. When the server
// does not answer, tests are skipped on a developer machine and fail in CI
// (CI=true), so that a missing server never passes for a green run.
//
// It is for tests only; it holds no state but the answer to "is the server
// there", found once per test binary.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/herald/herald/internal/testenv"
)

// EnvURL is the environment variable naming the test server's URL.
const EnvURL = "HERALD_TEST_POSTGRES"

// DefaultURL is the test server's URL when EnvURL is not set.
const DefaultURL = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"

// URL returns the test server's URL, skipping tb (failing it in CI) when
// the server does not answer.
func URL(tb testing.TB) string {
	tb.Helper()
	u, err := reachable()
	testenv.Need(tb, err, "a test on PostgreSQL at "+redact(u), "start PostgreSQL or set "+EnvURL+" to another server")
	return u
}

var probe = sync.OnceValues(func() (string, error) {
	u := os.Getenv(EnvURL)
	if u == "" {
		u = DefaultURL
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, u)
	if err != nil {
		return u, err
	}
	defer conn.Close(ctx)
	return u, conn.Ping(ctx)
})

func reachable() (string, error) { return probe() }

// Schema creates a schema with a random name on the test server and drops
// it, with everything in it, when tb ends. It returns the schema's name
// and the server's URL. Register the cleanup of whatever uses the schema
// after calling Schema, so that it runs before the schema is dropped.
func Schema(tb testing.TB) (schema, serverURL string) {
	tb.Helper()
	serverURL = URL(tb)
	var b [6]byte
	_, _ = rand.Read(b[:])
	schema = "herald_test_" + hex.EncodeToString(b[:])
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, serverURL)
	if err != nil {
		tb.Fatalf("pgtest: connect: %v", err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE SCHEMA "+pgx.Identifier{schema}.Sanitize()); err != nil {
		tb.Fatalf("pgtest: create schema %s: %v", schema, err)
	}
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, serverURL)
		if err != nil {
			tb.Errorf("pgtest: drop schema %s: %v", schema, err)
			return
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, "DROP SCHEMA "+pgx.Identifier{schema}.Sanitize()+" CASCADE"); err != nil {
			tb.Errorf("pgtest: drop schema %s: %v", schema, err)
		}
	})
	return schema, serverURL
}

// SchemaURL is Schema returning the server's URL with the schema as its
// search_path, for code that takes only a URL (herald's --store).
func SchemaURL(tb testing.TB) string {
	tb.Helper()
	schema, serverURL := Schema(tb)
	u, err := url.Parse(serverURL)
	if err != nil {
		tb.Fatalf("pgtest: parse %s: %v", redact(serverURL), err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

// redact drops a password from a URL for messages.
func redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.User == nil {
		return raw
	}
	if _, ok := u.User.Password(); ok {
		u.User = url.UserPassword(u.User.Username(), "xxxxx")
	}
	return u.String()
}
