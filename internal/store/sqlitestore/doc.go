// Package sqlitestore is the SQLite driver of store.Store, herald's default
// store for a single process (`herald serve` with no flags).
//
// It uses the pure-Go modernc.org/sqlite driver, so herald builds without
// cgo. The database runs in WAL mode: one connection writes (SQLite allows one
// writer at a time, so queueing in Go is cheaper than contending for the file
// lock) while a small pool of read-only connections reads concurrently from
// the last committed snapshot. Every write that takes a slice runs in one
// transaction with prepared statements; LoadPreferences reads in batches of
// up to 500 ids.
//
// The schema lives in migrations/*.sql, embedded in the binary and versioned
// with goose; Open applies whatever is pending.
//
// The package owns the SQL and the mapping between rows and store types. It
// must not decide anything: which channels to use, retries and status rules
// belong to the handler and delivery packages, and the behaviour every driver
// shares is specified by storetest.
package sqlitestore
