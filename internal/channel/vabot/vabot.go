// Package vabot is the conversation channel in external Virtual Assistant
// mode, the original design's: instead of writing into conversations
// itself, herald hands each (event, person) to an existing Bot Framework
// assistant as a BroadcastEvent event activity, and the assistant runs its
// own proactive logic (looking up its stored conversation with the person
// and continuing it).
//
// Two transports, as the original handler and a skill call do:
//   - Endpoint: POST the activity to the bot's messaging endpoint with a
//     Bot Framework bearer token (client credentials for herald's app id,
//     scoped to the bot's app id), as one bot calls another;
//   - Direct Line: with the bot's Direct Line secret, start a conversation
//     and post the activity into it.
package vabot

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"

	"golang.org/x/oauth2"

	"github.com/herald/herald/internal/activity"
	"github.com/herald/herald/internal/channel"
	"github.com/herald/herald/internal/connector"
	"github.com/herald/herald/internal/event"
	"github.com/herald/herald/internal/prefs"
)

// Name is the channel's name: it replaces the built-in conversation channel.
const Name = prefs.Conversation

// Value is the BroadcastEvent's value. UserID and Message keep the names of
// the original design's proactive model, so an assistant built for it reads
// them unchanged; Event is herald's canonical event.
type Value struct {
	UserID  string      `json:"userId"`
	Message string      `json:"message"`
	Title   string      `json:"title,omitempty"`
	Event   event.Event `json:"event"`
}

// Transport hands one activity to the assistant.
type Transport interface {
	Post(ctx context.Context, a activity.Activity) error
}

// Config configures the channel.
type Config struct {
	Transport Transport
	// BotID names the assistant in the activity's recipient; "" is fine.
	BotID string
	// ServiceURL is put on the activities; SDKs expect one. It is herald's
	// public URL when known; the assistant should answer through its own
	// stored conversations, not through it. "" means DefaultServiceURL.
	ServiceURL string
	// Workers bounds posts in flight; 0 means 32.
	Workers int
	// Log receives panics of single posts; nil discards them.
	Log *slog.Logger
}

// Channel posts BroadcastEvents.
type Channel struct{ cfg Config }

var _ channel.Channel = (*Channel)(nil)

// New returns the channel.
func New(cfg Config) (*Channel, error) {
	if cfg.Transport == nil {
		return nil, errors.New("vabot: a transport is required")
	}
	if cfg.Workers <= 0 {
		cfg.Workers = 32
	}
	if cfg.ServiceURL == "" {
		cfg.ServiceURL = DefaultServiceURL
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	return &Channel{cfg: cfg}, nil
}

// Name is the channel's name.
func (c *Channel) Name() string { return Name }

// DefaultServiceURL is the serviceUrl of BroadcastEvents when herald's
// public URL is not configured; .invalid never resolves.
const DefaultServiceURL = "https://herald.invalid/"

// Activity is the BroadcastEvent for one person.
func Activity(ev event.Event, userID, botID, serviceURL string) activity.Activity {
	v, _ := json.Marshal(Value{UserID: userID, Message: ev.Notification.Message, Title: ev.Notification.Title, Event: ev})
	a := activity.Activity{Type: activity.TypeEvent, Name: activity.BroadcastEventName, Value: v,
		ID: ev.ID + ":" + userID, ChannelID: "directline", Locale: ev.Notification.Locale, ServiceURL: serviceURL,
		From:         &activity.ChannelAccount{ID: userID, Role: "user"},
		Conversation: &activity.ConversationAccount{ID: "herald-" + userID}}
	if botID != "" {
		a.Recipient = &activity.ChannelAccount{ID: botID, Role: "bot"}
	}
	return a
}

// Deliver posts one BroadcastEvent per job.
func (c *Channel) Deliver(ctx context.Context, jobs []channel.Job) []channel.Result {
	results := make([]channel.Result, len(jobs))
	sem := make(chan struct{}, c.cfg.Workers)
	var wg sync.WaitGroup
	for i, j := range jobs {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			results[i].Err = ctx.Err()
			continue
		}
		wg.Go(func() {
			defer func() { <-sem }()
			// A bug in one post fails that job, not the process.
			results[i].Err = channel.Contain(c.cfg.Log, j.Event.ID, j.UserID, func() error {
				return classify(c.cfg.Transport.Post(ctx, Activity(j.Event, j.UserID, c.cfg.BotID, c.cfg.ServiceURL)))
			})
		})
	}
	wg.Wait()
	return results
}

// classify maps an HTTP failure to the channel's outcome errors.
func classify(err error) error {
	if err == nil {
		return nil
	}
	if ce, ok := connector.AsError(err); ok {
		switch {
		case ce.Status == http.StatusTooManyRequests && ce.RetryAfter > 0:
			return channel.RetryAfter(ce.RetryAfter, err)
		case ce.Retryable(), ce.Status == http.StatusNotFound, ce.Status == http.StatusForbidden:
			// 403/404 from a Direct Line conversation mean start a new one.
			return err
		default:
			return channel.Permanent(err)
		}
	}
	return err
}

// Endpoint posts to the assistant's messaging endpoint through the
// Connector client (which adds the bearer token).
type Endpoint struct {
	URL    string
	Client *connector.Client
}

// Post implements Transport.
func (e Endpoint) Post(ctx context.Context, a activity.Activity) error {
	return e.Client.PostToBot(ctx, e.URL, a)
}

// DirectLine posts through a Direct Line service with the bot's secret. It
// keeps one conversation and starts another when the service ends it.
type DirectLine struct {
	// BaseURL is the service's base, e.g.
	// https://directline.botframework.com/v3/directline.
	BaseURL string
	Secret  string
	HTTP    *http.Client

	mu   sync.Mutex
	conv *dlConversation
}

type dlConversation struct {
	ID    string `json:"conversationId"`
	Token string `json:"token"`
}

// Post implements Transport.
func (d *DirectLine) Post(ctx context.Context, a activity.Activity) error {
	conv, err := d.conversation(ctx)
	if err != nil {
		return err
	}
	a.Conversation = &activity.ConversationAccount{ID: conv.ID}
	err = d.call(ctx, conv.Token, "/conversations/"+conv.ID+"/activities", a, nil)
	if ce, ok := connector.AsError(err); ok && (ce.Status == http.StatusForbidden || ce.Status == http.StatusNotFound) {
		d.mu.Lock()
		if d.conv == conv {
			d.conv = nil // expired or ended: the next post starts another
		}
		d.mu.Unlock()
	}
	return err
}

func (d *DirectLine) conversation(ctx context.Context) (*dlConversation, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.conv != nil {
		return d.conv, nil
	}
	var c dlConversation
	if err := d.call(ctx, d.Secret, "/conversations", struct{}{}, &c); err != nil {
		return nil, fmt.Errorf("vabot: start a Direct Line conversation: %w", err)
	}
	if c.Token == "" {
		c.Token = d.Secret
	}
	d.conv = &c
	return d.conv, nil
}

func (d *DirectLine) call(ctx context.Context, bearer, path string, body, into any) error {
	c := connector.New(d.HTTP, oauth2.StaticTokenSource(&oauth2.Token{AccessToken: bearer}), "herald")
	return c.Post(ctx, strings.TrimSuffix(d.BaseURL, "/")+path, body, into)
}
