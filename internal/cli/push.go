package cli

import (
	"github.com/spf13/cobra"

	"github.com/herald/herald/internal/app"
	"github.com/herald/herald/internal/config"
)

// pushFlags registers the mobile and webpush channel settings on cmd. A
// provider is configured by its credentials; endpoints default to Apple's
// and Google's. See docs/push.md.
func pushFlags(cmd *cobra.Command, o *app.PushOptions) {
	f := cmd.Flags()
	f.StringVar(&o.APNsEndpoint, "apns-endpoint", "", "APNs base URL for production devices (default https://api.push.apple.com)")
	f.StringVar(&o.APNsSandboxEndpoint, "apns-sandbox-endpoint", "", "APNs base URL for sandbox devices (default https://api.sandbox.push.apple.com, or --apns-endpoint when that is set)")
	f.StringVar(&o.APNsKeyFile, "apns-key-file", "", "APNs token-signing key (.p8); configures APNs")
	f.StringVar(&o.APNsKeyID, "apns-key-id", "", "APNs key id (the provider token's kid)")
	f.StringVar(&o.APNsTeamID, "apns-team-id", "", "Apple developer team id (the provider token's iss)")
	f.StringVar(&o.APNsTopic, "apns-topic", "", "default apns-topic (app bundle id) for devices registered without one")
	f.StringVar(&o.FCMEndpoint, "fcm-endpoint", "", "FCM base URL (default https://fcm.googleapis.com)")
	f.StringVar(&o.FCMTokenURL, "fcm-token-url", "", "OAuth2 token URL (default: the service account's token_uri)")
	f.StringVar(&o.FCMCredentialsFile, "fcm-credentials-file", "", "Firebase service-account JSON key file; configures FCM")
	f.StringVar(&o.FCMProjectID, "fcm-project-id", "", "Firebase project id (default: the service account's project_id)")
	f.StringVar(&o.VAPIDPublicKey, "vapid-public-key", "", "VAPID public key, base64url (herald vapid generate)")
	f.StringVar(&o.VAPIDPrivateKey, "vapid-private-key", "", "VAPID private key, base64url; configures Web Push")
	f.StringVar(&o.VAPIDSubject, "vapid-subject", "", "VAPID contact for push services: mailto:... or https://...")
	f.StringVar(&o.CAFile, "push-ca-file", "", "PEM certificates to trust for push providers, besides the system pool (SSL_CERT_FILE)")
	f.IntVar(&o.Concurrency, "push-concurrency", 256, "requests in flight per push provider")
	f.Float64Var(&o.Rate, "push-rate", 0, "requests per second per push provider (0: no limit)")
	f.DurationVar(&o.Timeout, "push-timeout", 0, "longest wait for one push provider answer (default 30s)")
	config.MarkSecret(f, "vapid-private-key")
}
