package storetest

import (
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/herald/herald/internal/store"
)

// ------------------------------------------------------ conversation refs

func teamsRef(user, conv string) store.ConversationRef {
	return store.ConversationRef{UserID: user, ChannelID: "msteams", ConversationID: conv,
		ServiceURL: "https://smba.example/teams/", TenantID: "tenant-1", AccountID: "29:" + user,
		AccountName: "Ada L", BotID: "28:bot", BotName: "herald", Locale: "en-GB", CreatedAt: t0, UpdatedAt: t0}
}

func mustSaveRef(t *testing.T, s store.Store, r store.ConversationRef) store.ConversationRef {
	t.Helper()
	got, err := s.SaveConversationRef(t.Context(), r)
	if err != nil {
		t.Fatalf("SaveConversationRef(%s %s): %v", r.ChannelID, r.ConversationID, err)
	}
	return got
}

func checkRef(t *testing.T, got, want store.ConversationRef) {
	t.Helper()
	if got.ID != want.ID || got.UserID != want.UserID || got.ChannelID != want.ChannelID ||
		got.ConversationID != want.ConversationID || got.ServiceURL != want.ServiceURL ||
		got.TenantID != want.TenantID || got.AccountID != want.AccountID || got.AccountName != want.AccountName ||
		got.BotID != want.BotID || got.BotName != want.BotName || got.Locale != want.Locale ||
		!got.CreatedAt.Equal(want.CreatedAt) || (got.RetiredAt == nil) != (want.RetiredAt == nil) ||
		got.RetiredReason != want.RetiredReason {
		t.Errorf("conversation reference differs:\n got %+v\nwant %+v", got, want)
	}
}

var conversationSpecs = []spec{
	{"SaveRoundTripsEveryFieldAndDerivesTheID", func(t *testing.T, s store.Store) {
		want := teamsRef("ada", "a:1")
		want.ID = store.ConversationRefID("msteams", "ada", "a:1")
		checkRef(t, mustSaveRef(t, s, want), want)
		list, err := s.ListConversationRefs(t.Context(), "ada")
		if err != nil || len(list) != 1 {
			t.Fatalf("ListConversationRefs(ada) = %d refs, %v; want 1", len(list), err)
		}
		checkRef(t, list[0], want)
	}},
	{"SavingAgainRefreshesTheServiceURLAndKeepsCreatedAt", func(t *testing.T, s store.Store) {
		first := mustSaveRef(t, s, teamsRef("ada", "a:1"))
		again := teamsRef("ada", "a:1")
		again.ServiceURL = "https://smba.example/emea/"
		again.CreatedAt = t0.Add(time.Hour)
		again.UpdatedAt = t0.Add(time.Hour)
		got := mustSaveRef(t, s, again)
		if got.ID != first.ID || got.ServiceURL != "https://smba.example/emea/" || !got.CreatedAt.Equal(t0) {
			t.Errorf("after saving again: id %s (want %s), serviceUrl %q, createdAt %v (want %v)",
				got.ID, first.ID, got.ServiceURL, got.CreatedAt, t0)
		}
		list, _ := s.ListConversationRefs(t.Context(), "ada")
		if len(list) != 1 {
			t.Errorf("saving the same conversation twice left %d references, want 1", len(list))
		}
	}},
	{"MissingFieldsAreRefused", func(t *testing.T, s store.Store) {
		for _, r := range []store.ConversationRef{
			{ChannelID: "msteams", ConversationID: "c", ServiceURL: "https://x/"},
			{UserID: "u", ConversationID: "c", ServiceURL: "https://x/"},
			{UserID: "u", ChannelID: "msteams", ServiceURL: "https://x/"},
			{UserID: "u", ChannelID: "msteams", ConversationID: "c"},
		} {
			if _, err := s.SaveConversationRef(t.Context(), r); err == nil {
				t.Errorf("SaveConversationRef(%+v) succeeded, want an error", r)
			}
		}
	}},
	{"ActiveRefsOfManyUsersSkipRetiredOnes", func(t *testing.T, s store.Store) {
		a1 := mustSaveRef(t, s, teamsRef("ada", "a:1"))
		wc := teamsRef("ada", "dl-1")
		wc.ChannelID = "directline"
		wc.CreatedAt = t0.Add(time.Minute)
		a2 := mustSaveRef(t, s, wc)
		g1 := mustSaveRef(t, s, teamsRef("grace", "g:1"))
		mustSaveRef(t, s, teamsRef("linus", "l:1"))
		if err := s.RetireConversationRef(t.Context(), g1.ID, "403 MessageWritesBlocked", t0); err != nil {
			t.Fatalf("RetireConversationRef: %v", err)
		}
		got, err := s.ConversationRefs(t.Context(), []string{"grace", "ada", "nobody"})
		if err != nil {
			t.Fatalf("ConversationRefs: %v", err)
		}
		var ids []string
		for _, r := range got {
			ids = append(ids, r.ID)
		}
		if fmt.Sprint(ids) != fmt.Sprint([]string{a1.ID, a2.ID}) {
			t.Errorf("ConversationRefs(grace, ada, nobody) = %v, want ada's two in creation order %v", ids, []string{a1.ID, a2.ID})
		}
	}},
	{"RetireKeepsTheFirstReasonAndSavingAgainReactivates", func(t *testing.T, s store.Store) {
		r := mustSaveRef(t, s, teamsRef("ada", "a:1"))
		if err := s.RetireConversationRef(t.Context(), r.ID, "404 conversation not found", t0); err != nil {
			t.Fatalf("RetireConversationRef: %v", err)
		}
		if err := s.RetireConversationRef(t.Context(), r.ID, "later reason", t0.Add(time.Hour)); err != nil {
			t.Fatalf("RetireConversationRef again: %v", err)
		}
		list, _ := s.ListConversationRefs(t.Context(), "ada")
		if len(list) != 1 || list[0].RetiredAt == nil || !list[0].RetiredAt.Equal(t0) || list[0].RetiredReason != "404 conversation not found" {
			t.Fatalf("after retiring twice: %+v, want retired at %v with the first reason", list, t0)
		}
		back := mustSaveRef(t, s, teamsRef("ada", "a:1"))
		if back.RetiredAt != nil || back.RetiredReason != "" {
			t.Errorf("a reference saved again (the person talked again) stays retired: %+v", back)
		}
		if err := s.RetireConversationRef(t.Context(), "nope", "x", t0); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("RetireConversationRef(unknown) = %v, want ErrNotFound", err)
		}
	}},
}

// ------------------------------------------------------------ transcripts

var transcriptSpecs = []spec{
	{"CreateGetAndConflict", func(t *testing.T, s store.Store) {
		if err := s.CreateTranscript(t.Context(), store.Transcript{ID: "c1", UserID: "ada", CreatedAt: t0}); err != nil {
			t.Fatalf("CreateTranscript: %v", err)
		}
		got, err := s.Transcript(t.Context(), "c1")
		if err != nil || got.ID != "c1" || got.UserID != "ada" || !got.CreatedAt.Equal(t0) {
			t.Fatalf("Transcript(c1) = %+v, %v", got, err)
		}
		if err := s.CreateTranscript(t.Context(), store.Transcript{ID: "c1"}); !errors.Is(err, store.ErrConflict) {
			t.Errorf("CreateTranscript twice = %v, want ErrConflict", err)
		}
		if _, err := s.Transcript(t.Context(), "nope"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("Transcript(unknown) = %v, want ErrNotFound", err)
		}
		if _, err := s.AppendTranscript(t.Context(), "nope", []json.RawMessage{json.RawMessage(`{}`)}, t0); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("AppendTranscript(unknown) = %v, want ErrNotFound", err)
		}
	}},
	{"WatermarksCountUpAndReadResumesAfterOne", func(t *testing.T, s store.Store) {
		if err := s.CreateTranscript(t.Context(), store.Transcript{ID: "c1", CreatedAt: t0}); err != nil {
			t.Fatalf("CreateTranscript: %v", err)
		}
		seqs, err := s.AppendTranscript(t.Context(), "c1", []json.RawMessage{
			json.RawMessage(`{"type":"message","text":"one"}`), json.RawMessage(`{"type":"message","text":"two"}`)}, t0)
		if err != nil || fmt.Sprint(seqs) != "[1 2]" {
			t.Fatalf("AppendTranscript = %v, %v; want [1 2]", seqs, err)
		}
		seqs, err = s.AppendTranscript(t.Context(), "c1", []json.RawMessage{json.RawMessage(`{"type":"message","text":"three"}`)}, t0)
		if err != nil || fmt.Sprint(seqs) != "[3]" {
			t.Fatalf("AppendTranscript = %v, %v; want [3]", seqs, err)
		}
		got, err := s.ReadTranscript(t.Context(), "c1", 1, 10)
		if err != nil || len(got) != 2 || got[0].Seq != 2 || got[1].Seq != 3 {
			t.Fatalf("ReadTranscript(after 1) = %+v, %v; want seqs 2 and 3", got, err)
		}
		var a struct{ Text string }
		if err := json.Unmarshal(got[1].Activity, &a); err != nil || a.Text != "three" {
			t.Errorf("third activity = %s, want text three", got[1].Activity)
		}
		if !got[0].At.Equal(t0) {
			t.Errorf("entry time = %v, want %v", got[0].At, t0)
		}
		if got, _ := s.ReadTranscript(t.Context(), "c1", 0, 1); len(got) != 1 || got[0].Seq != 1 {
			t.Errorf("ReadTranscript(after 0, limit 1) = %+v, want seq 1 only", got)
		}
		if got, _ := s.ReadTranscript(t.Context(), "c1", 3, 10); len(got) != 0 {
			t.Errorf("ReadTranscript(after the last) = %+v, want nothing", got)
		}
	}},
	{"ConcurrentAppendsGetDistinctWatermarks", func(t *testing.T, s store.Store) {
		if err := s.CreateTranscript(t.Context(), store.Transcript{ID: "c1", CreatedAt: t0}); err != nil {
			t.Fatalf("CreateTranscript: %v", err)
		}
		var wg sync.WaitGroup
		errs := make(chan error, 8)
		for i := range 8 {
			wg.Go(func() {
				_, err := s.AppendTranscript(t.Context(), "c1", []json.RawMessage{json.RawMessage(fmt.Sprintf(`{"n":%d}`, i))}, t0)
				errs <- err
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Fatalf("AppendTranscript: %v", err)
			}
		}
		got, _ := s.ReadTranscript(t.Context(), "c1", 0, 100)
		if len(got) != 8 {
			t.Fatalf("read %d entries, want 8", len(got))
		}
		for i, e := range got {
			if e.Seq != int64(i+1) {
				t.Errorf("entry %d has seq %d, want %d", i, e.Seq, i+1)
			}
		}
	}},
}
