-- herald's initial PostgreSQL schema, the counterpart of sqlitestore's.
--
-- Conventions: times are timestamptz (microseconds), NULL when unset; JSON
-- that herald only stores and returns is json (kept as given, cheap to
-- write), JSON that the store changes in place is jsonb.

-- +goose Up
CREATE TABLE preferences (
    user_id      text        NOT NULL PRIMARY KEY,
    conversation boolean     NOT NULL,
    mobile       boolean     NOT NULL,
    webpush      boolean     NOT NULL,
    inbox        boolean     NOT NULL,
    -- category -> bool; NULL when there are none.
    categories   jsonb,
    quiet_start  text,
    quiet_end    text,
    time_zone    text        NOT NULL,
    locale       text        NOT NULL DEFAULT '',
    updated_at   timestamptz
);

CREATE TABLE events (
    id         text        NOT NULL PRIMARY KEY,
    -- The canonical event (event.Event).
    doc        json        NOT NULL,
    -- Planned (person, channel) deliveries, skipped ones included.
    targeted   integer     NOT NULL,
    -- Recipients of the event: every channel is planned for each of them.
    recipients integer     NOT NULL,
    -- Outcomes decided while planning, as an array of
    -- {"u": user, "c": channel, "o": outcome, "r": reason}; rows in
    -- deliveries recorded later override them.
    planned    json        NOT NULL DEFAULT '[]',
    planned_at timestamptz
);

CREATE TABLE deliveries (
    event_id text        NOT NULL,
    user_id  text        NOT NULL,
    channel  text        NOT NULL,
    outcome  text        NOT NULL,
    reason   text        NOT NULL DEFAULT '',
    attempts integer     NOT NULL DEFAULT 0,
    at       timestamptz,
    PRIMARY KEY (event_id, user_id, channel)
);

-- seq orders a person's inbox and is the pagination cursor; it is unique
-- across the table. The notification id is the event id.
CREATE TABLE inbox (
    user_id    text        NOT NULL,
    seq        bigint      NOT NULL,
    event_id   text        NOT NULL,
    title      text        NOT NULL DEFAULT '',
    message    text        NOT NULL,
    category   text        NOT NULL DEFAULT '',
    urgency    text        NOT NULL DEFAULT '',
    -- Array of event.Action; NULL when there are none.
    actions    json,
    -- The notification's free data; NULL when absent.
    data       json,
    locale     text        NOT NULL DEFAULT '',
    expires_at timestamptz,
    created_at timestamptz NOT NULL,
    read_at    timestamptz,
    -- A person's inbox, newest first: pages, unread pages and counts.
    PRIMARY KEY (user_id, seq)
);

-- MarkRead finds an item by (user, event); the index also guarantees that a
-- person gets an event once, whatever the writers do.
CREATE UNIQUE INDEX inbox_user_event ON inbox (user_id, event_id);

-- The last inbox seq handed out. Writers reserve a block of consecutive
-- seqs in a short transaction of their own (see pgstore's reserveSeqs), so
-- the rows of one write, a broadcast chunk above all, get consecutive seqs
-- without serialising the writes themselves.
CREATE TABLE inbox_seq (
    one  boolean NOT NULL PRIMARY KEY DEFAULT true CHECK (one),
    last bigint  NOT NULL
);
INSERT INTO inbox_seq (one, last) VALUES (true, 0);

CREATE TABLE api_keys (
    id         text        NOT NULL PRIMARY KEY,
    name       text        NOT NULL,
    role       text        NOT NULL,
    hash       bytea       NOT NULL,
    created_at timestamptz
);

-- +goose Down
DROP TABLE api_keys;
DROP TABLE inbox_seq;
DROP TABLE inbox;
DROP TABLE deliveries;
DROP TABLE events;
DROP TABLE preferences;
