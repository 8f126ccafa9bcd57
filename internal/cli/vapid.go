package cli

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/herald/herald/internal/channel/webpush"
)

func newVapidCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "vapid", Short: "Manage the VAPID key pair of the webpush channel"}
	gen := &cobra.Command{
		Use:   "generate",
		Short: "Print a new VAPID key pair as HERALD_VAPID_* settings",
		Long: "Print a new VAPID (RFC 8292) key pair, base64url encoded, as environment settings for\n" +
			"'herald serve'. Give the public key to browsers as the push subscription's\n" +
			"applicationServerKey; keep the private key secret. Changing the pair invalidates\n" +
			"every existing browser subscription.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			k, err := webpush.GenerateKeys()
			if err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			fmt.Fprintf(w, "HERALD_VAPID_PUBLIC_KEY=%s\n", k.Public)
			fmt.Fprintf(w, "HERALD_VAPID_PRIVATE_KEY=%s\n", k.Private)
			return nil
		},
	}
	cmd.AddCommand(gen)
	return cmd
}
