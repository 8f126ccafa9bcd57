package bfauth

import (
	"context"
	"net/http"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"
)

// DefaultTokenURL is the multi-tenant token endpoint of bot apps.
const DefaultTokenURL = "https://login.microsoftonline.com/botframework.com/oauth2/v2.0/token"

// ConnectorScope is the scope of tokens for the Connector API.
const ConnectorScope = "https://api.botframework.com/.default"

// TokenConfig configures the bot's outbound credentials.
type TokenConfig struct {
	AppID, AppPassword string
	// TenantID selects a single-tenant app's token endpoint; "" is multi-tenant.
	TenantID string
	// TokenURL overrides the token endpoint (tests, sovereign clouds).
	TokenURL string
	// Scope overrides ConnectorScope.
	Scope string
	// Client makes the token requests; nil means a client with a 10 s timeout.
	Client *http.Client
}

// RenewBefore is how long before expiry a cached token is renewed.
const RenewBefore = 5 * time.Minute

// NewTokenSource returns a cached client-credentials token source, or nil
// when no app id is configured (anonymous mode sends no token).
func NewTokenSource(cfg TokenConfig) oauth2.TokenSource {
	if cfg.AppID == "" {
		return nil
	}
	url := cfg.TokenURL
	if url == "" {
		url = DefaultTokenURL
		if cfg.TenantID != "" {
			url = "https://login.microsoftonline.com/" + cfg.TenantID + "/oauth2/v2.0/token"
		}
	}
	scope := cfg.Scope
	if scope == "" {
		scope = ConnectorScope
	}
	client := cfg.Client
	if client == nil {
		client = &http.Client{Timeout: 10 * time.Second}
	}
	cc := &clientcredentials.Config{ClientID: cfg.AppID, ClientSecret: cfg.AppPassword, TokenURL: url,
		Scopes: []string{scope}, AuthStyle: oauth2.AuthStyleInParams}
	ctx := context.WithValue(context.Background(), oauth2.HTTPClient, client)
	return oauth2.ReuseTokenSourceWithExpiry(nil, cc.TokenSource(ctx), RenewBefore)
}
