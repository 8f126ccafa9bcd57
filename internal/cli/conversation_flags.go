package cli

import (
	"github.com/spf13/cobra"

	"github.com/herald/herald/internal/app"
	"github.com/herald/herald/internal/config"
)

// conversationFlags registers the conversation channel's settings.
func conversationFlags(cmd *cobra.Command, o *app.ConversationOptions) {
	f := cmd.Flags()
	f.StringVar(&o.Mode, "conversation", app.ConversationBuiltin,
		"conversation channel: builtin (herald's assistant writes into stored conversations), external (BroadcastEvent to your assistant) or off")
	f.StringVar(&o.AppID, "bot-app-id", "", "the bot's Microsoft app id; empty runs /api/messages in anonymous mode (development only)")
	f.StringVar(&o.AppPassword, "bot-app-password", "", "the bot's app password (client secret)")
	config.MarkSecret(f, "bot-app-password")
	f.StringVar(&o.TenantID, "bot-tenant-id", "", "tenant of a single-tenant bot app; empty is multi-tenant")
	f.StringVar(&o.OpenIDMetadataURL, "bot-openid-metadata", "", "OpenID metadata URL whose keys sign inbound tokens (default: the Bot Framework's and the Emulator's)")
	f.StringVar(&o.TokenURL, "bot-token-url", "", "client-credentials token endpoint (default: login.microsoftonline.com)")
	f.Float64Var(&o.TenantRate, "bot-tenant-rate", 0, "most messages per second into one tenant's conversations (default 50, Teams' limit)")
	f.StringVar(&o.PublicURL, "public-url", "", "herald's external base URL, e.g. https://herald.example.com (Direct Line serviceUrl and stream URLs; default: from each request)")
	f.StringVar(&o.DirectLineSecret, "directline-secret", "", "Direct Line secret for clients of /v3/directline (default: a random one kept in memory)")
	config.MarkSecret(f, "directline-secret")
	f.StringVar(&o.BotEndpoint, "va-endpoint", "", "external mode: your assistant's messaging endpoint (https://bot.example.com/api/messages)")
	f.StringVar(&o.BotAppID, "va-app-id", "", "external mode: your assistant's app id (the scope of herald's token)")
	f.StringVar(&o.BotDirectLineURL, "va-directline-url", "", "external mode: Direct Line base URL (default https://directline.botframework.com/v3/directline)")
	f.StringVar(&o.BotDirectLineSecret, "va-directline-secret", "", "external mode: your assistant's Direct Line secret")
	config.MarkSecret(f, "va-directline-secret")
}
