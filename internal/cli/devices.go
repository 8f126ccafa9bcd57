package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/herald/herald/internal/client"
)

func newDevicesCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "devices", Short: "Register, list and remove a person's push devices"}

	var sfAdd serverFlags
	var d struct {
		platform, token, environment, topic, endpoint, p256dh, auth, locale, subscription string
		tags                                                                              []string
	}
	add := &cobra.Command{
		Use:   "add USER",
		Short: "Register a device (APNs or FCM token, or a Web Push subscription); needs an admin key",
		Example: `  herald devices add u1 --platform apns --token 5f2c...e1 --environment sandbox --topic com.example.app
  herald devices add u1 --platform fcm --token dGhpcyBpcyBub3QgYSByZWFs...
  herald devices add u1 --platform webpush --subscription "$(cat subscription.json)"
  herald devices add u1 --platform webpush --endpoint https://push.example/... --p256dh BCV... --auth BTB...`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := resolve(cmd); err != nil {
				return err
			}
			body := map[string]any{"platform": d.platform}
			set := func(k, v string) {
				if v != "" {
					body[k] = v
				}
			}
			set("token", d.token)
			set("environment", d.environment)
			set("topic", d.topic)
			set("locale", d.locale)
			if len(d.tags) > 0 {
				body["tags"] = d.tags
			}
			switch {
			case d.subscription != "":
				var sub json.RawMessage
				if err := json.Unmarshal([]byte(d.subscription), &sub); err != nil {
					return fmt.Errorf("--subscription is not JSON: %w", err)
				}
				body["subscription"] = sub
			case d.endpoint != "" || d.p256dh != "" || d.auth != "":
				body["subscription"] = map[string]any{"endpoint": d.endpoint, "keys": map[string]string{"p256dh": d.p256dh, "auth": d.auth}}
			}
			c, err := sfAdd.client()
			if err != nil {
				return err
			}
			raw, _ := json.Marshal(body)
			var out json.RawMessage
			if err := c.Do(cmd.Context(), http.MethodPost, client.UserPath(args[0], "/devices"), "application/json", raw, &out); err != nil {
				return err
			}
			return printJSON(cmd, out)
		},
	}
	sfAdd.register(add)
	f := add.Flags()
	f.StringVar(&d.platform, "platform", "", "apns, fcm or webpush (required)")
	f.StringVar(&d.token, "token", "", "APNs device token (hex) or FCM registration token")
	f.StringVar(&d.environment, "environment", "", "APNs environment: production (default) or sandbox")
	f.StringVar(&d.topic, "topic", "", "APNs topic (app bundle id), if not the server's default")
	f.StringVar(&d.subscription, "subscription", "", "a Web Push subscription as JSON (PushSubscription.toJSON())")
	f.StringVar(&d.endpoint, "endpoint", "", "Web Push endpoint URL")
	f.StringVar(&d.p256dh, "p256dh", "", "Web Push p256dh key, base64url")
	f.StringVar(&d.auth, "auth", "", "Web Push auth secret, base64url")
	f.StringVar(&d.locale, "locale", "", "the device's locale, such as fr-CA, to pick translations")
	f.StringSliceVar(&d.tags, "tag", nil, "a tag (repeat for several)")
	_ = add.MarkFlagRequired("platform")

	var sfList serverFlags
	var asJSON bool
	list := &cobra.Command{
		Use:   "list USER",
		Short: "List a person's devices with their state (active, or retired and why)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := resolve(cmd); err != nil {
				return err
			}
			c, err := sfList.client()
			if err != nil {
				return err
			}
			var out json.RawMessage
			if err := c.Do(cmd.Context(), http.MethodGet, client.UserPath(args[0], "/devices"), "", nil, &out); err != nil {
				return err
			}
			if asJSON {
				return printJSON(cmd, out)
			}
			var doc struct {
				Devices []struct {
					ID, Platform, Token, Endpoint, Environment, State, RetiredReason, Locale string
				} `json:"devices"`
			}
			if err := json.Unmarshal(out, &doc); err != nil {
				return err
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tPLATFORM\tADDRESS\tSTATE\tREASON")
			for _, dv := range doc.Devices {
				addr := dv.Token
				if dv.Endpoint != "" {
					if u, err := url.Parse(dv.Endpoint); err == nil {
						addr = u.Host
					}
				}
				if len(addr) > 24 {
					addr = addr[:12] + "…" + addr[len(addr)-8:]
				}
				if dv.Environment == "sandbox" {
					addr += " (sandbox)"
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", dv.ID, dv.Platform, addr, dv.State, dv.RetiredReason)
			}
			return tw.Flush()
		},
	}
	sfList.register(list)
	list.Flags().BoolVar(&asJSON, "json", false, "print the API's JSON")

	var sfRemove serverFlags
	remove := &cobra.Command{
		Use:   "remove USER DEVICE_ID",
		Short: "Remove one of a person's devices; needs an admin key",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := resolve(cmd); err != nil {
				return err
			}
			c, err := sfRemove.client()
			if err != nil {
				return err
			}
			err = c.Do(cmd.Context(), http.MethodDelete, client.UserPath(args[0], "/devices/"+url.PathEscape(args[1])), "", nil, nil)
			var ae *client.APIError
			if errors.As(err, &ae) && ae.Status == http.StatusNotFound {
				return fmt.Errorf("%s has no device %s (see 'herald devices list %s')", args[0], args[1], args[0])
			}
			return err
		},
	}
	sfRemove.register(remove)
	cmd.AddCommand(add, list, remove)
	return cmd
}
