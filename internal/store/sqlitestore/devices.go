package sqlitestore

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/herald/herald/internal/store"
)

const deviceColumns = `id, user_id, platform, token, environment, topic, p256dh, auth, tags, locale, created_at, updated_at, retired_at, retired_reason`

// RegisterDevice upserts d under DeviceID(d.Platform, d.Token).
func (s *Store) RegisterDevice(ctx context.Context, d store.Device) (store.Device, error) {
	if d.UserID == "" || d.Platform == "" || d.Token == "" {
		return store.Device{}, fmt.Errorf("sqlitestore: register device: user, platform and token are required")
	}
	d.ID = store.DeviceID(d.Platform, d.Token)
	now := time.Now().UTC()
	if d.UpdatedAt.IsZero() {
		d.UpdatedAt = now
	}
	if d.CreatedAt.IsZero() {
		d.CreatedAt = d.UpdatedAt
	}
	var tags any
	if len(d.Tags) > 0 {
		b, err := json.Marshal(d.Tags)
		if err != nil {
			return store.Device{}, fmt.Errorf("sqlitestore: register device: %w", err)
		}
		tags = string(b)
	}
	var out store.Device
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO devices (`+deviceColumns+`)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, NULL, '')
			ON CONFLICT (id) DO UPDATE SET user_id = excluded.user_id, environment = excluded.environment,
				topic = excluded.topic, p256dh = excluded.p256dh, auth = excluded.auth, tags = excluded.tags,
				locale = excluded.locale, updated_at = excluded.updated_at, retired_at = NULL, retired_reason = ''`,
			d.ID, d.UserID, string(d.Platform), d.Token, d.Environment, d.Topic, d.P256dh, d.Auth, tags, d.Locale,
			nanos(d.CreatedAt), nanos(d.UpdatedAt))
		if err != nil {
			return err
		}
		rows, err := tx.QueryContext(ctx, `SELECT `+deviceColumns+` FROM devices WHERE id = ?`, d.ID)
		if err != nil {
			return err
		}
		ds, err := scanDevices(rows)
		if err != nil {
			return err
		}
		if len(ds) != 1 {
			return fmt.Errorf("device %s vanished", d.ID)
		}
		out = ds[0]
		return nil
	})
	if err != nil {
		return store.Device{}, fmt.Errorf("sqlitestore: register device: %w", err)
	}
	return out, nil
}

// ListDevices returns a user's devices, oldest first.
func (s *Store) ListDevices(ctx context.Context, userID string) ([]store.Device, error) {
	rows, err := s.read.QueryContext(ctx, `SELECT `+deviceColumns+` FROM devices WHERE user_id = ? ORDER BY created_at, id`, userID)
	if err != nil {
		return nil, fmt.Errorf("sqlitestore: list devices of %s: %w", userID, err)
	}
	ds, err := scanDevices(rows)
	if err != nil {
		return nil, fmt.Errorf("sqlitestore: list devices of %s: %w", userID, err)
	}
	return ds, nil
}

// DeleteDevice removes one of a user's devices.
func (s *Store) DeleteDevice(ctx context.Context, userID, deviceID string) error {
	res, err := s.write.ExecContext(ctx, `DELETE FROM devices WHERE id = ? AND user_id = ?`, deviceID, userID)
	if err != nil {
		return fmt.Errorf("sqlitestore: delete device %s: %w", deviceID, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("sqlitestore: delete device %s: %w", deviceID, err)
	}
	if n == 0 {
		return fmt.Errorf("sqlitestore: user %s has no device %s: %w", userID, deviceID, store.ErrNotFound)
	}
	return nil
}

// deviceBatch is the most ids bound to one query.
const deviceBatch = 500

// DevicesFor returns the active devices of users on platforms.
func (s *Store) DevicesFor(ctx context.Context, userIDs []string, platforms ...store.Platform) ([]store.Device, error) {
	var out []store.Device
	for chunk := range slices.Chunk(userIDs, deviceBatch) {
		args := make([]any, len(chunk))
		for i, u := range chunk {
			args[i] = u
		}
		rows, err := s.read.QueryContext(ctx, `SELECT `+deviceColumns+` FROM devices
			WHERE user_id IN (`+placeholders(len(chunk))+`) AND retired_at IS NULL`, args...)
		if err != nil {
			return nil, fmt.Errorf("sqlitestore: devices of %d users: %w", len(userIDs), err)
		}
		ds, err := scanDevices(rows)
		if err != nil {
			return nil, fmt.Errorf("sqlitestore: devices of %d users: %w", len(userIDs), err)
		}
		for _, d := range ds {
			if len(platforms) == 0 || slices.Contains(platforms, d.Platform) {
				out = append(out, d)
			}
		}
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
	res, err := s.write.ExecContext(ctx, `UPDATE `+table+` SET
			retired_at = COALESCE(retired_at, ?),
			retired_reason = CASE WHEN retired_at IS NULL THEN ? ELSE retired_reason END
		WHERE id = ?`, nanos(at), reason, id)
	if err != nil {
		return fmt.Errorf("sqlitestore: retire %s %s: %w", what, id, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("sqlitestore: retire %s %s: %w", what, id, err)
	}
	if n == 0 {
		return fmt.Errorf("sqlitestore: retire %s %s: %w", what, id, store.ErrNotFound)
	}
	return nil
}

// markDeliveredHead and markDeliveredTail make the batch INSERT of
// device_deliveries (writeStmts.markDelivered). The push and conversation
// channels record sends in small group commits of any size, so the
// statements are prepared once for every power of two rather than built and
// parsed per call.
const (
	markDeliveredHead = `INSERT INTO device_deliveries (event_id, device_id, at)`
	markDeliveredTail = `ON CONFLICT (event_id, device_id) DO NOTHING`
)

// MarkDeviceDelivered records (event, device) deliveries in one transaction.
func (s *Store) MarkDeviceDelivered(ctx context.Context, ds []store.DeviceDelivery) error {
	if len(ds) == 0 {
		return nil
	}
	now := time.Now()
	ins := &s.stmts.markDelivered
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		args := make([]any, 0, min(len(ds), batchRows)*ins.cols)
		for start := 0; start < len(ds); {
			st, n := ins.next(len(ds) - start)
			args = args[:0]
			for _, d := range ds[start : start+n] {
				at := d.At
				if at.IsZero() {
					at = now
				}
				args = append(args, d.EventID, d.DeviceID, at.UnixNano())
			}
			if _, err := tx.StmtContext(ctx, st).ExecContext(ctx, args...); err != nil {
				return err
			}
			start += n
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("sqlitestore: record %d device deliveries: %w", len(ds), err)
	}
	return nil
}

// DeviceDelivered returns which keys were recorded as delivered.
func (s *Store) DeviceDelivered(ctx context.Context, keys []store.DeviceDeliveryKey) (map[store.DeviceDeliveryKey]bool, error) {
	out := map[store.DeviceDeliveryKey]bool{}
	if len(keys) == 0 {
		return out, nil
	}
	// Group device ids by event so each query reads one event's rows.
	byEvent := map[string][]string{}
	var order []string
	for _, k := range keys {
		if _, ok := byEvent[k.EventID]; !ok {
			order = append(order, k.EventID)
		}
		byEvent[k.EventID] = append(byEvent[k.EventID], k.DeviceID)
	}
	for _, ev := range order {
		for chunk := range slices.Chunk(byEvent[ev], deviceBatch) {
			args := make([]any, 0, len(chunk)+1)
			args = append(args, ev)
			for _, id := range chunk {
				args = append(args, id)
			}
			rows, err := s.read.QueryContext(ctx, `SELECT device_id FROM device_deliveries
				WHERE event_id = ? AND device_id IN (`+placeholders(len(chunk))+`)`, args...)
			if err != nil {
				return nil, fmt.Errorf("sqlitestore: device deliveries of %s: %w", ev, err)
			}
			for rows.Next() {
				var id string
				if err := rows.Scan(&id); err != nil {
					rows.Close()
					return nil, fmt.Errorf("sqlitestore: device deliveries of %s: %w", ev, err)
				}
				out[store.DeviceDeliveryKey{EventID: ev, DeviceID: id}] = true
			}
			err = rows.Err()
			rows.Close()
			if err != nil {
				return nil, fmt.Errorf("sqlitestore: device deliveries of %s: %w", ev, err)
			}
		}
	}
	return out, nil
}

// PruneDeviceDeliveries deletes up to limit records older than before.
func (s *Store) PruneDeviceDeliveries(ctx context.Context, before time.Time, limit int) (int, error) {
	if limit <= 0 {
		return 0, nil
	}
	res, err := s.write.ExecContext(ctx, `DELETE FROM device_deliveries WHERE (event_id, device_id) IN
		(SELECT event_id, device_id FROM device_deliveries WHERE at < ? ORDER BY at LIMIT ?)`, before.UnixNano(), limit)
	if err != nil {
		return 0, fmt.Errorf("sqlitestore: prune device deliveries: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("sqlitestore: prune device deliveries: %w", err)
	}
	return int(n), nil
}

func scanDevices(rows *sql.Rows) ([]store.Device, error) {
	defer rows.Close()
	var out []store.Device
	for rows.Next() {
		var (
			d                         store.Device
			platform                  string
			tags                      sql.NullString
			created, updated, retired sql.NullInt64
		)
		if err := rows.Scan(&d.ID, &d.UserID, &platform, &d.Token, &d.Environment, &d.Topic, &d.P256dh, &d.Auth,
			&tags, &d.Locale, &created, &updated, &retired, &d.RetiredReason); err != nil {
			return nil, err
		}
		d.Platform = store.Platform(platform)
		if tags.Valid {
			if err := json.Unmarshal([]byte(tags.String), &d.Tags); err != nil {
				return nil, fmt.Errorf("device %s: tags: %w", d.ID, err)
			}
		}
		d.CreatedAt = fromNanos(created)
		d.UpdatedAt = fromNanos(updated)
		d.RetiredAt = fromNanosPtr(retired)
		out = append(out, d)
	}
	return out, rows.Err()
}
