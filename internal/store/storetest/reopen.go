package storetest

import (
	"testing"

	"github.com/herald/herald/internal/prefs"
	"github.com/herald/herald/internal/store"
)

// ReopenSeed stores in s, opened for the first time, what ReopenCheck
// then expects every later opening of the same database to hold: saved,
// and one unread inbox item for saved's user. A driver's reopen test calls
// it, closes s and opens the database again.
func ReopenSeed(t *testing.T, s store.Store, saved prefs.Preferences) {
	t.Helper()
	if err := s.SavePreferences(t.Context(), saved); err != nil {
		t.Fatalf("SavePreferences: %v", err)
	}
	if _, err := DeliverInbox(t.Context(), s, []store.InboxItem{{UserID: saved.UserID, EventID: "e1", Message: "hi"}}); err != nil {
		t.Fatalf("DeliverInbox: %v", err)
	}
}

// ReopenCheck checks that s, the database opened for the round-th time,
// holds what ReopenSeed stored.
func ReopenCheck(t *testing.T, s store.Store, round int, saved prefs.Preferences) {
	t.Helper()
	got, err := s.LoadPreferences(t.Context(), []string{saved.UserID})
	if err != nil {
		t.Fatalf("round %d: LoadPreferences: %v", round, err)
	}
	if p := got[saved.UserID]; p.SendNotificationToMobileDevice != saved.SendNotificationToMobileDevice || p.Locale != saved.Locale || !p.UpdatedAt.Equal(saved.UpdatedAt) {
		t.Errorf("round %d: preferences = %+v, want the saved record %+v", round, p, saved)
	}
	if n, err := s.UnreadCount(t.Context(), saved.UserID); err != nil || n != 1 {
		t.Errorf("round %d: UnreadCount = %d, %v; want 1", round, n, err)
	}
}
