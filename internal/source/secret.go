package source

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// secretRef says where a secret lives: an environment variable or a file.
// The reference is safe to show; the value it leads to never is.
type secretRef struct {
	kind string // "env" or "file"
	name string // the variable's name or the file's path
}

func (r secretRef) String() string {
	if r.kind == "" {
		return ""
	}
	return r.kind + ":" + r.name
}

// parseSecretRef reads "env:NAME" or "file:PATH"; a relative PATH is
// relative to dir.
func parseSecretRef(raw, dir string) (secretRef, error) {
	kind, name, ok := strings.Cut(strings.TrimSpace(raw), ":")
	switch {
	case raw == "":
		return secretRef{}, fmt.Errorf("required: env:NAME or file:PATH")
	case !ok || name == "" || (kind != "env" && kind != "file"):
		// The value may be the secret itself: never echo it.
		return secretRef{}, fmt.Errorf("must be a reference, env:NAME or file:PATH (secrets are not written in definitions)")
	case kind == "file" && !filepath.IsAbs(name):
		name = filepath.Join(dir, name)
	}
	return secretRef{kind: kind, name: name}, nil
}

// resolve reads the secret; surrounding white space (a file's final newline)
// is not part of it.
func (r secretRef) resolve(lookupEnv func(string) (string, bool)) ([]byte, error) {
	var val []byte
	switch r.kind {
	case "env":
		v, ok := lookupEnv(r.name)
		if !ok {
			return nil, fmt.Errorf("environment variable %s is not set", r.name)
		}
		val = []byte(v)
	case "file":
		b, err := os.ReadFile(r.name)
		if err != nil {
			return nil, fmt.Errorf("read the secret file: %w", err)
		}
		val = b
	}
	val = bytes.TrimSpace(val)
	if len(val) == 0 {
		return nil, fmt.Errorf("%s is empty", r)
	}
	return val, nil
}
