-- Timing: durable timers (events scheduled with deliverAt, digest windows,
-- escalations) and the categories whose urgent notifications may break a
-- person's quiet hours.

-- +goose Up
CREATE TABLE timers (
    -- Compared byte by byte (BINARY), so a key prefix is a range.
    key     TEXT    NOT NULL PRIMARY KEY,
    kind    TEXT    NOT NULL,
    due     INTEGER NOT NULL,
    -- JSON; NULL when the timer carries nothing.
    payload TEXT
) WITHOUT ROWID, STRICT;

-- The timer loop reads due timers, earliest first.
CREATE INDEX timers_due ON timers (due, key);

-- JSON array of category names; NULL when there are none.
ALTER TABLE preferences ADD COLUMN quiet_urgent TEXT;

-- +goose Down
ALTER TABLE preferences DROP COLUMN quiet_urgent;
DROP INDEX timers_due;
DROP TABLE timers;
