// Package config loads herald's settings with one precedence everywhere:
// command-line flags, then HERALD_* environment variables, then an optional
// YAML file, then defaults. Every setting is a flag; its environment name is
// HERALD_ plus the flag name in upper case with '-' as '_', and its YAML key
// is the flag name. Secrets are marked so that printing redacts them.
package config

import (
	"fmt"
	"net/url"
	"os"
	"sort"
	"strings"

	"github.com/spf13/pflag"
	"gopkg.in/yaml.v3"
)

// EnvName is the environment variable that sets flag name.
func EnvName(flag string) string {
	return "HERALD_" + strings.ToUpper(strings.ReplaceAll(flag, "-", "_"))
}

// secretAnnotation marks a flag whose value must never be printed.
const secretAnnotation = "herald_secret"

// MarkSecret marks flag name as a secret.
func MarkSecret(fs *pflag.FlagSet, name string) {
	_ = fs.SetAnnotation(name, secretAnnotation, []string{"true"})
}

// urlAnnotation marks a flag whose value is a URL that may carry a
// password.
const urlAnnotation = "herald_url"

// MarkURL marks flag name as a URL whose password Print redacts, keeping
// the rest (scheme, user, host, database) visible.
func MarkURL(fs *pflag.FlagSet, name string) {
	_ = fs.SetAnnotation(name, urlAnnotation, []string{"true"})
}

// RedactURL returns raw with the password of its user information and any
// password query parameter replaced by "redacted". A value that does not
// parse as a URL but may hold a password is redacted whole.
func RedactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		if strings.Contains(raw, "@") || strings.Contains(strings.ToLower(raw), "password") {
			return "[redacted]"
		}
		return raw
	}
	if _, ok := u.User.Password(); ok {
		u.User = url.UserPassword(u.User.Username(), "redacted")
	}
	if q := u.Query(); q.Has("password") {
		q.Set("password", "redacted")
		u.RawQuery = q.Encode()
	}
	return u.String()
}

// FileFlag is the flag (and HERALD_CONFIG variable) naming the YAML file.
const FileFlag = "config"

// Resolve fills every flag that was not given on the command line from the
// environment or, failing that, from the YAML file named by --config or
// HERALD_CONFIG. Unknown keys in the file are errors, so typos do not pass
// silently.
func Resolve(fs *pflag.FlagSet) error {
	file := ""
	if f := fs.Lookup(FileFlag); f != nil {
		file = f.Value.String()
		if !f.Changed {
			if v, ok := os.LookupEnv(EnvName(FileFlag)); ok {
				file = v
			}
		}
	}
	fromFile := map[string]any{}
	if file != "" {
		data, err := os.ReadFile(file)
		if err != nil {
			return fmt.Errorf("read config file: %w", err)
		}
		if err := yaml.Unmarshal(data, &fromFile); err != nil {
			return fmt.Errorf("config file %s: %w", file, err)
		}
		for k, v := range fromFile {
			f := fs.Lookup(k)
			if f == nil || k == FileFlag {
				return fmt.Errorf("config file %s: unknown setting %q (settings are the flag names of this command; see --help)", file, k)
			}
			if f.Name != k { // an alias, such as sources for sources-dir
				delete(fromFile, k)
				fromFile[f.Name] = v
			}
		}
	}
	var errs []string
	fs.VisitAll(func(f *pflag.Flag) {
		if f.Changed || f.Name == FileFlag || f.Name == "help" {
			return
		}
		if v, ok := os.LookupEnv(EnvName(f.Name)); ok {
			if err := f.Value.Set(v); err != nil {
				errs = append(errs, fmt.Sprintf("%s=%q: %v", EnvName(f.Name), v, err))
			}
			return
		}
		if v, ok := fromFile[f.Name]; ok {
			if err := setFromYAML(f, v); err != nil {
				errs = append(errs, fmt.Sprintf("%s in %s: %v", f.Name, file, err))
			}
		}
	})
	if len(errs) > 0 {
		sort.Strings(errs)
		return fmt.Errorf("invalid settings: %s", strings.Join(errs, "; "))
	}
	return nil
}

func setFromYAML(f *pflag.Flag, v any) error {
	if list, ok := v.([]any); ok {
		parts := make([]string, len(list))
		for i, p := range list {
			parts[i] = fmt.Sprint(p)
		}
		return f.Value.Set(strings.Join(parts, ","))
	}
	return f.Value.Set(fmt.Sprint(v))
}

// Setting is one resolved flag for printing.
type Setting struct {
	Name   string
	Env    string
	Value  string
	Source string
}

// Print lists every setting of fs with its value (secrets redacted) and
// where it came from.
func Print(fs *pflag.FlagSet) []Setting {
	var out []Setting
	fs.VisitAll(func(f *pflag.Flag) {
		if f.Name == "help" {
			return
		}
		s := Setting{Name: f.Name, Env: EnvName(f.Name), Value: f.Value.String(), Source: "default"}
		if f.Changed {
			s.Source = "flag"
		} else if _, ok := os.LookupEnv(s.Env); ok {
			s.Source = "env"
		} else if f.Value.String() != f.DefValue {
			s.Source = "file"
		}
		if _, secret := f.Annotations[secretAnnotation]; secret && s.Value != "" {
			s.Value = "[redacted]"
		}
		if _, isURL := f.Annotations[urlAnnotation]; isURL {
			s.Value = RedactURL(s.Value)
		}
		out = append(out, s)
	})
	return out
}
