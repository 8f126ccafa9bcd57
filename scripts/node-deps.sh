#!/usr/bin/env bash
# Installs the Node packages the Go tests drive (the projects in the loop
# below: the official Direct Line client, the botbuilder bot of the vabot
# test, and web/e2e's Web Chat with playwright-core, which never downloads
# a browser: it runs Debian's /usr/bin/chromium) with `npm ci`, once per
# package-lock.json: a stamp in node_modules skips the install when the lock
# has not changed. Without npm it only says how to get it, unless CI=true.
set -euo pipefail
cd "$(dirname "$0")/.."

for dir in internal/directline/testdata/node internal/channel/vabot/testdata/node web/e2e web/app; do
  if ! command -v npm >/dev/null; then
    msg="npm not found: install Node.js 20+ then run: npm ci --prefix $dir"
    if [ "${CI:-}" = true ]; then echo "$msg" >&2; exit 1; fi
    echo "note: $msg (the test that needs it is skipped)"
    continue
  fi
  want="$(sha256sum "$dir/package-lock.json" | cut -d' ' -f1) node $(node --version)"
  stamp="$dir/node_modules/.herald-installed"
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
    continue
  fi
  echo "npm ci --prefix $dir"
  npm ci --prefix "$dir" --no-audit --no-fund --ignore-scripts --loglevel=error
  echo "$want" > "$stamp"
done
