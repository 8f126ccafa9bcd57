package cli

import (
	"context"
	"errors"
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/herald/herald/internal/app"
	"github.com/herald/herald/internal/auth"
	"github.com/herald/herald/internal/store"
)

// openDataStore opens the store `serve` uses: SQLite under a data
// directory (which lets this run beside a running server) or the
// PostgreSQL database storeURL names.
func openDataStore(ctx context.Context, dataDir, storeURL string) (store.Store, error) {
	st, err := app.OpenStore(ctx, app.Options{DataDir: dataDir, Store: storeURL})
	if err != nil {
		return nil, fmt.Errorf("open the store of %s: %w", dataDir, err)
	}
	return st, nil
}

func newKeysCmd() *cobra.Command {
	var dataDir, storeURL string
	cmd := &cobra.Command{
		Use:   "keys",
		Short: "Create, list and delete API keys (works on the store directly)",
	}
	cmd.PersistentFlags().StringVar(&dataDir, "data", "./data", "herald's data directory")
	cmd.PersistentFlags().StringVar(&storeURL, "store", app.StoreSQLite, "herald's store: sqlite (under --data) or a postgres:// URL, as for serve")
	// withStore resolves cmd's settings and runs fn on the store under
	// --data, closing it afterwards.
	withStore := func(cmd *cobra.Command, fn func(st store.Store) error) error {
		if err := resolve(cmd); err != nil {
			return err
		}
		st, err := openDataStore(cmd.Context(), dataDir, storeURL)
		if err != nil {
			return err
		}
		defer st.Close()
		return fn(st)
	}

	var role, name string
	create := &cobra.Command{
		Use:   "create",
		Short: "Create an API key and print it alone on stdout",
		Long:  "Create an API key and print it alone on stdout; it is shown only once.\nRoles: producer (send events, read their status), reader (read preferences,\ninboxes and status, mark read), admin (everything).",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return withStore(cmd, func(st store.Store) error {
				r, err := auth.ParseRole(role)
				if err != nil {
					return err
				}
				key, rec, err := auth.NewKey(r, name, time.Now())
				if err != nil {
					return err
				}
				if err := st.CreateAPIKey(cmd.Context(), rec); err != nil {
					return fmt.Errorf("store the key: %w", err)
				}
				fmt.Fprintln(cmd.OutOrStdout(), key)
				return nil
			})
		},
	}
	create.Flags().StringVar(&role, "role", "", "producer, reader or admin (required)")
	create.Flags().StringVar(&name, "name", "", "a label to recognise the key by")
	_ = create.MarkFlagRequired("role")

	list := &cobra.Command{
		Use:   "list",
		Short: "List API keys (ids, roles and names; never secrets)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return withStore(cmd, func(st store.Store) error {
				keys, err := st.APIKeys(cmd.Context())
				if err != nil {
					return err
				}
				tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "ID\tROLE\tNAME\tCREATED")
				for _, k := range keys {
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", k.ID, k.Role, k.Name, k.CreatedAt.Format(time.RFC3339))
				}
				return tw.Flush()
			})
		},
	}
	del := &cobra.Command{
		Use:   "delete ID",
		Short: "Delete an API key; running servers stop accepting it within seconds",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return withStore(cmd, func(st store.Store) error {
				err := st.DeleteAPIKey(cmd.Context(), args[0])
				if errors.Is(err, store.ErrNotFound) {
					return fmt.Errorf("no key with id %q (see 'herald keys list')", args[0])
				}
				return err
			})
		},
	}
	cmd.AddCommand(create, list, del)
	return cmd
}
