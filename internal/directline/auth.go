package directline

import (
	"context"
	"crypto/hkdf"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// tokenIssuer is the iss claim of every token herald mints, so that a JWT
// signed for another purpose with the same key is never taken for one.
const tokenIssuer = "herald/directline"

// claims are a Direct Line token's: the conversation it covers and, when
// the secret holder named one, the user it speaks for. "user" is the claim
// DirectLineJS reads (setUserId refuses to override a user set in the token).
type claims struct {
	Conversation string `json:"conv"`
	User         string `json:"user,omitempty"`
	UserName     string `json:"userName,omitempty"`
	jwt.RegisteredClaims
}

// caller is who made a request: the secret holder, or a token's bearer.
type caller struct {
	secret bool
	claims claims
}

// covers reports whether the caller may act on conversation id.
func (c caller) covers(id string) bool {
	return c.secret || c.claims.Conversation == id
}

// errExpired and errInvalid separate an expired token from any other bad
// credential, for the error code.
var (
	errExpired = errors.New("the token has expired")
	errInvalid = errors.New("the credential is neither the Direct Line secret nor a token issued by this server")
)

// signingKey derives the HS256 key of tokens from the secret, so that the
// secret itself never signs anything a client can see.
func signingKey(secret string) []byte {
	k, err := hkdf.Key(sha256.New, []byte(secret), nil, "herald directline token signing v1", 32)
	if err != nil { // only for a key length out of range, which 32 is not
		panic(err)
	}
	return k
}

// mint signs a token for conversation conv, speaking for user (may be "").
func (s *Server) mint(conv, user, userName string) (string, error) {
	now := s.now()
	c := claims{Conversation: conv, User: user, UserName: userName, RegisteredClaims: jwt.RegisteredClaims{
		Issuer:    tokenIssuer,
		IssuedAt:  jwt.NewNumericDate(now),
		NotBefore: jwt.NewNumericDate(now),
		ExpiresAt: jwt.NewNumericDate(now.Add(s.cfg.TokenLifetime)),
	}}
	tok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, c).SignedString(s.key)
	if err != nil {
		return "", fmt.Errorf("directline: sign token: %w", err)
	}
	return tok, nil
}

// verify checks a bearer credential: the secret (compared in constant
// time), else a token this server signed, unexpired.
func (s *Server) verify(cred string) (caller, error) {
	if subtle.ConstantTimeCompare([]byte(cred), []byte(s.cfg.Secret)) == 1 {
		return caller{secret: true}, nil
	}
	var c claims
	_, err := jwt.ParseWithClaims(cred, &c, func(*jwt.Token) (any, error) { return s.key, nil },
		jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}),
		jwt.WithIssuer(tokenIssuer),
		jwt.WithExpirationRequired(),
		jwt.WithTimeFunc(s.now))
	switch {
	case errors.Is(err, jwt.ErrTokenExpired):
		return caller{}, errExpired
	case err != nil || c.Conversation == "":
		return caller{}, errInvalid
	}
	return caller{claims: c}, nil
}

// authenticate reads "Authorization: Bearer <secret|token>", writing the
// error and returning false when it is missing or bad.
func (s *Server) authenticate(w http.ResponseWriter, r *http.Request) (caller, bool) {
	h := r.Header.Get("Authorization")
	scheme, cred, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(cred) == "" {
		writeError(w, http.StatusUnauthorized, CodeUnauthorized,
			`send "Authorization: Bearer <secret or token>"; get a token from POST /v3/directline/tokens/generate`)
		return caller{}, false
	}
	return s.check(w, strings.TrimSpace(cred))
}

// check verifies cred and writes the 403 when it is bad.
func (s *Server) check(w http.ResponseWriter, cred string) (caller, bool) {
	c, err := s.verify(cred)
	switch {
	case errors.Is(err, errExpired):
		writeError(w, http.StatusForbidden, CodeTokenExpired, "the token has expired: refresh tokens before they expire, or generate a new one")
		return caller{}, false
	case err != nil:
		writeError(w, http.StatusForbidden, CodeForbidden, err.Error())
		return caller{}, false
	}
	return c, true
}

// authorize authenticates and checks the caller may act on conversation id.
func (s *Server) authorize(w http.ResponseWriter, r *http.Request, id string) (caller, bool) {
	c, ok := s.authenticate(w, r)
	return c, ok && permit(w, c, id)
}

// permit checks the authenticated caller c may act on conversation id,
// writing the 403 when it may not.
func permit(w http.ResponseWriter, c caller, id string) bool {
	if !c.covers(id) {
		writeError(w, http.StatusForbidden, CodeForbidden, "the token is for another conversation")
		return false
	}
	return true
}

// expiresIn is the token lifetime in whole seconds, as expires_in.
func (s *Server) expiresIn() int {
	return int(s.cfg.TokenLifetime / time.Second)
}

// verifiedKey carries, in the context of a Bot call, the user id vouched
// for by the credential of the request.
type verifiedKey struct{}

// VerifiedUser returns the id of the user an activity handed to the Bot
// speaks for, and true, when the request's credential vouches for it: a
// token minted with a user (from.id is forced to it) or the secret itself
// (whose holder is trusted to name users). It returns false for a token
// minted without a user, whose bearer may put any from.id: a bot must not
// link such a conversation to a person's account (a stored conversation
// reference would send that person's notifications to whoever holds the
// token). It also returns false outside a Bot call.
func VerifiedUser(ctx context.Context) (string, bool) {
	id, ok := ctx.Value(verifiedKey{}).(string)
	return id, ok && id != ""
}

// withVerifiedUser records the vouched-for user for the Bot.
func withVerifiedUser(ctx context.Context, c caller, fromID string) context.Context {
	switch {
	case c.claims.User != "":
		return context.WithValue(ctx, verifiedKey{}, c.claims.User)
	case c.secret:
		return context.WithValue(ctx, verifiedKey{}, fromID)
	}
	return ctx
}
