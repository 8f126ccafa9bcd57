package app

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/herald/herald/internal/channel"
	"github.com/herald/herald/internal/channel/mobile"
	"github.com/herald/herald/internal/channel/mobile/apns"
	"github.com/herald/herald/internal/channel/mobile/fcm"
	"github.com/herald/herald/internal/channel/push"
	"github.com/herald/herald/internal/channel/webpush"
	"github.com/herald/herald/internal/netguard"
	"github.com/herald/herald/internal/store"
)

// PushOptions configure the device channels. A provider is configured when
// its credentials are given (APNs: KeyFile; FCM: CredentialsFile; Web Push:
// VAPIDPrivateKey); a channel is registered when one of its providers is.
// Endpoints default to Apple's and Google's; point them at local peers for
// tests or air-gapped deployments. TLS trust is the system pool (so
// SSL_CERT_FILE works) plus CAFile when given.
type PushOptions struct {
	APNsEndpoint        string
	APNsSandboxEndpoint string
	// APNsKeyFile is the .p8 token-signing key from Apple.
	APNsKeyFile string
	APNsKeyID   string
	APNsTeamID  string
	// APNsTopic is the bundle id used for devices registered without one.
	APNsTopic string

	FCMEndpoint string
	// FCMTokenURL replaces the service account's token_uri.
	FCMTokenURL string
	// FCMCredentialsFile is the service account's JSON key file.
	FCMCredentialsFile string
	// FCMProjectID replaces the service account's project_id.
	FCMProjectID string

	// VAPID keys are base64url (see 'herald vapid generate'); the subject
	// is a mailto: or https: contact for push services.
	VAPIDPublicKey  string
	VAPIDPrivateKey string
	VAPIDSubject    string

	// CAFile adds PEM certificates to the trust pool of every provider.
	CAFile string
	// Concurrency bounds requests in flight per provider; 0 means 256.
	Concurrency int
	// Rate bounds requests per second per provider; 0 means no bound.
	Rate float64
	// Timeout bounds one provider request; 0 means 30s.
	Timeout time.Duration
}

// apnsSet, fcmSet and webPushSet report whether any setting of a provider
// was given, so that a half-configured provider is an error, not silence.
func (o PushOptions) apnsSet() bool {
	return o.APNsKeyFile != "" || o.APNsKeyID != "" || o.APNsTeamID != ""
}
func (o PushOptions) fcmSet() bool { return o.FCMCredentialsFile != "" }
func (o PushOptions) webPushSet() bool {
	return o.VAPIDPrivateKey != "" || o.VAPIDPublicKey != ""
}

// withPush builds the channels that o configures and passes them, after
// any others, to newRegistry (channel.NewRegistry). The inbox is not among
// them: the handler delivers it itself.
func withPush(newRegistry func(...channel.Channel) (*channel.Registry, error), o PushOptions, st store.Store, guard *netguard.Guard, log *slog.Logger, others ...channel.Channel) (*channel.Registry, error) {
	chs, err := pushChannels(o, st, guard, log)
	if err != nil {
		return nil, err
	}
	return newRegistry(append(others, chs...)...)
}

// pushChannels builds the mobile and webpush channels that o configures.
// Web Push endpoints come from browsers, so their client dials through
// guard; APNs and FCM endpoints are the operator's.
func pushChannels(o PushOptions, st store.Store, guard *netguard.Guard, log *slog.Logger) ([]channel.Channel, error) {
	if !o.apnsSet() && !o.fcmSet() && !o.webPushSet() {
		return nil, nil
	}
	roots, err := push.CertPool(o.CAFile)
	if err != nil {
		return nil, fmt.Errorf("push CA file: %w", err)
	}
	var errs []error
	var out []channel.Channel
	var mc mobile.Config
	if o.apnsSet() {
		key, err := readSetting("APNs key file (--apns-key-file)", o.APNsKeyFile)
		if err == nil {
			mc.APNs, err = apns.New(apns.Config{
				Endpoint: o.APNsEndpoint, SandboxEndpoint: o.APNsSandboxEndpoint, Key: key, KeyID: o.APNsKeyID, TeamID: o.APNsTeamID,
				Topic: o.APNsTopic, Client: push.NewHTTPClient(push.ClientOptions{HTTP2Only: true, RootCAs: roots}),
				Concurrency: o.Concurrency, Rate: o.Rate, Timeout: o.Timeout,
			})
		}
		if err != nil {
			errs = append(errs, err)
		} else {
			log.Info("APNs configured", "endpoint", firstSet(o.APNsEndpoint, apns.ProductionEndpoint), "key_id", o.APNsKeyID, "team_id", o.APNsTeamID)
		}
	}
	if o.fcmSet() {
		creds, err := readSetting("FCM credentials file (--fcm-credentials-file)", o.FCMCredentialsFile)
		if err == nil {
			mc.FCM, err = fcm.New(fcm.Config{
				Endpoint: o.FCMEndpoint, TokenURL: o.FCMTokenURL, Credentials: creds, ProjectID: o.FCMProjectID,
				Client:      push.NewHTTPClient(push.ClientOptions{RootCAs: roots}),
				Concurrency: o.Concurrency, Rate: o.Rate, Timeout: o.Timeout,
			})
		}
		if err != nil {
			errs = append(errs, err)
		} else {
			log.Info("FCM configured", "endpoint", firstSet(o.FCMEndpoint, fcm.DefaultEndpoint))
		}
	}
	if mc.APNs != nil || mc.FCM != nil {
		mc.Store, mc.Log = st, log
		ch, err := mobile.New(mc)
		if err != nil {
			errs = append(errs, err)
		} else {
			out = append(out, ch)
		}
	}
	if o.webPushSet() {
		ch, err := webpush.New(webpush.Config{
			Keys: webpush.Keys{Public: o.VAPIDPublicKey, Private: o.VAPIDPrivateKey}, Subject: o.VAPIDSubject, Store: st,
			Client:      push.NewHTTPClient(push.ClientOptions{RootCAs: roots, Dial: guard.DialContext(10*time.Second, 30*time.Second)}),
			Concurrency: o.Concurrency, Rate: o.Rate, Timeout: o.Timeout, Log: log,
		})
		if err != nil {
			errs = append(errs, err)
		} else {
			out = append(out, ch)
			log.Info("Web Push configured", "vapid_public_key", o.VAPIDPublicKey)
		}
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("push configuration: %w", errors.Join(errs...))
	}
	return out, nil
}

func readSetting(what, file string) ([]byte, error) {
	if strings.TrimSpace(file) == "" {
		return nil, fmt.Errorf("%s is required", what)
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", what, err)
	}
	return b, nil
}

func firstSet(v, def string) string {
	if v != "" {
		return v
	}
	return def
}
