package app

import (
	"fmt"
	"log/slog"
	"strings"

	"github.com/herald/herald/internal/source"
)

// loadSources loads the upstream adapters in dir with their secrets; none
// when dir is empty.
func loadSources(dir string, log *slog.Logger) (*source.Registry, error) {
	if dir == "" {
		return nil, nil
	}
	reg, err := source.LoadDir(dir, source.LoadOptions{Secrets: true})
	if err != nil {
		return nil, fmt.Errorf("load sources from %s: %w", dir, err)
	}
	var names []string
	for _, s := range reg.List() {
		names = append(names, s.Name())
	}
	if len(names) == 0 {
		log.Warn("no source definitions (*.yaml) in the sources directory", "dir", dir)
	} else {
		log.Info("sources loaded", "dir", dir, "sources", strings.Join(names, ","))
	}
	return reg, nil
}
