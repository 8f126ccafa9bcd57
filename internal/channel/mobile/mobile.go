// Package mobile is the "mobile" channel: it delivers each notification to
// every active APNs and FCM device a person has registered, through the
// provider clients in the apns and fcm child packages, with the fan-out,
// exactly-once records and outcome rules of package push. A provider that
// is not configured is left out: its devices are not looked up.
package mobile

import (
	"errors"
	"log/slog"

	"github.com/herald/herald/internal/channel/push"
	"github.com/herald/herald/internal/prefs"
	"github.com/herald/herald/internal/store"
)

// Name is the channel's name.
const Name = prefs.Mobile

// Config configures the channel; at least one provider is required.
type Config struct {
	// APNs and FCM are the provider clients (*apns.Client, *fcm.Client);
	// nil leaves a provider out.
	APNs push.Sender
	FCM  push.Sender
	// Store holds the devices.
	Store store.Store
	// Workers bounds sends in flight across both providers; 0 means 256.
	Workers int
	// Log receives warnings; nil discards them.
	Log *slog.Logger
}

// New returns the mobile channel.
func New(cfg Config) (*push.Fanout, error) {
	senders := map[store.Platform]push.Sender{}
	if cfg.APNs != nil {
		senders[store.PlatformAPNs] = cfg.APNs
	}
	if cfg.FCM != nil {
		senders[store.PlatformFCM] = cfg.FCM
	}
	if len(senders) == 0 {
		return nil, errors.New("mobile: configure APNs, FCM or both")
	}
	return push.New(push.Config{Name: Name, Senders: senders, Store: cfg.Store, Workers: cfg.Workers, Log: cfg.Log})
}
