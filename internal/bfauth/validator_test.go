package bfauth_test

import (
	"errors"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/herald/herald/internal/bfauth"
	"github.com/herald/herald/internal/bfauth/bfauthtest"
)

const (
	appID      = "11111111-2222-3333-4444-555555555555"
	serviceURL = "https://smba.example/teams/"
)

func TestValidate(t *testing.T) {
	id := bfauthtest.New(t, "msteams", "directline")
	stranger := bfauthtest.NewKey(t, "key-unknown", "msteams")
	stranger.Unpublished = true
	id.Keys = append(id.Keys, stranger)
	now := time.Now()
	v := bfauth.NewValidator(bfauth.Config{AppID: appID, MetadataURLs: []string{id.MetadataURL()}})

	claims := func(edit func(jwt.MapClaims)) jwt.MapClaims {
		c := bfauthtest.ChannelClaims(appID, serviceURL, now)
		if edit != nil {
			edit(c)
		}
		return c
	}
	tests := []struct {
		name       string
		header     string
		channel    string
		serviceURL string
		want       error
	}{
		{"valid", "Bearer " + id.Sign(t, nil, claims(nil)), "msteams", serviceURL, nil},
		{"valid, service URL without its trailing slash", "Bearer " + id.Sign(t, nil, claims(nil)), "msteams", "https://smba.example/teams", nil},
		{"within the 5-minute skew after expiry", "Bearer " + id.Sign(t, nil, claims(func(c jwt.MapClaims) {
			c["exp"] = now.Add(-4 * time.Minute).Unix()
		})), "msteams", serviceURL, nil},
		{"expired", "Bearer " + id.Sign(t, nil, claims(func(c jwt.MapClaims) {
			c["exp"] = now.Add(-6 * time.Minute).Unix()
		})), "msteams", serviceURL, bfauth.ErrUnauthorized},
		{"not yet valid", "Bearer " + id.Sign(t, nil, claims(func(c jwt.MapClaims) {
			c["nbf"] = now.Add(10 * time.Minute).Unix()
		})), "msteams", serviceURL, bfauth.ErrUnauthorized},
		{"wrong audience", "Bearer " + id.Sign(t, nil, claims(func(c jwt.MapClaims) {
			c["aud"] = "another-bot"
		})), "msteams", serviceURL, bfauth.ErrUnauthorized},
		{"wrong issuer", "Bearer " + id.Sign(t, nil, claims(func(c jwt.MapClaims) {
			c["iss"] = "https://evil.example"
		})), "msteams", serviceURL, bfauth.ErrUnauthorized},
		{"unknown key", "Bearer " + id.Sign(t, stranger, claims(nil)), "msteams", serviceURL, bfauth.ErrUnauthorized},
		{"channel not endorsed", "Bearer " + id.Sign(t, nil, claims(nil)), "slack", serviceURL, bfauth.ErrForbidden},
		{"service URL differs from the claim", "Bearer " + id.Sign(t, nil, claims(nil)), "msteams", "https://evil.example/", bfauth.ErrUnauthorized},
		{"no serviceurl claim", "Bearer " + id.Sign(t, nil, claims(func(c jwt.MapClaims) {
			delete(c, "serviceurl")
		})), "msteams", serviceURL, bfauth.ErrUnauthorized},
		{"missing header", "", "msteams", serviceURL, bfauth.ErrUnauthorized},
		{"not a bearer token", "Basic Zm9vOmJhcg==", "msteams", serviceURL, bfauth.ErrUnauthorized},
		{"garbage", "Bearer not-a-jwt", "msteams", serviceURL, bfauth.ErrUnauthorized},
		{"HS256 signed with the public modulus", "Bearer " + hs256(t, claims(nil)), "msteams", serviceURL, bfauth.ErrUnauthorized},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := v.Validate(t.Context(), tc.header, tc.channel, tc.serviceURL)
			if tc.want == nil && err != nil {
				t.Fatalf("Validate = %v, want success", err)
			}
			if tc.want != nil && !errors.Is(err, tc.want) {
				t.Fatalf("Validate = %v, want %v", err, tc.want)
			}
		})
	}
}

func hs256(t *testing.T, c jwt.MapClaims) string {
	tok := jwt.NewWithClaims(jwt.SigningMethodHS256, c)
	tok.Header["kid"] = "key-1"
	s, err := tok.SignedString([]byte("secret"))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestEmulatorTokenNeedsNoServiceURLClaim(t *testing.T) {
	id := bfauthtest.New(t, "emulator")
	v := bfauth.NewValidator(bfauth.Config{AppID: appID, MetadataURLs: []string{id.MetadataURL()}})
	now := time.Now()
	tok := id.Sign(t, nil, jwt.MapClaims{"iss": bfauth.EmulatorIssuers[0], "aud": appID, "appid": appID,
		"exp": now.Add(time.Hour).Unix()})
	c, err := v.Validate(t.Context(), "Bearer "+tok, "emulator", "http://localhost:5000")
	if err != nil || c.AppID != appID {
		t.Fatalf("Validate(emulator token) = %+v, %v; want app id %s", c, err, appID)
	}
}

func TestAnonymousModeAcceptsOnlyRequestsWithoutAToken(t *testing.T) {
	v := bfauth.NewValidator(bfauth.Config{})
	if c, err := v.Validate(t.Context(), "", "directline", ""); err != nil || !c.Anonymous {
		t.Fatalf("anonymous Validate = %+v, %v", c, err)
	}
	if _, err := v.Validate(t.Context(), "Bearer x", "directline", ""); !errors.Is(err, bfauth.ErrUnauthorized) {
		t.Fatalf("anonymous Validate with a token = %v, want ErrUnauthorized", err)
	}
}

func TestKeysAreCachedAndRefetchedForANewKeyID(t *testing.T) {
	id := bfauthtest.New(t, "msteams")
	now := time.Now()
	v := bfauth.NewValidator(bfauth.Config{AppID: appID, MetadataURLs: []string{id.MetadataURL()},
		Now: func() time.Time { return now }})
	tok := "Bearer " + id.Sign(t, nil, bfauthtest.ChannelClaims(appID, serviceURL, now))
	for range 5 {
		if _, err := v.Validate(t.Context(), tok, "msteams", serviceURL); err != nil {
			t.Fatal(err)
		}
	}
	if n := id.KeyRequests(); n != 1 {
		t.Fatalf("key set fetched %d times for 5 tokens, want 1", n)
	}
	rolled := bfauthtest.NewKey(t, "key-2", "msteams")
	id.Keys = append(id.Keys, rolled)
	if _, err := v.Validate(t.Context(), "Bearer "+id.Sign(t, rolled, bfauthtest.ChannelClaims(appID, serviceURL, now)), "msteams", serviceURL); err != nil {
		t.Fatalf("token signed by a rolled-in key: %v", err)
	}
	if n := id.KeyRequests(); n != 2 {
		t.Fatalf("key set fetched %d times after a key roll, want 2", n)
	}
	now = now.Add(25 * time.Hour)
	if _, err := v.Validate(t.Context(), "Bearer "+id.Sign(t, nil, bfauthtest.ChannelClaims(appID, serviceURL, now)), "msteams", serviceURL); err != nil {
		t.Fatal(err)
	}
	if n := id.KeyRequests(); n != 3 {
		t.Fatalf("key set fetched %d times after a day, want 3 (refreshed daily)", n)
	}
}

func TestTokenSourceCachesAndRenewsBeforeExpiry(t *testing.T) {
	id := bfauthtest.New(t)
	id.TokenTTL = time.Hour
	ts := bfauth.NewTokenSource(bfauth.TokenConfig{AppID: appID, AppPassword: "pw", TokenURL: id.TokenURL()})
	for range 3 {
		tok, err := ts.Token()
		if err != nil || tok.AccessToken != "bot-token-1" {
			t.Fatalf("Token = %v, %v; want the first token, cached", tok, err)
		}
	}
	id.TokenTTL = 4 * time.Minute // inside RenewBefore: every call renews
	short := bfauth.NewTokenSource(bfauth.TokenConfig{AppID: appID, AppPassword: "pw", TokenURL: id.TokenURL()})
	a, _ := short.Token()
	b, _ := short.Token()
	if a.AccessToken == b.AccessToken {
		t.Fatalf("a token expiring within %s was reused: %s", bfauth.RenewBefore, a.AccessToken)
	}
	if bfauth.NewTokenSource(bfauth.TokenConfig{}) != nil {
		t.Fatal("anonymous mode must send no token")
	}
}
