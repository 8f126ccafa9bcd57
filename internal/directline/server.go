package directline

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/herald/herald/internal/activity"
	"github.com/herald/herald/internal/store"
)

// BasePath is where the Server is mounted, without stripping the prefix:
// clients use "<herald base URL>/v3/directline" as their domain.
const BasePath = "/v3/directline/"

// ChannelID is the channelId of every activity herald's Direct Line
// stores and hands to the Bot, whatever a client put (Web Chat posts
// "webchat"), as the Bot Framework service does for its Direct Line channel.
const ChannelID = "directline"

// Defaults of Config.
const (
	DefaultTokenLifetime    = 30 * time.Minute
	DefaultKeepAlive        = 30 * time.Second
	DefaultBotTimeout       = 30 * time.Second
	DefaultMaxActivityBytes = 256 << 10
)

// Bot receives what clients post. OnActivity is called, synchronously,
// for every activity a client posts (message, event, typing...), after it
// is stored and echoed, and with a conversationUpdate when a conversation
// starts (membersAdded: the bot, and the user when known) or when a user
// not yet seen posts. Each activity has ChannelID "directline", ServiceURL
// herald's own base URL, Conversation, Recipient (the bot) and, except for
// typing and conversationUpdate, the ID under which it is stored. Use
// VerifiedUser(ctx) before linking the conversation to a person. The bot
// answers with (*Server).Send, during the call or at any later time. An
// error makes the client's post fail with 502 BotRejectedActivity.
type Bot interface {
	OnActivity(ctx context.Context, a activity.Activity) error
}

// BotFunc adapts a function to Bot.
type BotFunc func(ctx context.Context, a activity.Activity) error

// OnActivity calls f.
func (f BotFunc) OnActivity(ctx context.Context, a activity.Activity) error { return f(ctx, a) }

// Config configures a Server. Zero durations and sizes take the defaults.
type Config struct {
	// Secret is the Direct Line secret (HERALD_DIRECTLINE_SECRET): whoever
	// holds it may start any conversation and mint tokens. When empty, New
	// generates a random secret that is kept in memory and never logged or
	// shown: clients then need tokens minted in-process with
	// (*Server).GenerateToken (by herald's own authenticated routes), and
	// those tokens stop working when herald restarts.
	Secret string
	// TokenLifetime is how long a token is valid (expires_in); 30 minutes
	// by default, as in the Bot Framework service. DirectLineJS refreshes
	// its token every 15 minutes, so keep it above that.
	TokenLifetime time.Duration
	// Transcripts stores the conversations. Required.
	Transcripts store.Transcripts
	// Bot receives what clients post. Required.
	Bot Bot
	// PublicURL is herald's base URL as clients reach it, such as
	// "https://herald.example.com": the activities' serviceUrl and the base
	// of streamUrl (https -> wss). When empty both are derived from each
	// request (Host, TLS or X-Forwarded-Proto), which a client controls:
	// set it in production.
	PublicURL string
	// BotAccount is the bot's ChannelAccount, the recipient of client
	// activities and the sender of Send's when they have none;
	// {ID: "herald", Name: "herald"} by default. Role is always "bot".
	BotAccount activity.ChannelAccount
	// AllowedOrigins lists the browser origins ("https://intranet.example.com")
	// allowed to call Direct Line (CORS) and open its WebSocket; empty
	// allows any origin, which is safe because no cookie is involved: every
	// call carries a secret or token.
	AllowedOrigins []string
	// KeepAlive is the interval of the empty frames sent on idle streams;
	// each one also re-reads the transcript, which is how a stream hears of
	// activities appended by another herald process. 30 s by default.
	KeepAlive time.Duration
	// BotTimeout bounds one Bot.OnActivity call; 30 s by default.
	BotTimeout time.Duration
	// MaxActivityBytes is the largest activity a client may post; 256 KiB
	// by default.
	MaxActivityBytes int64
	// Logger receives the server's logs; discarded when nil.
	Logger *slog.Logger
	// Now is the clock (tokens, timestamps); time.Now when nil.
	Now func() time.Time
}

// Server is herald's Direct Line 3.0 endpoint: an http.Handler to mount
// at BasePath. Create it with New; it is safe for concurrent use.
type Server struct {
	cfg     Config
	key     []byte
	log     *slog.Logger
	now     func() time.Time
	mux     *http.ServeMux
	hub     *hub
	members *members
	lastSeq *seqCache

	mu       sync.Mutex
	closing  bool
	streams  map[string]*stream // the open socket of each conversation
	streamWG sync.WaitGroup
}

// New validates cfg, applies defaults and returns a Server.
func New(cfg Config) (*Server, error) {
	if cfg.Transcripts == nil {
		return nil, errors.New("directline: Config.Transcripts is required")
	}
	if cfg.Bot == nil {
		return nil, errors.New("directline: Config.Bot is required")
	}
	if cfg.TokenLifetime < 0 || cfg.KeepAlive < 0 || cfg.BotTimeout < 0 || cfg.MaxActivityBytes < 0 {
		return nil, errors.New("directline: durations and sizes in Config must not be negative")
	}
	if cfg.TokenLifetime == 0 {
		cfg.TokenLifetime = DefaultTokenLifetime
	}
	if cfg.TokenLifetime < time.Minute {
		return nil, fmt.Errorf("directline: TokenLifetime %s is too short: clients refresh every 15 minutes; use at least 1m", cfg.TokenLifetime)
	}
	if cfg.KeepAlive == 0 {
		cfg.KeepAlive = DefaultKeepAlive
	}
	if cfg.BotTimeout == 0 {
		cfg.BotTimeout = DefaultBotTimeout
	}
	if cfg.MaxActivityBytes == 0 {
		cfg.MaxActivityBytes = DefaultMaxActivityBytes
	}
	if cfg.PublicURL != "" {
		u, err := url.Parse(cfg.PublicURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, fmt.Errorf("directline: PublicURL %q: give an absolute http(s) URL such as https://herald.example.com", cfg.PublicURL)
		}
		cfg.PublicURL = strings.TrimRight(cfg.PublicURL, "/")
	}
	if cfg.BotAccount.ID == "" {
		cfg.BotAccount.ID = "herald"
		if cfg.BotAccount.Name == "" {
			cfg.BotAccount.Name = "herald"
		}
	}
	cfg.BotAccount.Role = "bot"
	origins := make([]string, len(cfg.AllowedOrigins))
	for i, o := range cfg.AllowedOrigins {
		origins[i] = strings.TrimRight(o, "/")
	}
	cfg.AllowedOrigins = origins
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	log := cfg.Logger.With("component", "directline")
	if cfg.Secret == "" {
		cfg.Secret = randomID(32)
		log.Info("no Direct Line secret configured (HERALD_DIRECTLINE_SECRET): using a random one kept in memory; only tokens minted in-process work, until restart")
	}
	s := &Server{
		cfg: cfg, key: signingKey(cfg.Secret), log: log, now: cfg.Now,
		hub: newHub(), members: newMembers(), lastSeq: newSeqCache(),
		streams: map[string]*stream{},
	}
	s.routes()
	return s, nil
}

// routes registers the Direct Line 3.0 operations.
func (s *Server) routes() {
	m := http.NewServeMux()
	m.HandleFunc("POST /v3/directline/tokens/generate", s.handleGenerate)
	m.HandleFunc("POST /v3/directline/tokens/refresh", s.handleRefresh)
	m.HandleFunc("POST /v3/directline/conversations", s.handleStart)
	m.HandleFunc("GET /v3/directline/conversations/{id}", s.handleReconnect)
	m.HandleFunc("GET /v3/directline/conversations/{id}/activities", s.handleGetActivities)
	m.HandleFunc("POST /v3/directline/conversations/{id}/activities", s.handlePostActivity)
	m.HandleFunc("POST /v3/directline/conversations/{id}/upload", s.handleUpload)
	m.HandleFunc("GET /v3/directline/conversations/{id}/stream", s.handleStream)
	m.HandleFunc("GET /v3/directline/session/getsessionid", s.handleSessionID)
	m.HandleFunc("/v3/directline/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, CodeNotFound, fmt.Sprintf("no Direct Line 3.0 operation %s %s", r.Method, r.URL.Path))
	})
	s.mux = m
}

// ServeHTTP answers CORS preflights and serves the Direct Line routes.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !s.cors(w, r) {
		return
	}
	s.mux.ServeHTTP(w, r)
}

// corsHeaders are the request headers DirectLineJS and Web Chat send:
// Authorization, Content-Type, x-ms-bot-agent, and X-Requested-With, which
// rxjs' ajax adds to every request it does not mark cross-domain.
const corsHeaders = "Authorization, Content-Type, Accept, X-Requested-With, x-ms-bot-agent"

// cors writes the CORS headers for an allowed Origin and answers
// preflights; it returns false when the request has been answered.
func (s *Server) cors(w http.ResponseWriter, r *http.Request) bool {
	origin := r.Header.Get("Origin")
	preflight := r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != ""
	if origin == "" {
		if preflight {
			w.WriteHeader(http.StatusNoContent)
			return false
		}
		return true
	}
	w.Header().Add("Vary", "Origin")
	if !s.originAllowed(origin) {
		if preflight {
			writeError(w, http.StatusForbidden, CodeForbidden, fmt.Sprintf("origin %s is not in herald's Direct Line allowed origins", origin))
			return false
		}
		return true // no CORS headers: the browser withholds the answer
	}
	if len(s.cfg.AllowedOrigins) == 0 {
		w.Header().Set("Access-Control-Allow-Origin", "*")
	} else {
		w.Header().Set("Access-Control-Allow-Origin", origin)
	}
	w.Header().Set("Access-Control-Expose-Headers", "Retry-After")
	if preflight {
		w.Header().Set("Access-Control-Allow-Methods", "GET, POST, OPTIONS")
		w.Header().Set("Access-Control-Allow-Headers", corsHeaders)
		w.Header().Set("Access-Control-Max-Age", "600")
		w.WriteHeader(http.StatusNoContent)
		return false
	}
	return true
}

// originAllowed reports whether a browser origin may use the endpoint.
func (s *Server) originAllowed(origin string) bool {
	return len(s.cfg.AllowedOrigins) == 0 || slices.Contains(s.cfg.AllowedOrigins, strings.TrimRight(origin, "/"))
}

// baseURL is herald's base URL as the client sees it: PublicURL, else
// derived from the request.
func (s *Server) baseURL(r *http.Request) string {
	if s.cfg.PublicURL != "" {
		return s.cfg.PublicURL
	}
	scheme := "http"
	if r != nil && (r.TLS != nil || strings.EqualFold(r.Header.Get("X-Forwarded-Proto"), "https")) {
		scheme = "https"
	}
	host := "localhost"
	if r != nil && r.Host != "" {
		host = r.Host
	}
	return scheme + "://" + host
}

// streamURL is the WebSocket URL of conversation id, carrying token and
// the watermark from which the stream replays.
func (s *Server) streamURL(r *http.Request, id, token string, watermark int64) string {
	base := s.baseURL(r)
	switch {
	case strings.HasPrefix(base, "https://"):
		base = "wss://" + strings.TrimPrefix(base, "https://")
	case strings.HasPrefix(base, "http://"):
		base = "ws://" + strings.TrimPrefix(base, "http://")
	}
	q := url.Values{"t": {token}, "watermark": {fmt.Sprint(watermark)}}
	return base + BasePath + "conversations/" + url.PathEscape(id) + "/stream?" + q.Encode()
}

// Shutdown closes every open stream with "going away" (status 1001) and
// refuses new ones, then waits for their handlers to return or ctx to end.
// http.Server.Shutdown does not end hijacked WebSocket connections: call
// this beside it. REST calls keep working.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.closing = true
	open := make([]*stream, 0, len(s.streams))
	for _, st := range s.streams {
		open = append(open, st)
	}
	s.mu.Unlock()
	for _, st := range open {
		st.stop()
	}
	done := make(chan struct{})
	go func() { s.streamWG.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("directline: streams still open at shutdown: %w", ctx.Err())
	}
}

// randomID returns n random bytes in unpadded base64url.
func randomID(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}
