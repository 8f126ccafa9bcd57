package bench

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/herald/herald/internal/app"
	"github.com/herald/herald/internal/channel/conversation"
	"github.com/herald/herald/internal/connector/connectortest"
	"github.com/herald/herald/internal/event"
	"github.com/herald/herald/internal/prefs"
	"github.com/herald/herald/internal/store"
)

// ConversationConfig says what the conversation benchmark measures.
type ConversationConfig struct {
	// Users is the population of the unlimited phase (herald's ceiling).
	Users int
	// TeamsUsers is the population of the phase under Teams' default
	// limits; 0 skips it.
	TeamsUsers int
	Dir        string
	Progress   io.Writer
}

// ConversationPhase is one measured broadcast into conversations.
type ConversationPhase struct {
	Users     int
	Took      time.Duration
	Predicted time.Duration
	// Refused counts requests the Connector refused for its rate limit.
	Refused int
}

// PerSecond is the phase's messages per second.
func (p ConversationPhase) PerSecond() float64 { return float64(p.Users) / p.Took.Seconds() }

// ConversationResult is what the conversation benchmark measured.
type ConversationResult struct {
	Unlimited, Teams ConversationPhase
}

// RunConversation broadcasts one event to people who each have a Teams
// conversation with the bot, into a local Connector, first with no rate
// limit (herald's own ceiling), then under Teams' default limits (50
// messages a second per tenant) against the prediction.
func RunConversation(ctx context.Context, cfg ConversationConfig) (ConversationResult, error) {
	var res ConversationResult
	dir := cfg.Dir
	if dir == "" {
		d, err := os.MkdirTemp("", "herald-bench-conversation-")
		if err != nil {
			return res, err
		}
		defer os.RemoveAll(d)
		dir = d
	}
	say := progress(cfg.Progress)
	var err error
	say("no limits: %d people, one Teams conversation each, one tenant...", cfg.Users)
	res.Unlimited, err = conversationPhase(ctx, filepath.Join(dir, "unlimited"), cfg.Users, 1e9, say)
	if err != nil {
		return res, err
	}
	say("  %s (%.0f messages/s)", res.Unlimited.Took.Round(time.Millisecond), res.Unlimited.PerSecond())
	if cfg.TeamsUsers > 0 {
		pred := conversation.Limits{}.Predict(cfg.TeamsUsers)
		say("Teams' default limits: %d people at %d messages/s per tenant (predicted %s)...", cfg.TeamsUsers, conversation.DefaultTenantRate, pred.Round(time.Second))
		res.Teams, err = conversationPhase(ctx, filepath.Join(dir, "teams"), cfg.TeamsUsers, 0, say)
		if err != nil {
			return res, err
		}
		say("  %s (%.1f messages/s; predicted %s)", res.Teams.Took.Round(time.Millisecond), res.Teams.PerSecond(), res.Teams.Predicted.Round(time.Second))
	}
	return res, nil
}

// conversationPhase runs one broadcast with herald's tenant rate set to
// tenantRate (0: Teams' default).
func conversationPhase(ctx context.Context, dir string, users int, tenantRate float64, say func(string, ...any)) (ConversationPhase, error) {
	ph := ConversationPhase{Users: users, Predicted: conversation.Limits{PerTenant: tenantRate}.Predict(users)}
	peer := connectortest.Start()
	defer peer.Server.Close()
	a, c, stop, err := startHerald(ctx, app.Options{DataDir: dir, OutboundAllow: []string{"127.0.0.0/8"}, // the local Connector
		Conversation: app.ConversationOptions{TenantRate: tenantRate}})
	if err != nil {
		return ph, err
	}
	defer stop()
	// Everyone hears through their conversation only.
	recs := make([]store.UserRecord, 0, 5000)
	flush := func() error {
		if err := a.Store.ImportUsers(ctx, recs); err != nil {
			return err
		}
		recs = recs[:0]
		return nil
	}
	for i := range users {
		u := "u" + strconv.Itoa(i)
		p := prefs.Default(u)
		p.SendNotificationToInbox = false
		recs = append(recs, store.UserRecord{Preferences: p})
		if _, err := a.Store.SaveConversationRef(ctx, store.ConversationRef{UserID: u, ChannelID: "msteams",
			ConversationID: "a:" + u, ServiceURL: peer.URL(), TenantID: "tenant-1", BotID: "28:bench"}); err != nil {
			return ph, err
		}
		if len(recs) == cap(recs) {
			if err := flush(); err != nil {
				return ph, err
			}
		}
	}
	if err := flush(); err != nil {
		return ph, err
	}
	body := []byte(`{"specversion":"1.0","id":"bench-conversation","source":"urn:bench","type":"herald.bench",` +
		`"data":{"audience":{"all":true},"notification":{"title":"All-hands","message":"The all-hands starts at 3pm: would you like the agenda?","actions":[{"id":"startConversation","title":"Tell me more"}]}}}`)
	start := time.Now()
	if _, err := c.PostEvents(ctx, event.MediaCloudEvent, body); err != nil {
		return ph, err
	}
	last := time.Now()
	for peer.Count() < users {
		if time.Since(start) > 30*time.Minute {
			return ph, fmt.Errorf("only %d of %d messages arrived", peer.Count(), users)
		}
		if time.Since(last) > 10*time.Second {
			say("  %d of %d after %s", peer.Count(), users, time.Since(start).Round(time.Second))
			last = time.Now()
		}
		time.Sleep(2 * time.Millisecond)
	}
	ph.Took = time.Since(start)
	_, ph.Refused = peer.Stats()
	return ph, nil
}
