package source

import (
	"net/http"
	"net/url"
	"path/filepath"
	"time"
)

// Source is one compiled upstream adapter. It is safe for concurrent use.
type Source struct {
	def    Definition
	file   string
	auth   authenticator
	filter *program
	// steps are the defined map programs in StepID..StepNotification order.
	steps []*program
}

// Name is the source's name.
func (s *Source) Name() string { return s.def.Name }

// File is the definition's path.
func (s *Source) File() string { return s.file }

// Definition returns the definition as written (secret references only).
func (s *Source) Definition() Definition { return s.def }

// Verify checks the request's credentials at now: nil, an *AuthError saying
// why not, or ErrNoSecret.
func (s *Source) Verify(h http.Header, body []byte, now time.Time) error {
	return s.auth.verify(h, body, now)
}

// Sign sets the headers an upstream system sends with body at now (the
// signature and timestamp, or the bearer key), as herald produce does.
func (s *Source) Sign(h http.Header, body []byte, now time.Time) error {
	return s.auth.sign(h, body, now)
}

// View is a source as GET /v1/sources shows it: secrets appear as their
// references (env:NAME, file:PATH), never as values.
type View struct {
	Name        string            `json:"name"`
	Description string            `json:"description,omitempty"`
	Endpoint    string            `json:"endpoint"`
	File        string            `json:"file"`
	Auth        AuthView          `json:"auth"`
	Filter      string            `json:"filter,omitempty"`
	Map         map[string]string `json:"map"`
}

// AuthView describes a source's authentication.
type AuthView struct {
	// Kind is hmac or bearer.
	Kind   string `json:"kind"`
	Header string `json:"header"`
	// Secret is where the secret or key is read from.
	Secret          string `json:"secret"`
	TimestampHeader string `json:"timestampHeader,omitempty"`
	Tolerance       string `json:"tolerance,omitempty"`
}

// View describes s without its secrets.
func (s *Source) View() View {
	v := View{
		Name: s.def.Name, Description: s.def.Description, Endpoint: "/v1/sources/" + url.PathEscape(s.def.Name),
		File: filepath.Base(s.file), Auth: s.auth.view(), Filter: s.def.Filter, Map: map[string]string{},
	}
	for _, p := range s.steps {
		v.Map[p.step[len("map."):]] = p.expr
	}
	return v
}
