// Package bfauth authenticates herald to Bot Framework channels and
// channels to herald:
//
//   - Validator checks the JWT a channel (Teams, Direct Line, the Emulator)
//     sends with every activity to POST /api/messages, as the Bot Framework
//     specifies: OpenID metadata and its signing keys (fetched, cached for a
//     day and refetched when an unknown key id appears), RS256, issuer,
//     audience equal to the bot's app id, a 5-minute clock skew, the
//     serviceurl claim equal to the activity's serviceUrl, and the
//     activity's channel among the signing key's endorsements.
//   - TokenSource gets the bot's own client-credentials token for the
//     Connector API, cached and renewed five minutes before it expires.
//
// The metadata and token URLs are settings, so tests use keys they own.
// The package does no HTTP routing and stores nothing.
package bfauth
