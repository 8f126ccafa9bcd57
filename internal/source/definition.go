package source

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// Definition is a source's YAML file as written. Secrets appear only as
// references (env:NAME or file:PATH), never as values.
type Definition struct {
	// Name is the source's name, the last segment of POST /v1/sources/{name}.
	// It defaults to the file's name without its extension and, when given,
	// must equal it.
	Name string `yaml:"name"`
	// Description is free text for people.
	Description string `yaml:"description"`
	// Auth says how the upstream system proves itself.
	Auth AuthDefinition `yaml:"auth"`
	// Filter is a jq program yielding true (map and ingest the payload) or
	// false (answer 202 "filtered", ingest nothing). Empty keeps everything.
	Filter string `yaml:"filter"`
	// Map holds one jq program per part of the canonical event.
	Map MapDefinition `yaml:"map"`
}

// AuthDefinition holds exactly one of HMAC and Bearer.
type AuthDefinition struct {
	HMAC   *HMACDefinition   `yaml:"hmac"`
	Bearer *BearerDefinition `yaml:"bearer"`
}

// HMACDefinition authenticates requests by an HMAC-SHA256 signature of the
// body (and of a timestamp, when TimestampHeader is set) with a shared secret.
type HMACDefinition struct {
	// Header carries the signature; DefaultSignatureHeader when empty.
	Header string `yaml:"header"`
	// Secret is a reference to the shared secret: env:NAME or file:PATH (a
	// relative path is relative to the definition's directory).
	Secret string `yaml:"secret"`
	// TimestampHeader, when set, carries the time of signing (Unix seconds
	// or RFC 3339); the signed text is then timestamp + "." + body and
	// requests older (or newer) than Tolerance are refused.
	TimestampHeader string `yaml:"timestampHeader"`
	// Tolerance is how far the timestamp may be from herald's clock;
	// DefaultTolerance when zero.
	Tolerance time.Duration `yaml:"tolerance"`
}

// BearerDefinition authenticates requests by a shared key sent as
// "Authorization: Bearer <key>".
type BearerDefinition struct {
	// Key is a reference to the key: env:NAME or file:PATH.
	Key string `yaml:"key"`
}

// MapDefinition holds the jq programs that build the canonical event from a
// payload. Each runs on the payload with $headers (the request's headers,
// names in lower case, without Authorization and Cookie) and must yield one
// value.
type MapDefinition struct {
	// ID yields the CloudEvent id, a string; when empty, the id is the hex
	// SHA-256 of the body, so a payload sent twice is delivered once.
	ID string `yaml:"id"`
	// Source yields the CloudEvent source; "urn:herald:source:<name>" when
	// empty.
	Source string `yaml:"source"`
	// Type yields the CloudEvent type (required).
	Type string `yaml:"type"`
	// Subject yields the CloudEvent subject, the recipient when there is
	// no audience; null leaves it out.
	Subject string `yaml:"subject"`
	// Time yields the CloudEvent time (RFC 3339); null leaves it out.
	Time string `yaml:"time"`
	// Audience yields data.audience ({users: [...]}, {topics: [...]},
	// {all: true}, exclude); null leaves it out.
	Audience string `yaml:"audience"`
	// Notification yields data.notification (required): title, message,
	// category, urgency, actions, expiresAt, locale, data.
	Notification string `yaml:"notification"`
}

// Defaults of a definition.
const (
	DefaultSignatureHeader = "X-Signature"
	DefaultTolerance       = 5 * time.Minute
)

// Steps of a mapping, in the order they run; a MapError names one of them.
const (
	StepBody           = "body"
	StepFilter         = "filter"
	StepID             = "map.id"
	StepSource         = "map.source"
	StepType           = "map.type"
	StepSubject        = "map.subject"
	StepTime           = "map.time"
	StepAudience       = "map.audience"
	StepNotification   = "map.notification"
	maxNameLen         = 64
	maxDefinitionBytes = 1 << 20
)

var namePattern = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]*$`)

// CheckName returns what is wrong with a source name, or "" if it is valid:
// 1-64 lower-case letters, digits, '.', '_' or '-', starting with a letter or
// digit.
func CheckName(name string) string {
	if len(name) > maxNameLen || !namePattern.MatchString(name) {
		return fmt.Sprintf("a source name is 1-%d lower-case letters, digits, '.', '_' or '-', got %q", maxNameLen, name)
	}
	return ""
}

// LoadOptions say how definitions are loaded.
type LoadOptions struct {
	// Secrets resolves every secret reference and fails on one that cannot
	// be read. Without it definitions are checked and compiled only, which
	// is enough to test mappings offline; such a source cannot verify or
	// sign requests.
	Secrets bool
	// LookupEnv reads environment variables; os.LookupEnv when nil.
	LookupEnv func(string) (string, bool)
}

// DefinitionError lists every problem of one definition file.
type DefinitionError struct {
	File     string
	Problems []string
}

func (e *DefinitionError) Error() string {
	return e.File + ": " + strings.Join(e.Problems, "; ")
}

// Registry holds the loaded sources by name. A nil *Registry has none.
type Registry struct {
	dir     string
	sources map[string]*Source
}

// LoadDir loads every *.yaml and *.yml file directly in dir (sub-directories,
// such as samples/, are not read). Every problem of every file is reported,
// each naming its file and the part of the definition at fault.
func LoadDir(dir string, opts LoadOptions) (*Registry, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("read the sources directory: %w", err)
	}
	r := &Registry{dir: dir, sources: map[string]*Source{}}
	var errs []error
	for _, e := range entries {
		if ext := filepath.Ext(e.Name()); e.IsDir() || strings.HasPrefix(e.Name(), ".") || (ext != ".yaml" && ext != ".yml") {
			continue
		}
		path := filepath.Join(dir, e.Name())
		src, err := ParseFile(path, opts)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if other, dup := r.sources[src.Name()]; dup {
			errs = append(errs, fmt.Errorf("%s: source %q is also defined by %s", path, src.Name(), other.file))
			continue
		}
		r.sources[src.Name()] = src
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return r, nil
}

// NewRegistry holds the given sources, for tests and embedders.
func NewRegistry(sources ...*Source) (*Registry, error) {
	r := &Registry{sources: map[string]*Source{}}
	for _, s := range sources {
		if _, dup := r.sources[s.Name()]; dup {
			return nil, fmt.Errorf("source %q is given twice", s.Name())
		}
		r.sources[s.Name()] = s
	}
	return r, nil
}

// Get returns the source called name.
func (r *Registry) Get(name string) (*Source, bool) {
	if r == nil {
		return nil, false
	}
	s, ok := r.sources[name]
	return s, ok
}

// List returns the sources in name order.
func (r *Registry) List() []*Source {
	if r == nil {
		return nil
	}
	out := make([]*Source, 0, len(r.sources))
	for _, s := range r.sources {
		out = append(out, s)
	}
	slices.SortFunc(out, func(a, b *Source) int { return strings.Compare(a.Name(), b.Name()) })
	return out
}

// Dir is the directory the definitions came from ("" when built by
// NewRegistry).
func (r *Registry) Dir() string {
	if r == nil {
		return ""
	}
	return r.dir
}

// ParseFile reads and compiles the definition in path.
func ParseFile(path string, opts LoadOptions) (*Source, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read source definition: %w", err)
	}
	return Parse(path, data, opts)
}

// Parse compiles the definition data read from path (whose base name, less
// its extension, is the default name and whose directory anchors relative
// file: references). Every problem is reported in one *DefinitionError.
func Parse(path string, data []byte, opts LoadOptions) (*Source, error) {
	if opts.LookupEnv == nil {
		opts.LookupEnv = os.LookupEnv
	}
	fail := &DefinitionError{File: path}
	add := func(format string, args ...any) { fail.Problems = append(fail.Problems, fmt.Sprintf(format, args...)) }
	if len(data) > maxDefinitionBytes {
		add("is %d bytes; a definition is at most %d", len(data), maxDefinitionBytes)
		return nil, fail
	}
	var def Definition
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&def); err != nil {
		add("not a source definition: %s", strings.TrimPrefix(err.Error(), "yaml: "))
		return nil, fail
	}
	base := strings.TrimSuffix(filepath.Base(path), filepath.Ext(path))
	switch {
	case def.Name == "" && path == "":
		add("name: required")
	case def.Name == "":
		def.Name = base
		if msg := CheckName(base); msg != "" {
			add("name: the file name gives the name, but %s", msg)
		}
	case CheckName(def.Name) != "":
		add("name: %s", CheckName(def.Name))
	case path != "" && def.Name != base:
		add("name: %q differs from the file name %q; name the file %s.yaml or leave name out", def.Name, base, def.Name)
	}
	s := &Source{def: def, file: path}
	s.auth = buildAuth(def.Auth, filepath.Dir(path), opts, add)
	if def.Filter != "" {
		s.filter = compile(StepFilter, def.Filter, add)
	}
	m := def.Map
	for _, st := range []struct {
		step, expr string
		required   bool
	}{
		{StepID, m.ID, false}, {StepSource, m.Source, false}, {StepType, m.Type, true},
		{StepSubject, m.Subject, false}, {StepTime, m.Time, false},
		{StepAudience, m.Audience, false}, {StepNotification, m.Notification, true},
	} {
		if strings.TrimSpace(st.expr) == "" {
			if st.required {
				add("%s: required: a jq program (see docs/sources.md)", st.step)
			}
			continue
		}
		if p := compile(st.step, st.expr, add); p != nil {
			s.steps = append(s.steps, p)
		}
	}
	if len(fail.Problems) > 0 {
		return nil, fail
	}
	return s, nil
}

// buildAuth checks the auth section and, with opts.Secrets, reads the secret.
func buildAuth(d AuthDefinition, dir string, opts LoadOptions, add func(string, ...any)) authenticator {
	switch {
	case d.HMAC != nil && d.Bearer != nil:
		add("auth: give one of hmac and bearer, not both")
		return nil
	case d.HMAC != nil:
		h := d.HMAC
		a := &hmacAuth{header: h.Header, tsHeader: h.TimestampHeader, tolerance: h.Tolerance}
		if a.header == "" {
			a.header = DefaultSignatureHeader
		}
		if a.tolerance == 0 {
			a.tolerance = DefaultTolerance
		}
		if a.tolerance < 0 {
			add("auth.hmac.tolerance: must be positive, got %s", h.Tolerance)
		}
		if h.Tolerance != 0 && a.tsHeader == "" {
			add("auth.hmac.tolerance: needs auth.hmac.timestampHeader (the tolerance applies to the signed timestamp)")
		}
		a.ref, a.secret = secretField("auth.hmac.secret", h.Secret, dir, opts, add)
		return a
	case d.Bearer != nil:
		a := &bearerAuth{}
		a.ref, a.key = secretField("auth.bearer.key", d.Bearer.Key, dir, opts, add)
		return a
	}
	add("auth: required: hmac {header, secret, timestampHeader, tolerance} or bearer {key}; upstream requests are never taken unauthenticated")
	return nil
}

// secretField parses a secret reference and, with opts.Secrets, reads it.
func secretField(field, raw, dir string, opts LoadOptions, add func(string, ...any)) (secretRef, []byte) {
	ref, err := parseSecretRef(raw, dir)
	if err != nil {
		add("%s: %v", field, err)
		return ref, nil
	}
	if !opts.Secrets {
		return ref, nil
	}
	val, err := ref.resolve(opts.LookupEnv)
	if err != nil {
		add("%s: %v", field, err)
		return ref, nil
	}
	return ref, val
}
