package kafkahub

import (
	"context"
	"errors"
	"strings"
	"testing"
)

// kfake serves PLAIN and SCRAM but not OAUTHBEARER, so the token's way into
// the SASL exchange is checked here.
func TestOAuthBearerSendsTheToken(t *testing.T) {
	t.Parallel()
	calls := 0
	s := &SASL{Mechanism: "OAUTHBEARER", Token: func(context.Context) (string, error) {
		calls++
		return "token-" + strings.Repeat("x", calls), nil
	}}
	m, err := s.mechanism()
	if err != nil {
		t.Fatal(err)
	}
	if m.Name() != MechanismOAuthBearer {
		t.Errorf("mechanism %q, want %s", m.Name(), MechanismOAuthBearer)
	}
	for _, want := range []string{"token-x", "token-xx"} { // a fresh token per connection
		_, first, err := m.Authenticate(context.Background(), "broker:9093")
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(first), "auth=Bearer "+want) {
			t.Errorf("client-first message %q lacks the bearer token %s", first, want)
		}
	}

	failing := &SASL{Mechanism: "OAUTHBEARER", Token: func(context.Context) (string, error) { return "", errors.New("vault sealed") }}
	m, _ = failing.mechanism()
	if _, _, err := m.Authenticate(context.Background(), "broker:9093"); err == nil || !strings.Contains(err.Error(), "vault sealed") {
		t.Errorf("Authenticate with a failing token source: %v, want its error", err)
	}
}

func TestSASLMechanismNames(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct{ in, want string }{
		{"plain", "PLAIN"}, {"SCRAM-SHA-256", "SCRAM-SHA-256"}, {"scram-sha-512", "SCRAM-SHA-512"},
	} {
		m, err := (&SASL{Mechanism: tt.in, User: "u", Password: "p"}).mechanism()
		if err != nil {
			t.Fatalf("%s: %v", tt.in, err)
		}
		if m.Name() != tt.want {
			t.Errorf("%s: mechanism %q, want %q", tt.in, m.Name(), tt.want)
		}
	}
}
