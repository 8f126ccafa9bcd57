// Package source owns herald's upstream adapters: one definition per upstream
// system (a YAML file) saying how its requests are authenticated (an HMAC
// signature with a timestamp tolerance, or a bearer key), which payloads are
// kept (a jq filter) and how a payload becomes the canonical event (one jq
// program per CloudEvent attribute and for the audience and notification).
//
// Programs are compiled once when a definition is loaded, with gojq; mapping
// builds a structured CloudEvent and hands it to package event, so an adapter
// produces exactly the events, and the field errors, of POST /v1/events. Every
// failure names the step that failed (body, filter, map.audience, ...).
//
// The package reads definition and secret files and nothing else: it neither
// serves HTTP nor publishes to the hub; httpapi and the command line do.
// Secret values never leave it except through Sign, and are never printed.
package source
