package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/herald/herald/internal/event"
	"github.com/herald/herald/internal/prefs"
	"github.com/herald/herald/internal/problem"
	"github.com/herald/herald/internal/store"
)

// maxPrefsBody bounds a preferences document.
const maxPrefsBody = 64 << 10

// userID reads and checks the {userId} path value.
func userID(w http.ResponseWriter, r *http.Request) (string, bool) {
	id := r.PathValue("userId")
	if msg := event.CheckUserID(id); msg != "" {
		problem.Write(w, problem.InvalidRequest, "", []event.FieldError{{Index: -1, Field: "userId", Problem: msg}}, 0)
		return "", false
	}
	return id, true
}

// loadPrefs returns a user's record, creating the default one on first sight.
func (a *API) loadPrefs(w http.ResponseWriter, r *http.Request, id string) (prefs.Preferences, bool) {
	m, err := a.deps.Store.LoadPreferences(r.Context(), []string{id})
	if err != nil {
		a.storeError(w, err)
		return prefs.Preferences{}, false
	}
	return m[id], true
}

func (a *API) storeError(w http.ResponseWriter, err error) {
	if errors.Is(err, store.ErrNotFound) {
		problem.Write(w, problem.NotFound, err.Error(), nil, 0)
		return
	}
	a.log.Error("store failed", "err", err)
	problem.Write(w, problem.StoreUnavailable, "The store did not answer; try again.", nil, time.Second)
}

func (a *API) getPreferences(w http.ResponseWriter, r *http.Request) {
	id, ok := userID(w, r)
	if !ok {
		return
	}
	if p, ok := a.loadPrefs(w, r, id); ok {
		writeJSON(w, http.StatusOK, p)
	}
}

func (a *API) putPreferences(w http.ResponseWriter, r *http.Request) { a.writePreferences(w, r, true) }
func (a *API) patchPreferences(w http.ResponseWriter, r *http.Request) {
	a.writePreferences(w, r, false)
}

// writePreferences replaces (PUT) or merges (PATCH) a user's preferences.
func (a *API) writePreferences(w http.ResponseWriter, r *http.Request, replace bool) {
	id, ok := userID(w, r)
	if !ok {
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxPrefsBody))
	if err != nil {
		problem.Write(w, problem.PayloadTooLarge, fmt.Sprintf("A preferences document is at most %d bytes.", maxPrefsBody), nil, 0)
		return
	}
	cur, ok := a.loadPrefs(w, r, id)
	if !ok {
		return
	}
	next, errs := prefs.Apply(cur, body, replace)
	if len(errs) > 0 {
		problem.Write(w, problem.InvalidPreferences, fmt.Sprintf("%d problem(s) found; nothing was changed.", len(errs)), errs, 0)
		return
	}
	next.UpdatedAt = time.Now().UTC()
	if err := a.deps.Store.SavePreferences(r.Context(), next); err != nil {
		a.storeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, next)
}

// inboxPage is the body of GET .../notifications.
type inboxPage struct {
	Notifications []store.InboxItem `json:"notifications"`
	Unread        int               `json:"unread"`
	// NextCursor, when present, fetches the next (older) page.
	NextCursor string `json:"nextCursor,omitempty"`
}

const (
	defaultPageSize = 50
	maxPageSize     = 500
)

func (a *API) listNotifications(w http.ResponseWriter, r *http.Request) {
	id, ok := userID(w, r)
	if !ok {
		return
	}
	q := store.InboxQuery{UserID: id, Limit: defaultPageSize}
	var fields []event.FieldError
	qs := r.URL.Query()
	if v := qs.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > maxPageSize {
			fields = append(fields, event.FieldError{Index: -1, Field: "limit", Problem: fmt.Sprintf("must be a whole number from 1 to %d", maxPageSize)})
		}
		q.Limit = n
	}
	if v := qs.Get("cursor"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 1 {
			fields = append(fields, event.FieldError{Index: -1, Field: "cursor", Problem: "must be a cursor from a previous page's nextCursor"})
		}
		q.Before = n
	}
	if v := qs.Get("unread"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			fields = append(fields, event.FieldError{Index: -1, Field: "unread", Problem: "must be true or false"})
		}
		q.UnreadOnly = b
	}
	if len(fields) > 0 {
		problem.Write(w, problem.InvalidRequest, "", fields, 0)
		return
	}
	items, err := a.deps.Store.ListInbox(r.Context(), q)
	if err != nil {
		a.storeError(w, err)
		return
	}
	unread, err := a.deps.Store.UnreadCount(r.Context(), id)
	if err != nil {
		a.storeError(w, err)
		return
	}
	page := inboxPage{Notifications: items, Unread: unread}
	if page.Notifications == nil {
		page.Notifications = []store.InboxItem{}
	}
	if len(items) == q.Limit {
		page.NextCursor = strconv.FormatInt(items[len(items)-1].Seq, 10)
	}
	writeJSON(w, http.StatusOK, page)
}

func (a *API) markRead(w http.ResponseWriter, r *http.Request) {
	id, ok := userID(w, r)
	if !ok {
		return
	}
	item, err := a.deps.Store.MarkRead(r.Context(), id, r.PathValue("id"), time.Now().UTC())
	if errors.Is(err, store.ErrNotFound) {
		problem.Write(w, problem.NotFound, "No notification "+r.PathValue("id")+" in "+id+"'s inbox.", nil, 0)
		return
	}
	if err != nil {
		a.storeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, item)
}

// stream serves a person's new notifications as Server-Sent Events. With a
// Last-Event-ID header (the seq of the last one seen) it first sends what was
// missed, so a reconnecting client loses nothing.
func (a *API) stream(w http.ResponseWriter, r *http.Request) {
	id, ok := userID(w, r)
	if !ok {
		return
	}
	flusher, ok := w.(http.Flusher)
	if !ok {
		problem.Write(w, problem.Internal, "streaming is not supported by this connection", nil, 0)
		return
	}
	var last int64
	if v := r.Header.Get("Last-Event-ID"); v != "" {
		last, _ = strconv.ParseInt(v, 10, 64)
	}
	sub := a.deps.Broker.Subscribe(id)
	defer sub.Close()
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	_, _ = io.WriteString(w, ": herald notification stream\nretry: 2000\n\n")
	if last > 0 {
		missed, err := a.missedSince(r, id, last)
		if err != nil {
			a.log.Warn("stream catch-up failed", "user", id, "err", err)
			return
		}
		for _, it := range missed {
			writeEvent(w, it)
			last = it.Seq
		}
	}
	flusher.Flush()
	heartbeat := time.NewTicker(15 * time.Second)
	defer heartbeat.Stop()
	// Without a handler in this process the broker hears nothing: read
	// the inbox for what other processes delivered.
	var poll <-chan time.Time
	var pl *inboxPoller
	if a.deps.StreamPoll > 0 {
		pl = &inboxPoller{store: a.deps.Store, user: id}
		if err := pl.start(r.Context()); err != nil {
			a.log.Warn("stream start failed", "user", id, "err", err)
			return
		}
		t := time.NewTicker(a.deps.StreamPoll)
		defer t.Stop()
		poll = t.C
	}
	for {
		select {
		case <-poll:
			fresh, overflow, err := pl.next(r.Context())
			if err != nil {
				a.log.Warn("stream poll failed", "user", id, "err", err)
				continue
			}
			for _, it := range fresh {
				writeEvent(w, it)
			}
			if overflow {
				_, _ = io.WriteString(w, "event: overflow\ndata: {}\n\n")
				flusher.Flush()
				return
			}
			if len(fresh) > 0 {
				flusher.Flush()
			}
		case it := <-sub.C:
			if it.Seq <= last {
				continue
			}
			writeEvent(w, it)
			last = it.Seq
			flusher.Flush()
		case <-sub.Overflow:
			// The client fell behind; it reconnects with Last-Event-ID and catches up.
			_, _ = io.WriteString(w, "event: overflow\ndata: {}\n\n")
			flusher.Flush()
			return
		case <-heartbeat.C:
			_, _ = io.WriteString(w, ": keep-alive\n\n")
			flusher.Flush()
		case <-a.streams:
			return
		case <-r.Context().Done():
			return
		}
	}
}

// missedSince returns a person's notifications after seq, oldest first.
func (a *API) missedSince(r *http.Request, userID string, seq int64) ([]store.InboxItem, error) {
	var out []store.InboxItem
	before := int64(0)
	for {
		page, err := a.deps.Store.ListInbox(r.Context(), store.InboxQuery{UserID: userID, Before: before, Limit: maxPageSize})
		if err != nil {
			return nil, err
		}
		for _, it := range page {
			if it.Seq <= seq {
				return reverse(out), nil
			}
			out = append(out, it)
		}
		if len(page) < maxPageSize || len(out) >= 10*maxPageSize {
			return reverse(out), nil
		}
		before = page[len(page)-1].Seq
	}
}

func reverse(items []store.InboxItem) []store.InboxItem {
	for i, j := 0, len(items)-1; i < j; i, j = i+1, j-1 {
		items[i], items[j] = items[j], items[i]
	}
	return items
}

func writeEvent(w io.Writer, it store.InboxItem) {
	data, _ := json.Marshal(it)
	fmt.Fprintf(w, "id: %d\nevent: notification\ndata: %s\n\n", it.Seq, data)
}

// pollWindow is how many of a person's newest notifications a polling
// stream compares between polls.
const pollWindow = 500

// inboxPoller finds the notifications other processes added to a person's
// inbox since the last poll. It compares ids, not sequence numbers: with
// several writers (PostgreSQL) a notification may commit after one with a
// higher sequence number.
type inboxPoller struct {
	store store.Store
	user  string
	seen  map[string]bool
}

// start remembers what the inbox holds now; only what comes next is shown.
func (p *inboxPoller) start(ctx context.Context) error {
	page, err := p.store.ListInbox(ctx, store.InboxQuery{UserID: p.user, Limit: pollWindow})
	if err != nil {
		return err
	}
	p.seen = make(map[string]bool, len(page))
	for _, it := range page {
		p.seen[it.ID] = true
	}
	return nil
}

// next returns the notifications not seen before, oldest first; overflow
// means more arrived than one poll can compare and the client should
// re-read its inbox.
func (p *inboxPoller) next(ctx context.Context) (fresh []store.InboxItem, overflow bool, err error) {
	page, err := p.store.ListInbox(ctx, store.InboxQuery{UserID: p.user, Limit: pollWindow})
	if err != nil {
		return nil, false, err
	}
	seen := make(map[string]bool, len(page))
	known := 0
	for i := len(page) - 1; i >= 0; i-- {
		it := page[i]
		seen[it.ID] = true
		if p.seen[it.ID] {
			known++
			continue
		}
		fresh = append(fresh, it)
	}
	p.seen = seen
	return fresh, len(page) == pollWindow && known == 0, nil
}
