package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/herald/herald/internal/client"
)

func newPrefsCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "prefs", Short: "Read and change a person's notification preferences"}
	var sf serverFlags
	get := &cobra.Command{
		Use:   "get USER",
		Short: "Print a person's preferences as JSON (the default record is created on first sight)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := resolve(cmd); err != nil {
				return err
			}
			c, err := sf.client()
			if err != nil {
				return err
			}
			var out json.RawMessage
			if err := c.Do(cmd.Context(), http.MethodGet, client.UserPath(args[0], "/preferences"), "", nil, &out); err != nil {
				return err
			}
			return printJSON(cmd, out)
		},
	}
	sf.register(get)

	var sf2 serverFlags
	var doc string
	set := &cobra.Command{
		Use:   "set USER [FIELD=VALUE ...]",
		Short: "Change some of a person's preferences (needs an admin key)",
		Example: `  herald prefs set u1 sendNotificationToMobileDevice=false
  herald prefs set u1 categories.marketing=false timeZone=Europe/Paris
  herald prefs set u1 --json '{"quietHours":{"start":"22:00","end":"07:00"}}'`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := resolve(cmd); err != nil {
				return err
			}
			body, err := prefsPatch(args[1:], doc)
			if err != nil {
				return err
			}
			c, err := sf2.client()
			if err != nil {
				return err
			}
			var out json.RawMessage
			if err := c.Do(cmd.Context(), http.MethodPatch, client.UserPath(args[0], "/preferences"), "application/json", body, &out); err != nil {
				return err
			}
			return printJSON(cmd, out)
		},
	}
	sf2.register(set)
	set.Flags().StringVar(&doc, "json", "", "a JSON document of fields to change, instead of FIELD=VALUE pairs")
	cmd.AddCommand(get, set)
	return cmd
}

// prefsPatch turns FIELD=VALUE pairs (or a JSON document) into a PATCH body.
// Values are read as JSON when they parse (true, 3, null, {...}) and as
// strings otherwise; categories.NAME=BOOL sets one category.
func prefsPatch(pairs []string, doc string) ([]byte, error) {
	if doc != "" {
		if len(pairs) > 0 {
			return nil, errors.New("give either --json or FIELD=VALUE pairs, not both")
		}
		return []byte(doc), nil
	}
	if len(pairs) == 0 {
		return nil, errors.New("nothing to change: give FIELD=VALUE pairs or --json")
	}
	patch := map[string]any{}
	cats := map[string]any{}
	for _, p := range pairs {
		k, v, ok := strings.Cut(p, "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("%q is not FIELD=VALUE", p)
		}
		var val any
		if json.Unmarshal([]byte(v), &val) != nil {
			val = v
		}
		if name, isCat := strings.CutPrefix(k, "categories."); isCat {
			b, err := strconv.ParseBool(v)
			if err != nil {
				return nil, fmt.Errorf("%s: a category is true or false", k)
			}
			cats[name] = b
			continue
		}
		patch[k] = val
	}
	if len(cats) > 0 {
		patch["categories"] = cats
	}
	return json.Marshal(patch)
}

func printJSON(cmd *cobra.Command, raw json.RawMessage) error {
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		return err
	}
	out, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	fmt.Fprintln(cmd.OutOrStdout(), string(out))
	return nil
}
