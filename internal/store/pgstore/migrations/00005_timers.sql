-- Timing: durable timers (events scheduled with deliverAt, digest windows,
-- escalations) and the categories whose urgent notifications may break a
-- person's quiet hours.

-- +goose Up
CREATE TABLE timers (
    -- "C" collation: keys compare byte by byte, so a key prefix is a range.
    key     text COLLATE "C" NOT NULL PRIMARY KEY,
    kind    text        NOT NULL,
    due     timestamptz NOT NULL,
    -- NULL when the timer carries nothing.
    payload json
);

-- The timer loop reads due timers, earliest first.
CREATE INDEX timers_due ON timers (due, key);

-- JSON array of category names; NULL when there are none.
ALTER TABLE preferences ADD COLUMN quiet_urgent text;

-- +goose Down
ALTER TABLE preferences DROP COLUMN quiet_urgent;
DROP TABLE timers;
