package directline

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"sync"
	"time"

	"github.com/coder/websocket"
)

// Stream timings.
const (
	// writeTimeout bounds one frame written to a client.
	writeTimeout = 10 * time.Second
	// livenessTimeout is how long the open socket of a conversation has to
	// answer a ping when a second one arrives, before it is taken for dead.
	livenessTimeout = 2 * time.Second
)

// CollisionReason is the close reason of a second WebSocket opened on a
// conversation whose first one is alive, as in the Bot Framework service
// ("Direct Line may close additional WebSocket connections with a reason
// value of collision"). The close status is 1008 (policy violation). A
// first socket that does not answer a ping within two seconds is taken for
// dead instead (a client whose network changed reconnects before the old
// connection times out) and the new one replaces it.
const CollisionReason = "collision"

// stream is the open WebSocket of one conversation.
type stream struct {
	conn *websocket.Conn
	// cancel ends the stream's loop; the cause is the close reason.
	cancel context.CancelCauseFunc
}

// errShutdown is the cause that ends streams at shutdown.
var errShutdown = errors.New("herald is shutting down")

// stop ends the stream, closing the socket with "going away".
func (st *stream) stop() { st.cancel(errShutdown) }

// handleStream is GET /conversations/{id}/stream?t=<token>&watermark=: the
// WebSocket. It sends an ActivitySet for what is stored after the
// watermark (after the current end without one), then for every activity
// appended, typing from the bot as it comes, and an empty frame when idle
// for KeepAlive. What clients send on it (DirectLineJS sends empty frames
// as pings) is read and ignored.
func (s *Server) handleStream(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	var c caller
	if t := r.URL.Query().Get("t"); t != "" {
		var ok bool
		if c, ok = s.check(w, t); !ok {
			return
		}
		if c.secret {
			writeError(w, http.StatusForbidden, CodeForbidden, "never put the secret in a URL: use the streamUrl answered by POST /conversations")
			return
		}
		if !permit(w, c, id) {
			return
		}
	} else if _, ok := s.authorize(w, r, id); !ok {
		return
	}
	if o := r.Header.Get("Origin"); o != "" && !s.originAllowed(o) {
		writeError(w, http.StatusForbidden, CodeForbidden, "origin "+o+" is not in herald's Direct Line allowed origins")
		return
	}
	wm, ok := s.resumePoint(w, r, id)
	if !ok {
		return
	}
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		w.Header().Set("Retry-After", "5")
		writeError(w, http.StatusServiceUnavailable, CodeServiceError, "herald is shutting down; reconnect in a moment")
		return
	}
	s.streamWG.Add(1)
	s.mu.Unlock()
	defer s.streamWG.Done()

	// The origin was checked above, against AllowedOrigins.
	conn, err := websocket.Accept(w, r, &websocket.AcceptOptions{InsecureSkipVerify: true})
	if err != nil {
		s.log.Debug("websocket upgrade failed", "conversation", id, "error", err)
		return
	}
	conn.SetReadLimit(64 << 10)
	ctx, cancel := context.WithCancelCause(context.Background())
	defer cancel(nil)
	st := &stream{conn: conn, cancel: cancel}
	go func() { // read and drop client frames; notice when the client goes
		for {
			if _, _, err := conn.Read(context.Background()); err != nil {
				cancel(err)
				return
			}
		}
	}()
	if !s.claim(id, st) {
		_ = conn.Close(websocket.StatusPolicyViolation, CollisionReason)
		return
	}
	defer s.release(id, st)
	s.log.Debug("stream opened", "conversation", id, "watermark", wm)
	err = s.serveStream(ctx, conn, id, wm)
	switch {
	case errors.Is(context.Cause(ctx), errShutdown):
		_ = conn.Close(websocket.StatusGoingAway, errShutdown.Error())
	case err != nil && ctx.Err() == nil:
		s.log.Warn("stream failed", "conversation", id, "error", err)
		_ = conn.Close(websocket.StatusInternalError, "herald could not read the conversation; reconnect")
	default:
		_ = conn.CloseNow()
	}
}

// claim makes st the open stream of conversation id, unless another one
// is there and answers a ping.
func (s *Server) claim(id string, st *stream) bool {
	s.mu.Lock()
	old := s.streams[id]
	if old == nil {
		s.streams[id] = st
		s.mu.Unlock()
		return true
	}
	s.mu.Unlock()
	pctx, cancel := context.WithTimeout(context.Background(), livenessTimeout)
	alive := old.conn.Ping(pctx) == nil
	cancel()
	if alive {
		return false
	}
	old.cancel(errors.New("replaced by a new stream"))
	s.mu.Lock()
	defer s.mu.Unlock()
	if cur := s.streams[id]; cur != nil && cur != old {
		return false // a third socket won the race
	}
	s.streams[id] = st
	return true
}

// release forgets st as the stream of conversation id.
func (s *Server) release(id string, st *stream) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.streams[id] == st {
		delete(s.streams, id)
	}
}

// serveStream writes what the conversation gets until ctx ends or a write
// fails.
func (s *Server) serveStream(ctx context.Context, conn *websocket.Conn, id string, wm int64) error {
	sub := s.hub.subscribe(id)
	defer sub.close()
	keepAlive := time.NewTicker(s.cfg.KeepAlive)
	defer keepAlive.Stop()
	// flush sends everything stored after wm; wrote says whether it sent any.
	flush := func() (wrote bool, err error) {
		for {
			set, n, last, err := s.readSet(ctx, id, wm)
			if err != nil || n == 0 {
				return wrote, err
			}
			wm = last
			if len(set.Activities) > 0 {
				if err := writeFrame(conn, set); err != nil {
					return wrote, err
				}
				wrote = true
			}
			if n < pageSize {
				return wrote, nil
			}
		}
	}
	if _, err := flush(); err != nil {
		return err
	}
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-sub.ready:
			for _, raw := range sub.take() {
				var err error
				if raw == nil {
					_, err = flush()
				} else {
					err = writeFrame(conn, ActivitySet{Activities: []json.RawMessage{raw}})
				}
				if err != nil {
					return err
				}
			}
		case <-keepAlive.C:
			wrote, err := flush() // also catches appends by other processes
			if err != nil {
				return err
			}
			if !wrote {
				if err := writeRaw(conn, nil); err != nil {
					return err
				}
			}
		}
	}
}

// writeFrame sends one ActivitySet.
func writeFrame(conn *websocket.Conn, set ActivitySet) error {
	data, err := json.Marshal(set)
	if err != nil {
		return err
	}
	return writeRaw(conn, data)
}

// writeRaw sends one text frame, bounded by writeTimeout.
func writeRaw(conn *websocket.Conn, data []byte) error {
	ctx, cancel := context.WithTimeout(context.Background(), writeTimeout)
	defer cancel()
	return conn.Write(ctx, websocket.MessageText, data)
}

// hub fans news of a conversation out to its open streams in this
// process. It never blocks a publisher: stored activities are signalled
// (the stream re-reads the store; signals coalesce), typing is handed over
// in order with them and dropped when a stream has too many pending.
type hub struct {
	mu   sync.Mutex
	subs map[string]map[*subscription]struct{}
}

// maxPendingTyping bounds the typing activities queued for one stream.
const maxPendingTyping = 16

// subscription is one stream's view of the hub: a queue of news, in the
// order published, and a signal that it is not empty.
type subscription struct {
	ready chan struct{}
	conv  string
	hub   *hub

	mu      sync.Mutex
	pending []json.RawMessage // nil: "activities were stored"; else a typing activity
	typing  int
}

func newHub() *hub { return &hub{subs: map[string]map[*subscription]struct{}{}} }

// subscribe starts receiving news of conversation conv.
func (h *hub) subscribe(conv string) *subscription {
	sub := &subscription{ready: make(chan struct{}, 1), conv: conv, hub: h}
	h.mu.Lock()
	defer h.mu.Unlock()
	set := h.subs[conv]
	if set == nil {
		set = map[*subscription]struct{}{}
		h.subs[conv] = set
	}
	set[sub] = struct{}{}
	return sub
}

// close stops the subscription.
func (sub *subscription) close() {
	h := sub.hub
	h.mu.Lock()
	defer h.mu.Unlock()
	delete(h.subs[sub.conv], sub)
	if len(h.subs[sub.conv]) == 0 {
		delete(h.subs, sub.conv)
	}
}

// push queues news; raw nil means activities were stored.
func (sub *subscription) push(raw json.RawMessage) {
	sub.mu.Lock()
	n := len(sub.pending)
	switch {
	case raw == nil && n > 0 && sub.pending[n-1] == nil:
		// the stream will re-read the store anyway
	case raw != nil && sub.typing >= maxPendingTyping:
		// typing is a hint: drop it rather than grow without bound
	default:
		sub.pending = append(sub.pending, raw)
		if raw != nil {
			sub.typing++
		}
	}
	sub.mu.Unlock()
	select {
	case sub.ready <- struct{}{}:
	default: // signalled already
	}
}

// take returns and clears the queued news.
func (sub *subscription) take() []json.RawMessage {
	sub.mu.Lock()
	defer sub.mu.Unlock()
	p := sub.pending
	sub.pending, sub.typing = nil, 0
	return p
}

// notify tells conv's streams that activities were stored.
func (h *hub) notify(conv string) { h.publish(conv, nil) }

// ephemeral hands an unstored activity (typing) to conv's streams.
func (h *hub) ephemeral(conv string, raw json.RawMessage) { h.publish(conv, raw) }

func (h *hub) publish(conv string, raw json.RawMessage) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for sub := range h.subs[conv] {
		sub.push(raw)
	}
}
