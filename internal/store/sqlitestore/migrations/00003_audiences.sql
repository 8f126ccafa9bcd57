-- Topics, their members, and broadcasts: events whose audience is resolved
-- from the store and delivered in user-id order with a durable cursor.

-- +goose Up
CREATE TABLE topics (
    name        TEXT    NOT NULL PRIMARY KEY,
    description TEXT    NOT NULL DEFAULT '',
    created_at  INTEGER NOT NULL
) WITHOUT ROWID, STRICT;

-- Keyed by topic then user, so a topic's members are read in user-id order
-- and "is this person in that topic" is one key lookup.
CREATE TABLE members (
    topic   TEXT NOT NULL,
    user_id TEXT NOT NULL,
    PRIMARY KEY (topic, user_id)
) WITHOUT ROWID, STRICT;

CREATE TABLE broadcasts (
    event_id    TEXT    NOT NULL PRIMARY KEY,
    -- The canonical event as JSON: its notification is the content of
    -- every recipient's inbox item, stored once.
    doc         TEXT    NOT NULL,
    state       TEXT    NOT NULL,
    -- The last user id done; the next chunk starts after it.
    cursor      TEXT    NOT NULL DEFAULT '',
    recipients  INTEGER NOT NULL DEFAULT 0,
    -- JSON object channel -> outcome (or "queued") -> count.
    counts      TEXT    NOT NULL DEFAULT '{}',
    started_at  INTEGER NOT NULL,
    finished_at INTEGER
) WITHOUT ROWID, STRICT;

CREATE INDEX broadcasts_running ON broadcasts (state) WHERE state = 'running';

-- A shared inbox row carries no content of its own: it is read from the
-- broadcast it belongs to.
ALTER TABLE inbox ADD COLUMN shared INTEGER NOT NULL DEFAULT 0;

-- +goose Down
ALTER TABLE inbox DROP COLUMN shared;
DROP INDEX broadcasts_running;
DROP TABLE broadcasts;
DROP TABLE members;
DROP TABLE topics;
