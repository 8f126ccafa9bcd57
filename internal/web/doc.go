// Package web serves herald's web app from assets embedded in the binary:
// the operator console (live dashboard, event explorer, dead letters,
// compose, users) and a person's notification center (inbox over SSE, the
// official Web Chat on herald's Direct Line, preferences, browser push), at
// "/" and under "/app/". The app is plain HTML, CSS and JavaScript modules
// with no build step; the only third-party file, botframework-webchat's
// prebuilt bundle, is copied into assets/app/vendor by `make build`
// (scripts/web-assets.sh, from the npm registry) and is served only when
// present. Nothing is fetched from elsewhere at run time: the
// Content-Security-Policy allows this origin only.
//
// The package owns the files and their HTTP headers (content types,
// caching, CSP); it must not know about the API, which the app calls over
// /v1 like any client.
package web
