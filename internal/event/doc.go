// Package event defines herald's canonical event (a CloudEvent whose data
// carries an audience and a notification) and parses it from every form the
// ingest edge accepts: structured, batch and binary CloudEvents and the
// original sample's bare JSON body. Validation names every offending field.
// The package does no I/O.
package event
