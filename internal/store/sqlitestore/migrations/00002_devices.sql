-- Push installations (APNs and FCM tokens, Web Push subscriptions) and the
-- per-device delivery records that make push deliveries exactly-once.

-- +goose Up
-- id is derived from (platform, token), so a token registered again finds
-- its row whoever registers it.
CREATE TABLE devices (
    id             TEXT    NOT NULL PRIMARY KEY,
    user_id        TEXT    NOT NULL,
    platform       TEXT    NOT NULL,
    token          TEXT    NOT NULL,
    environment    TEXT    NOT NULL DEFAULT '',
    topic          TEXT    NOT NULL DEFAULT '',
    p256dh         TEXT    NOT NULL DEFAULT '',
    auth           TEXT    NOT NULL DEFAULT '',
    -- JSON array of strings; NULL when there are none.
    tags           TEXT,
    locale         TEXT    NOT NULL DEFAULT '',
    created_at     INTEGER NOT NULL,
    updated_at     INTEGER NOT NULL,
    retired_at     INTEGER,
    retired_reason TEXT    NOT NULL DEFAULT ''
) WITHOUT ROWID, STRICT;

-- A person's devices: the channels' batch lookup and the device list.
CREATE INDEX devices_user ON devices (user_id, created_at);

-- One row per (event, device) that a provider accepted.
CREATE TABLE device_deliveries (
    event_id  TEXT    NOT NULL,
    device_id TEXT    NOT NULL,
    at        INTEGER NOT NULL,
    PRIMARY KEY (event_id, device_id)
) WITHOUT ROWID, STRICT;

-- +goose Down
DROP TABLE device_deliveries;
DROP INDEX devices_user;
DROP TABLE devices;
