package storetest

import (
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/herald/herald/internal/store"
)

// ---------------------------------------------------------------- devices

func apnsDevice(user, token string) store.Device {
	return store.Device{UserID: user, Platform: store.PlatformAPNs, Token: token, Environment: "sandbox",
		Topic: "com.example.app", Tags: []string{"phone", "beta"}, Locale: "fr-CA", CreatedAt: t0, UpdatedAt: t0}
}

func webpushDevice(user, endpoint string) store.Device {
	return store.Device{UserID: user, Platform: store.PlatformWebPush, Token: endpoint,
		P256dh: "BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4bjyPjs7Vd8pZGH6SRpkNtoIAiw4",
		Auth:   "BTBZMqHH6r4Tts7J_aSIgg", CreatedAt: t0, UpdatedAt: t0}
}

func mustRegister(t *testing.T, s store.Store, d store.Device) store.Device {
	t.Helper()
	got, err := s.RegisterDevice(t.Context(), d)
	if err != nil {
		t.Fatalf("RegisterDevice(%s %s): %v", d.Platform, d.Token, err)
	}
	return got
}

func mustListDevices(t *testing.T, s store.Store, user string) []store.Device {
	t.Helper()
	ds, err := s.ListDevices(t.Context(), user)
	if err != nil {
		t.Fatalf("ListDevices(%s): %v", user, err)
	}
	return ds
}

func deviceIDs(ds []store.Device) []string {
	out := make([]string, len(ds))
	for i, d := range ds {
		out[i] = d.ID
	}
	slices.Sort(out)
	return out
}

func checkDevice(t *testing.T, got, want store.Device) {
	t.Helper()
	if got.ID != want.ID || got.UserID != want.UserID || got.Platform != want.Platform || got.Token != want.Token ||
		got.Environment != want.Environment || got.Topic != want.Topic || got.P256dh != want.P256dh ||
		got.Auth != want.Auth || !slices.Equal(got.Tags, want.Tags) || got.Locale != want.Locale ||
		!got.CreatedAt.Equal(want.CreatedAt) || got.State() != want.State() || got.RetiredReason != want.RetiredReason {
		t.Errorf("device differs:\n got %+v\nwant %+v", got, want)
	}
}

var deviceSpecs = []spec{
	{"RegisterRoundTripsEveryField", func(t *testing.T, s store.Store) {
		want := apnsDevice("ada", "a1b2c3")
		want.ID = store.DeviceID(store.PlatformAPNs, "a1b2c3")
		got := mustRegister(t, s, want)
		checkDevice(t, got, want)
		list := mustListDevices(t, s, "ada")
		if len(list) != 1 {
			t.Fatalf("ListDevices(ada) = %d devices, want 1", len(list))
		}
		checkDevice(t, list[0], want)
		wp := webpushDevice("ada", "https://push.example/sub/1")
		wp.ID = store.DeviceID(store.PlatformWebPush, wp.Token)
		checkDevice(t, mustRegister(t, s, wp), wp)
	}},
	{"SameTokenForAnotherUserMovesTheDevice", func(t *testing.T, s store.Store) {
		first := mustRegister(t, s, apnsDevice("ada", "abcd"))
		moved := apnsDevice("grace", "abcd")
		moved.Locale = "en-GB"
		moved.CreatedAt = t0.Add(5e9)
		second := mustRegister(t, s, moved)
		if second.ID != first.ID {
			t.Errorf("re-registering gave id %s, want the first id %s", second.ID, first.ID)
		}
		if second.UserID != "grace" || second.Locale != "en-GB" {
			t.Errorf("re-registered device = user %s locale %s, want grace en-GB", second.UserID, second.Locale)
		}
		if !second.CreatedAt.Equal(t0) {
			t.Errorf("CreatedAt = %v, want the first registration's %v", second.CreatedAt, t0)
		}
		if got := mustListDevices(t, s, "ada"); len(got) != 0 {
			t.Errorf("ada still has %d devices after the token moved to grace", len(got))
		}
		if got := mustListDevices(t, s, "grace"); len(got) != 1 {
			t.Errorf("grace has %d devices, want 1", len(got))
		}
	}},
	{"SameTokenOnAnotherPlatformIsAnotherDevice", func(t *testing.T, s store.Store) {
		a := mustRegister(t, s, apnsDevice("ada", "abcd"))
		f := mustRegister(t, s, store.Device{UserID: "ada", Platform: store.PlatformFCM, Token: "abcd"})
		if a.ID == f.ID {
			t.Fatal("an APNs and an FCM token with the same text share an id")
		}
		if got := mustListDevices(t, s, "ada"); len(got) != 2 {
			t.Errorf("ada has %d devices, want 2", len(got))
		}
	}},
	{"RetireKeepsTheDeviceListedWithItsReason", func(t *testing.T, s store.Store) {
		d := mustRegister(t, s, apnsDevice("ada", "abcd"))
		if err := s.RetireDevice(t.Context(), d.ID, "Unregistered", t0.Add(1e9)); err != nil {
			t.Fatalf("RetireDevice: %v", err)
		}
		if err := s.RetireDevice(t.Context(), d.ID, "BadDeviceToken", t0.Add(2e9)); err != nil {
			t.Fatalf("RetireDevice again: %v", err)
		}
		list := mustListDevices(t, s, "ada")
		if len(list) != 1 {
			t.Fatalf("ListDevices(ada) = %d devices, want the retired one", len(list))
		}
		got := list[0]
		if got.State() != store.DeviceRetired || got.RetiredReason != "Unregistered" || !got.RetiredAt.Equal(t0.Add(1e9)) {
			t.Errorf("retired device = state %s reason %q at %v, want retired, the first reason and time", got.State(), got.RetiredReason, got.RetiredAt)
		}
		active, err := s.DevicesFor(t.Context(), []string{"ada"})
		if err != nil {
			t.Fatal(err)
		}
		if len(active) != 0 {
			t.Errorf("DevicesFor returned %d retired devices", len(active))
		}
		// Registering the token again revives it.
		again := mustRegister(t, s, apnsDevice("ada", "abcd"))
		if again.State() != store.DeviceActive || again.RetiredReason != "" {
			t.Errorf("re-registered device is %s (%q), want active", again.State(), again.RetiredReason)
		}
	}},
	{"RetireUnknownIsNotFound", func(t *testing.T, s store.Store) {
		err := s.RetireDevice(t.Context(), "nope", "Unregistered", t0)
		if !errors.Is(err, store.ErrNotFound) {
			t.Errorf("RetireDevice(unknown) = %v, want ErrNotFound", err)
		}
	}},
	{"DeleteOnlyTheOwnersDevice", func(t *testing.T, s store.Store) {
		d := mustRegister(t, s, apnsDevice("ada", "abcd"))
		if err := s.DeleteDevice(t.Context(), "grace", d.ID); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("DeleteDevice by another user = %v, want ErrNotFound", err)
		}
		if err := s.DeleteDevice(t.Context(), "ada", d.ID); err != nil {
			t.Fatalf("DeleteDevice: %v", err)
		}
		if err := s.DeleteDevice(t.Context(), "ada", d.ID); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("DeleteDevice twice = %v, want ErrNotFound", err)
		}
		if got := mustListDevices(t, s, "ada"); len(got) != 0 {
			t.Errorf("ada has %d devices after delete", len(got))
		}
	}},
	{"DevicesForFiltersUsersAndPlatformsInLargeBatches", func(t *testing.T, s store.Store) {
		const n = 1203
		var users []string
		var wantAPNs []string
		for i := range n {
			u := fmt.Sprintf("user-%04d", i)
			users = append(users, u)
			wantAPNs = append(wantAPNs, mustRegister(t, s, apnsDevice(u, fmt.Sprintf("%08x", i))).ID)
			if i%100 == 0 {
				mustRegister(t, s, webpushDevice(u, fmt.Sprintf("https://push.example/%d", i)))
			}
		}
		mustRegister(t, s, apnsDevice("outsider", "ffff"))
		got, err := s.DevicesFor(t.Context(), users, store.PlatformAPNs, store.PlatformFCM)
		if err != nil {
			t.Fatal(err)
		}
		slices.Sort(wantAPNs)
		if ids := deviceIDs(got); !slices.Equal(ids, wantAPNs) {
			t.Errorf("DevicesFor(apns, fcm) returned %d devices, want the %d APNs ones", len(ids), len(wantAPNs))
		}
		all, err := s.DevicesFor(t.Context(), users)
		if err != nil {
			t.Fatal(err)
		}
		if len(all) != n+13 {
			t.Errorf("DevicesFor(all platforms) returned %d devices, want %d", len(all), n+13)
		}
	}},
	{"DeviceDeliveriesAreRecordedOnce", func(t *testing.T, s store.Store) {
		var ds []store.DeviceDelivery
		for i := range 650 {
			ds = append(ds, store.DeviceDelivery{EventID: "e1", DeviceID: fmt.Sprintf("d%d", i), At: t0})
		}
		ds = append(ds, store.DeviceDelivery{EventID: "e2", DeviceID: "d0", At: t0})
		for range 2 {
			if err := s.MarkDeviceDelivered(t.Context(), ds); err != nil {
				t.Fatalf("MarkDeviceDelivered: %v", err)
			}
		}
		keys := []store.DeviceDeliveryKey{{EventID: "e1", DeviceID: "d0"}, {EventID: "e1", DeviceID: "d649"}, {EventID: "e1", DeviceID: "d650"}, {EventID: "e2", DeviceID: "d0"}, {EventID: "e2", DeviceID: "d1"}, {EventID: "e3", DeviceID: "d0"}}
		got, err := s.DeviceDelivered(t.Context(), keys)
		if err != nil {
			t.Fatal(err)
		}
		want := map[store.DeviceDeliveryKey]bool{{EventID: "e1", DeviceID: "d0"}: true, {EventID: "e1", DeviceID: "d649"}: true, {EventID: "e2", DeviceID: "d0"}: true}
		if len(got) != len(want) {
			t.Errorf("DeviceDelivered = %v, want %v", got, want)
		}
		for k := range want {
			if !got[k] {
				t.Errorf("DeviceDelivered misses %v", k)
			}
		}
		if err := s.MarkDeviceDelivered(t.Context(), nil); err != nil {
			t.Errorf("MarkDeviceDelivered(nil) = %v", err)
		}
	}},
	{"PruneDeletesOnlyOldRecordsUpToTheLimit", func(t *testing.T, s store.Store) {
		var ds []store.DeviceDelivery
		for i := range 10 {
			ds = append(ds, store.DeviceDelivery{EventID: "old", DeviceID: fmt.Sprintf("d%d", i), At: t0.Add(time.Duration(i) * time.Second)})
		}
		ds = append(ds, store.DeviceDelivery{EventID: "new", DeviceID: "d0", At: t0.Add(time.Hour)})
		if err := s.MarkDeviceDelivered(t.Context(), ds); err != nil {
			t.Fatal(err)
		}
		n, err := s.PruneDeviceDeliveries(t.Context(), t0.Add(time.Minute), 4)
		if err != nil || n != 4 {
			t.Fatalf("PruneDeviceDeliveries(limit 4) = %d, %v; want 4", n, err)
		}
		n, err = s.PruneDeviceDeliveries(t.Context(), t0.Add(time.Minute), 100)
		if err != nil || n != 6 {
			t.Fatalf("PruneDeviceDeliveries(rest) = %d, %v; want 6", n, err)
		}
		got, err := s.DeviceDelivered(t.Context(), []store.DeviceDeliveryKey{{EventID: "new", DeviceID: "d0"}, {EventID: "old", DeviceID: "d9"}})
		if err != nil {
			t.Fatal(err)
		}
		if !got[store.DeviceDeliveryKey{EventID: "new", DeviceID: "d0"}] || len(got) != 1 {
			t.Errorf("after pruning, delivered = %v; want only the recent record", got)
		}
	}},
}
