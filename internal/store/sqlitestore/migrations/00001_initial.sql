-- herald's initial SQLite schema.
--
-- Conventions: times are Unix nanoseconds in UTC (INTEGER), NULL when unset;
-- tables looked up by a text key are WITHOUT ROWID so the row lives in the
-- primary-key b-tree (one lookup instead of index + table); every table is
-- STRICT so a wrong type fails loudly instead of being stored as-is.

-- +goose Up
CREATE TABLE preferences (
    user_id      TEXT    NOT NULL PRIMARY KEY,
    conversation INTEGER NOT NULL,
    mobile       INTEGER NOT NULL,
    webpush      INTEGER NOT NULL,
    inbox        INTEGER NOT NULL,
    -- JSON object of category -> bool; NULL when there are none.
    categories   TEXT,
    quiet_start  TEXT,
    quiet_end    TEXT,
    time_zone    TEXT    NOT NULL,
    locale       TEXT    NOT NULL DEFAULT '',
    updated_at   INTEGER
) WITHOUT ROWID, STRICT;

-- A rowid table with a unique index on id, against the WITHOUT ROWID
-- convention above: event ids are random, so each new event changes a random
-- page of the b-tree keyed by id. Here that b-tree holds only (id, rowid),
-- about 45 bytes an event instead of the whole row, so it is several times
-- smaller: fewer pages to write per commit and more of it cached, while the
-- rows themselves are appended in order. RecordPlans measured ~1.6x faster
-- (BenchmarkRecordPlans), ~1.2x on a database of 1M events.
CREATE TABLE events (
    id         TEXT    NOT NULL,
    -- The canonical event as JSON (event.Event).
    doc        TEXT    NOT NULL,
    -- Planned (person, channel) deliveries, skipped ones included.
    targeted   INTEGER NOT NULL,
    -- Recipients of the event: every channel is planned for each of them.
    recipients INTEGER NOT NULL,
    -- Outcomes decided while planning, as a JSON array of
    -- {"u": user, "c": channel, "o": outcome, "r": reason}; rows in
    -- deliveries recorded later override them.
    planned    TEXT    NOT NULL DEFAULT '[]',
    planned_at INTEGER
) STRICT;

CREATE UNIQUE INDEX events_id ON events (id);

CREATE TABLE deliveries (
    event_id TEXT    NOT NULL,
    user_id  TEXT    NOT NULL,
    channel  TEXT    NOT NULL,
    outcome  TEXT    NOT NULL,
    reason   TEXT    NOT NULL DEFAULT '',
    attempts INTEGER NOT NULL DEFAULT 0,
    at       INTEGER,
    PRIMARY KEY (event_id, user_id, channel)
) WITHOUT ROWID, STRICT;

-- seq is the rowid: it orders a person's inbox and is the pagination cursor.
-- The notification id is the event id.
CREATE TABLE inbox (
    seq        INTEGER PRIMARY KEY,
    user_id    TEXT    NOT NULL,
    event_id   TEXT    NOT NULL,
    -- A 31-bit hash of event_id (sqlitestore's eventKey), which the index
    -- below holds in place of the id.
    event_key  INTEGER NOT NULL,
    title      TEXT    NOT NULL DEFAULT '',
    message    TEXT    NOT NULL,
    category   TEXT    NOT NULL DEFAULT '',
    urgency    TEXT    NOT NULL DEFAULT '',
    -- JSON array of event.Action; NULL when there are none.
    actions    TEXT,
    -- The notification's free JSON data; NULL when absent.
    data       TEXT,
    locale     TEXT    NOT NULL DEFAULT '',
    expires_at INTEGER,
    created_at INTEGER NOT NULL,
    read_at    INTEGER
) STRICT;

-- A person's inbox, newest first. read_at makes it cover UnreadCount and
-- the filter of unread-only pages, so they read only this index. One index
-- serves both on purpose: every index keyed by user dirties one more random
-- page per added item, and a separate partial index for unread items made
-- RecordPlans about 1.5-2.5x slower (BenchmarkRecordPlans). event_key
-- rather than event_id keeps entries small (about 30 bytes, not 60) for the
-- same reason; MarkRead matches the key here and the id on the row.
CREATE INDEX inbox_user_seq ON inbox (user_id, seq DESC, read_at, event_key);

CREATE TABLE api_keys (
    id         TEXT    NOT NULL PRIMARY KEY,
    name       TEXT    NOT NULL,
    role       TEXT    NOT NULL,
    hash       BLOB    NOT NULL,
    created_at INTEGER
) WITHOUT ROWID, STRICT;

-- +goose Down
DROP TABLE api_keys;
DROP INDEX inbox_user_seq;
DROP TABLE inbox;
DROP TABLE deliveries;
DROP INDEX events_id;
DROP TABLE events;
DROP TABLE preferences;
