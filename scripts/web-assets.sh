#!/usr/bin/env bash
# Puts the official Web Chat bundle (botframework-webchat's dist/webchat.js,
# from the npm registry through web/app's package-lock.json) into
# internal/web/assets/app/vendor, where `go build` embeds it into herald.
# Nothing else is downloaded and nothing is fetched at run time. npm ci runs
# once per lock (a stamp in node_modules). Without npm the build goes on
# without Web Chat (the web app says so), unless CI=true.
set -euo pipefail
cd "$(dirname "$0")/.."

dir=web/app
dest=internal/web/assets/app/vendor/webchat.js
if ! command -v npm >/dev/null; then
  msg="npm not found: herald is built without Web Chat; install Node.js 20+ and run make build again"
  if [ "${CI:-}" = true ]; then echo "$msg" >&2; exit 1; fi
  echo "note: $msg"
  exit 0
fi
want="$(sha256sum "$dir/package-lock.json" | cut -d' ' -f1) node $(node --version)"
stamp="$dir/node_modules/.herald-installed"
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  echo "npm ci --prefix $dir"
  npm ci --prefix "$dir" --no-audit --no-fund --ignore-scripts --loglevel=error
  echo "$want" > "$stamp"
fi
src="$dir/node_modules/botframework-webchat/dist/webchat.js"
if ! cmp -s "$src" "$dest"; then
  cp "$src" "$dest"
  echo "Web Chat $(node -p "require('./$dir/node_modules/botframework-webchat/package.json').version") -> $dest"
fi
