package config

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/spf13/pflag"
)

// A flag's alias (a normalized name, such as sources for sources-dir) works
// as a key of the YAML file too, not only on the command line.
func TestFileKeyMayBeAnAlias(t *testing.T) {
	t.Parallel()
	file := filepath.Join(t.TempDir(), "herald.yaml")
	if err := os.WriteFile(file, []byte("sources: /etc/herald/sources\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	fs := pflag.NewFlagSet("serve", pflag.ContinueOnError)
	fs.String(FileFlag, "", "")
	dir := fs.String("sources-dir", "", "")
	fs.SetNormalizeFunc(func(_ *pflag.FlagSet, name string) pflag.NormalizedName {
		if name == "sources" {
			name = "sources-dir"
		}
		return pflag.NormalizedName(name)
	})
	if err := fs.Parse([]string{"--config", file}); err != nil {
		t.Fatal(err)
	}
	if err := Resolve(fs); err != nil {
		t.Fatal(err)
	}
	if *dir != "/etc/herald/sources" {
		t.Fatalf("sources-dir = %q; the file's alias key was ignored", *dir)
	}
}
