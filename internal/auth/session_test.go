package auth

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestSessionsIssueAndVerify(t *testing.T) {
	t.Parallel()
	s, err := NewSessions("a-shared-secret-of-32-characters")
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	s.now = func() time.Time { return now }
	tok, exp, err := s.Issue("ada", 0)
	if err != nil {
		t.Fatal(err)
	}
	if !IsSessionToken(tok) || IsSessionToken("hrd_abc_def") {
		t.Fatalf("IsSessionToken misjudges %q", tok)
	}
	if want := now.Add(DefaultSessionTTL); !exp.Equal(want) {
		t.Errorf("expires %v, want %v", exp, want)
	}
	user, _, err := s.Verify(tok)
	if err != nil || user != "ada" {
		t.Fatalf("Verify = %q, %v; want ada", user, err)
	}

	// Another process with the same secret accepts it; another secret does not.
	same, _ := NewSessions("a-shared-secret-of-32-characters")
	same.now = s.now
	if u, _, err := same.Verify(tok); err != nil || u != "ada" {
		t.Errorf("same secret: %q, %v", u, err)
	}
	other, _ := NewSessions("")
	if _, _, err := other.Verify(tok); !errors.Is(err, ErrInvalidSession) {
		t.Errorf("other secret: %v, want ErrInvalidSession", err)
	}

	// A forged payload (another user) with the old signature is refused.
	p, sig, _ := strings.Cut(strings.TrimPrefix(tok, "hus_"), ".")
	bob, _, _ := s.Issue("bob", 0)
	bobPayload, _, _ := strings.Cut(strings.TrimPrefix(bob, "hus_"), ".")
	for name, bad := range map[string]string{
		"forged user":  "hus_" + bobPayload + "." + sig,
		"no signature": "hus_" + p,
		"empty":        "",
		"api key":      "hrd_abc_def",
		"bad base64":   "hus_" + p + ".!!!",
	} {
		if _, _, err := s.Verify(bad); !errors.Is(err, ErrInvalidSession) {
			t.Errorf("%s: %v, want ErrInvalidSession", name, err)
		}
	}

	// Expiry, and the longest lifetime.
	now = now.Add(DefaultSessionTTL)
	if _, _, err := s.Verify(tok); !errors.Is(err, ErrInvalidSession) {
		t.Errorf("expired: %v, want ErrInvalidSession", err)
	}
	_, exp, _ = s.Issue("ada", 1000*time.Hour)
	if want := now.Add(MaxSessionTTL); !exp.Equal(want) {
		t.Errorf("a long session expires %v, want %v (capped)", exp, want)
	}
	if _, err := NewSessions("short"); err == nil {
		t.Error("a 5-byte secret was accepted")
	}
}
