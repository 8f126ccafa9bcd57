package pgstore

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/herald/herald/internal/store"
)

const deviceColumns = `id, user_id, platform, token, environment, topic, p256dh, auth, tags, locale, created_at, updated_at, retired_at, retired_reason`

// registerDeviceSQL upserts a device and returns the stored row: a token
// registered again moves to the new user, takes the new fields, becomes
// active again and keeps its created_at.
const registerDeviceSQL = `INSERT INTO devices (` + deviceColumns + `)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9::jsonb, $10, $11, $12, NULL, '')
ON CONFLICT (id) DO UPDATE SET user_id = excluded.user_id, environment = excluded.environment,
	topic = excluded.topic, p256dh = excluded.p256dh, auth = excluded.auth, tags = excluded.tags,
	locale = excluded.locale, updated_at = excluded.updated_at, retired_at = NULL, retired_reason = ''
RETURNING ` + deviceColumns

// RegisterDevice upserts d under DeviceID(d.Platform, d.Token) in one
// statement.
func (s *Store) RegisterDevice(ctx context.Context, d store.Device) (store.Device, error) {
	if d.UserID == "" || d.Platform == "" || d.Token == "" {
		return store.Device{}, fmt.Errorf("pgstore: register device: user, platform and token are required")
	}
	d.ID = store.DeviceID(d.Platform, d.Token)
	now := time.Now().UTC()
	if d.UpdatedAt.IsZero() {
		d.UpdatedAt = now
	}
	if d.CreatedAt.IsZero() {
		d.CreatedAt = d.UpdatedAt
	}
	var tags *string
	if len(d.Tags) > 0 {
		b, err := json.Marshal(d.Tags)
		if err != nil {
			return store.Device{}, fmt.Errorf("pgstore: register device: %w", err)
		}
		tags = new(string(b))
	}
	out, err := scanDevice(s.pool.QueryRow(ctx, registerDeviceSQL,
		d.ID, d.UserID, string(d.Platform), d.Token, d.Environment, d.Topic, d.P256dh, d.Auth, tags, d.Locale,
		d.CreatedAt, d.UpdatedAt))
	if err != nil {
		return store.Device{}, fmt.Errorf("pgstore: register device: %w", err)
	}
	return out, nil
}

// ListDevices returns a user's devices, oldest first.
func (s *Store) ListDevices(ctx context.Context, userID string) ([]store.Device, error) {
	ds, err := s.queryDevices(ctx, `SELECT `+deviceColumns+` FROM devices WHERE user_id = $1 ORDER BY created_at, id`, userID)
	if err != nil {
		return nil, fmt.Errorf("pgstore: list devices of %s: %w", userID, err)
	}
	return ds, nil
}

// DeleteDevice removes one of a user's devices.
func (s *Store) DeleteDevice(ctx context.Context, userID, deviceID string) error {
	tag, err := s.pool.Exec(ctx, `DELETE FROM devices WHERE id = $1 AND user_id = $2`, deviceID, userID)
	if err != nil {
		return fmt.Errorf("pgstore: delete device %s: %w", deviceID, err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("pgstore: user %s has no device %s: %w", userID, deviceID, store.ErrNotFound)
	}
	return nil
}

// deviceBatch is the most ids bound to one query.
const deviceBatch = 1000

// DevicesFor returns the active devices of users on platforms (all when
// none are given), ordered by user then id, one query per deviceBatch
// users.
func (s *Store) DevicesFor(ctx context.Context, userIDs []string, platforms ...store.Platform) ([]store.Device, error) {
	var plats []string // nil: every platform
	for _, p := range platforms {
		plats = append(plats, string(p))
	}
	var out []store.Device
	for chunk := range slices.Chunk(userIDs, deviceBatch) {
		ds, err := s.queryDevices(ctx, `SELECT `+deviceColumns+` FROM devices
			WHERE user_id = ANY($1) AND retired_at IS NULL AND ($2::text[] IS NULL OR platform = ANY($2))
			ORDER BY user_id, id`, chunk, plats)
		if err != nil {
			return nil, fmt.Errorf("pgstore: devices of %d users: %w", len(userIDs), err)
		}
		out = append(out, ds...)
	}
	return out, nil
}

// RetireDevice marks a device retired, keeping the first reason.
func (s *Store) RetireDevice(ctx context.Context, deviceID, reason string, at time.Time) error {
	return s.retire(ctx, "devices", "device", deviceID, reason, at)
}

// retire marks row id of table (devices, conversation_refs) retired at at
// with reason, keeping the first reason; store.ErrNotFound if absent.
func (s *Store) retire(ctx context.Context, table, what, id, reason string, at time.Time) error {
	if at.IsZero() {
		at = time.Now()
	}
	tag, err := s.pool.Exec(ctx, `UPDATE `+table+` SET
			retired_at = coalesce(retired_at, $1),
			retired_reason = CASE WHEN retired_at IS NULL THEN $2 ELSE retired_reason END
		WHERE id = $3`, at, reason, id)
	if err != nil {
		return fmt.Errorf("pgstore: retire %s %s: %w", what, id, err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("pgstore: retire %s %s: %w", what, id, store.ErrNotFound)
	}
	return nil
}

// MarkDeviceDelivered records (event, device) deliveries with one INSERT
// over arrays, in key order.
func (s *Store) MarkDeviceDelivered(ctx context.Context, ds []store.DeviceDelivery) error {
	if len(ds) == 0 {
		return nil
	}
	now := time.Now()
	sorted := slices.Clone(ds)
	slices.SortFunc(sorted, func(a, b store.DeviceDelivery) int {
		return cmp.Or(cmp.Compare(a.EventID, b.EventID), cmp.Compare(a.DeviceID, b.DeviceID))
	})
	events, devices, at := make([]string, len(sorted)), make([]string, len(sorted)), make([]time.Time, len(sorted))
	for i, d := range sorted {
		events[i], devices[i], at[i] = d.EventID, d.DeviceID, d.At
		if d.At.IsZero() {
			at[i] = now
		}
	}
	_, err := s.pool.Exec(ctx, `INSERT INTO device_deliveries (event_id, device_id, at)
		SELECT * FROM unnest($1::text[], $2::text[], $3::timestamptz[])
		ON CONFLICT (event_id, device_id) DO NOTHING`, events, devices, at)
	if err != nil {
		return fmt.Errorf("pgstore: record %d device deliveries: %w", len(ds), err)
	}
	return nil
}

// DeviceDelivered returns which keys were recorded as delivered, with one
// query per deviceBatch keys.
func (s *Store) DeviceDelivered(ctx context.Context, keys []store.DeviceDeliveryKey) (map[store.DeviceDeliveryKey]bool, error) {
	out := map[store.DeviceDeliveryKey]bool{}
	for chunk := range slices.Chunk(keys, deviceBatch) {
		events, devices := make([]string, len(chunk)), make([]string, len(chunk))
		for i, k := range chunk {
			events[i], devices[i] = k.EventID, k.DeviceID
		}
		rows, err := s.pool.Query(ctx, `SELECT d.event_id, d.device_id FROM device_deliveries d
			JOIN unnest($1::text[], $2::text[]) AS k(event_id, device_id)
			ON d.event_id = k.event_id AND d.device_id = k.device_id`, events, devices)
		if err != nil {
			return nil, fmt.Errorf("pgstore: device deliveries: %w", err)
		}
		var k store.DeviceDeliveryKey
		if _, err := pgx.ForEachRow(rows, []any{&k.EventID, &k.DeviceID}, func() error { out[k] = true; return nil }); err != nil {
			return nil, fmt.Errorf("pgstore: device deliveries: %w", err)
		}
	}
	return out, nil
}

// PruneDeviceDeliveries deletes up to limit records older than before,
// oldest first.
func (s *Store) PruneDeviceDeliveries(ctx context.Context, before time.Time, limit int) (int, error) {
	if limit <= 0 {
		return 0, nil
	}
	tag, err := s.pool.Exec(ctx, `DELETE FROM device_deliveries WHERE (event_id, device_id) IN
		(SELECT event_id, device_id FROM device_deliveries WHERE at < $1 ORDER BY at LIMIT $2)`, before, limit)
	if err != nil {
		return 0, fmt.Errorf("pgstore: prune device deliveries: %w", err)
	}
	return int(tag.RowsAffected()), nil
}

func (s *Store) queryDevices(ctx context.Context, sql string, args ...any) ([]store.Device, error) {
	rows, err := s.pool.Query(ctx, sql, args...)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (store.Device, error) { return scanDevice(row) })
}

func scanDevice(row pgx.Row) (store.Device, error) {
	var (
		d                store.Device
		platform         string
		tags             []byte
		created, updated time.Time
		retired          *time.Time
	)
	if err := row.Scan(&d.ID, &d.UserID, &platform, &d.Token, &d.Environment, &d.Topic, &d.P256dh, &d.Auth,
		&tags, &d.Locale, &created, &updated, &retired, &d.RetiredReason); err != nil {
		return d, err
	}
	d.Platform = store.Platform(platform)
	if tags != nil {
		if err := json.Unmarshal(tags, &d.Tags); err != nil {
			return d, fmt.Errorf("device %s: tags: %w", d.ID, err)
		}
	}
	d.CreatedAt = created.UTC()
	d.UpdatedAt = updated.UTC()
	d.RetiredAt = fromTSPtr(retired)
	return d, nil
}
