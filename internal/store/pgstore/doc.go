// Package pgstore is the PostgreSQL driver of store.Store, for deployments
// where several herald processes share one database (`herald serve
// --store postgres://...`).
//
// It speaks to PostgreSQL through a pgx connection pool. Every call that
// takes a slice is one statement over arrays (INSERT ... SELECT FROM
// unnest(...)) or a COPY, never a round trip per row; reads by many ids use
// `= ANY($1)`. Writes that several processes may race on are safe under
// PostgreSQL's default READ COMMITTED isolation: upserts use ON CONFLICT,
// a broadcast's cursor is moved under a row lock, and rows are inserted in
// key order so that concurrent writers cannot deadlock.
//
// Inbox seqs come from a one-row counter (table inbox_seq): a writer
// reserves a block of consecutive seqs in a tiny transaction of its own
// before its write, so that the receipts of a broadcast chunk get
// consecutive seqs, as store.Audiences promises, without serialising the
// writes that use them.
//
// The schema lives in migrations/*.sql, embedded in the binary and versioned
// with goose; Open applies whatever is pending, holding an advisory lock so
// that processes starting together migrate once. Options.Schema (or a
// search_path in the URL) keeps herald's tables in a schema of their own.
//
// The package owns the SQL and the mapping between rows and store types. It
// must not decide anything: which channels to use, retries and status rules
// belong to the handler and delivery packages, and the behaviour every driver
// shares is specified by storetest.
package pgstore
