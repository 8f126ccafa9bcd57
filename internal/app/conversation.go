package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/herald/herald/internal/activity"
	"github.com/herald/herald/internal/assistant"
	"github.com/herald/herald/internal/bfauth"
	"github.com/herald/herald/internal/channel"
	"github.com/herald/herald/internal/channel/conversation"
	"github.com/herald/herald/internal/channel/vabot"
	"github.com/herald/herald/internal/connector"
	"github.com/herald/herald/internal/directline"
	"github.com/herald/herald/internal/httpapi"
	"github.com/herald/herald/internal/netguard"
	"github.com/herald/herald/internal/store"
)

// Conversation modes.
const (
	// ConversationBuiltin: herald's own assistant stores conversation
	// references and herald writes notifications into them.
	ConversationBuiltin = "builtin"
	// ConversationExternal: herald hands a BroadcastEvent to an existing
	// Bot Framework assistant, which writes into its conversations itself.
	ConversationExternal = "external"
	// ConversationOff: no conversation channel.
	ConversationOff = "off"
)

// ConversationOptions configure the conversation channel, the built-in
// assistant (/api/messages) and herald's Direct Line (/v3/directline).
type ConversationOptions struct {
	// Mode is builtin (default), external or off.
	Mode string
	// AppID and AppPassword are the bot's Microsoft app credentials; with
	// no AppID the assistant runs in anonymous mode (development only).
	AppID, AppPassword string
	// TenantID makes the app single-tenant.
	TenantID string
	// OpenIDMetadataURL replaces the Bot Framework's and the Emulator's
	// metadata documents (tests, sovereign clouds).
	OpenIDMetadataURL string
	// TokenURL replaces the client-credentials token endpoint.
	TokenURL string
	// TenantRate bounds sends per second per tenant; 0 means Teams' 50.
	TenantRate float64

	// PublicURL is herald's external base URL, the serviceUrl of its Direct
	// Line conversations and the base of their stream URLs.
	PublicURL string
	// DirectLineSecret lets clients start Direct Line conversations; empty
	// means a random secret kept in memory (tokens then come from herald's
	// own routes only).
	DirectLineSecret string

	// External mode: the assistant's messaging endpoint and app id (the
	// token's scope), or its Direct Line base URL and secret.
	BotEndpoint         string
	BotAppID            string
	BotDirectLineURL    string
	BotDirectLineSecret string
}

// conversationParts are what the conversation options build.
type conversationParts struct {
	channel    channel.Channel
	assistant  *assistant.Assistant
	directLine *directline.Server
	validator  *bfauth.Validator
}

// buildConversation builds the channel and, in builtin mode, the assistant
// and the Direct Line server.
func buildConversation(o ConversationOptions, st store.Store, guard *netguard.Guard, log *slog.Logger) (*conversationParts, error) {
	switch o.Mode {
	case "", ConversationBuiltin:
	case ConversationOff:
		return &conversationParts{}, nil
	case ConversationExternal:
		return buildExternal(o, log)
	default:
		return nil, fmt.Errorf("conversation mode %q: want builtin, external or off", o.Mode)
	}
	tokens := bfauth.NewTokenSource(bfauth.TokenConfig{AppID: o.AppID, AppPassword: o.AppPassword, TenantID: o.TenantID, TokenURL: o.TokenURL})
	if o.AppID != "" && o.AppPassword == "" {
		return nil, errors.New("conversation: --bot-app-password is required with --bot-app-id")
	}
	vcfg := bfauth.Config{AppID: o.AppID, Log: log}
	if o.OpenIDMetadataURL != "" {
		vcfg.MetadataURLs = []string{o.OpenIDMetadataURL}
	}
	p := &conversationParts{validator: bfauth.NewValidator(vcfg)}
	if o.AppID == "" {
		log.Warn("NO BOT APP ID CONFIGURED: /api/messages accepts activities without a token (anonymous mode, for local " +
			"development with the Bot Framework Emulator). Anyone who can reach herald can register conversations. " +
			"Set --bot-app-id and --bot-app-password in production.")
	}
	// serviceUrls come from inbound activities: dial them through the guard.
	hc := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{Proxy: http.ProxyFromEnvironment,
		DialContext: guard.DialContext(10*time.Second, 30*time.Second), ForceAttemptHTTP2: true,
		MaxIdleConnsPerHost: 64, IdleConnTimeout: 90 * time.Second, TLSHandshakeTimeout: 10 * time.Second}}
	router := &conversation.Router{Connector: conversation.ConnectorSender{Client: connector.New(hc, tokens, "herald")}}
	var err error
	p.assistant, err = assistant.New(assistant.Config{Validator: p.validator, Store: st, Sender: router, Log: log})
	if err != nil {
		return nil, err
	}
	p.directLine, err = directline.New(directline.Config{
		Secret: o.DirectLineSecret, PublicURL: o.PublicURL, Transcripts: st, Logger: log,
		Bot: directline.BotFunc(func(ctx context.Context, a activity.Activity) error {
			_, verified := directline.VerifiedUser(ctx)
			return p.assistant.Handle(ctx, a, verified)
		}),
	})
	if err != nil {
		return nil, fmt.Errorf("direct line: %w", err)
	}
	router.Local = localDirectLine{p.directLine}
	router.IsLocal = func(ctx context.Context, ref store.ConversationRef) bool {
		if ref.ChannelID != "directline" {
			return false
		}
		_, err := st.Transcript(ctx, ref.ConversationID)
		return err == nil
	}
	p.channel, err = conversation.New(conversation.Config{Store: st, Sender: router, Limits: conversation.Limits{PerTenant: o.TenantRate}, Log: log})
	if err != nil {
		return nil, err
	}
	return p, nil
}

func buildExternal(o ConversationOptions, log *slog.Logger) (*conversationParts, error) {
	var tr vabot.Transport
	switch {
	case o.BotEndpoint != "" && o.BotDirectLineSecret != "":
		return nil, errors.New("conversation: external mode takes --va-endpoint or --va-directline-secret, not both")
	case o.BotEndpoint != "":
		scope := ""
		if o.BotAppID != "" {
			scope = o.BotAppID + "/.default"
		}
		tokens := bfauth.NewTokenSource(bfauth.TokenConfig{AppID: o.AppID, AppPassword: o.AppPassword, TenantID: o.TenantID, TokenURL: o.TokenURL, Scope: scope})
		tr = vabot.Endpoint{URL: o.BotEndpoint, Client: connector.New(nil, tokens, "herald")}
		log.Info("conversation channel: BroadcastEvents go to an external assistant", "endpoint", o.BotEndpoint)
	case o.BotDirectLineSecret != "":
		base := o.BotDirectLineURL
		if base == "" {
			base = "https://directline.botframework.com/v3/directline"
		}
		tr = &vabot.DirectLine{BaseURL: base, Secret: o.BotDirectLineSecret, HTTP: &http.Client{Timeout: 30 * time.Second}}
		log.Info("conversation channel: BroadcastEvents go to an external assistant over Direct Line", "url", base)
	default:
		return nil, errors.New("conversation: external mode needs --va-endpoint or --va-directline-secret")
	}
	ch, err := vabot.New(vabot.Config{Transport: tr, BotID: o.BotAppID, ServiceURL: o.PublicURL, Log: log})
	if err != nil {
		return nil, err
	}
	return &conversationParts{channel: ch}, nil
}

// localDirectLine sends into herald's own Direct Line conversations.
type localDirectLine struct{ dl *directline.Server }

func (l localDirectLine) Send(ctx context.Context, ref store.ConversationRef, a activity.Activity) (string, error) {
	ids, err := l.dl.Send(ctx, ref.ConversationID, a)
	if err != nil {
		return "", err
	}
	if len(ids) == 0 {
		return "", nil
	}
	return ids[0], nil
}

// rates are the conversation channel's sends per second, for predictions.
func (p *conversationParts) rates() map[string]float64 {
	if c, ok := p.channel.(*conversation.Channel); ok {
		return map[string]float64{conversation.Name: c.Limits().PerTenant}
	}
	return nil
}

// minter is herald's Direct Line as a token minter for the API, nil when off.
func (p *conversationParts) minter() httpapi.TokenMinter {
	if p.directLine == nil {
		return nil
	}
	return p.directLine
}
