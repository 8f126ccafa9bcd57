#!/usr/bin/env bash
# Runs herald with its embedded defaults (NATS JetStream + SQLite under
# ./data, HTTP on :8080), sends a notification and shows it arriving on the
# person's live stream and in their inbox. herald keeps running afterwards
# until Ctrl-C; with DEMO_EXIT=1 (or no terminal) it stops after the demo.
set -euo pipefail
BIN=${BIN:-bin/herald}
DATA=${HERALD_DATA:-./data}
ADDR=${HERALD_ADDR:-127.0.0.1:8080}
URL="http://$ADDR"

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

say "Creating an admin API key in $DATA"
KEY=$("$BIN" keys create --role admin --name demo --data "$DATA")
echo "key: ${KEY:0:16}… (printed once; keep it to call the API)"

say "Starting herald serve (embedded NATS JetStream + SQLite) on $URL"
"$BIN" serve --data "$DATA" --addr "$ADDR" &
PID=$!
cleanup() { kill "$PID" 2>/dev/null || true; wait "$PID" 2>/dev/null || true; }
trap cleanup EXIT
for _ in $(seq 1 100); do
  curl -fsS "$URL/readyz" >/dev/null 2>&1 && break
  sleep 0.1
done
curl -fsS "$URL/readyz" >/dev/null

say "Opening alice's live notification stream (Server-Sent Events)"
STREAM=$(mktemp)
curl -sN -H "Authorization: Bearer $KEY" "$URL/v1/users/alice/notifications/stream" >"$STREAM" &
CURL=$!
sleep 0.3

say "An HR system sends a CloudEvent: training is due"
curl -fsS -X POST "$URL/v1/events" \
  -H "Authorization: Bearer $KEY" -H "Content-Type: application/cloudevents+json" \
  -d '{"specversion":"1.0","id":"training-42","source":"urn:example:hr","type":"com.example.training.due",
       "data":{"audience":{"users":["alice"]},
               "notification":{"title":"Training due","message":"Finish security training by Friday",
                               "category":"training","actions":[{"id":"start","title":"Start conversation"}]}}}'
echo

for _ in $(seq 1 50); do grep -q '^data:' "$STREAM" && break; sleep 0.1; done
say "Arrived on alice's stream"
grep -E '^(id|event|data):' "$STREAM" || echo "(nothing arrived)"
kill "$CURL" 2>/dev/null || true

say "alice's inbox"
curl -fsS -H "Authorization: Bearer $KEY" "$URL/v1/users/alice/notifications"
echo
say "The event's delivery status"
"$BIN" send --server "$URL" --key "$KEY" --user alice --message "A second one, sent with 'herald send'" --wait 5s

say "The web app"
echo "  console:               $URL/  (sign in with an admin key)"
SESSION=$(curl -fsS -X POST -H "Authorization: Bearer $KEY" "$URL/v1/users/alice/session" | sed -n 's/.*"token":"\([^"]*\)".*/\1/p')
echo "  alice's notifications: $URL/#/me?session=$SESSION  (a one-hour session for alice)"

if [[ "${DEMO_EXIT:-}" == "1" || ! -t 0 ]]; then
  say "Demo done; stopping herald"
  exit 0
fi
say "herald keeps serving on $URL. Try:"
echo "  open $URL/ and sign in with the admin key $KEY"
echo "  export HERALD_KEY=$KEY"
echo "  $BIN send --user bob --message 'Laptop ready for pickup' --wait 5s"
echo "  $BIN prefs get bob"
echo "Press Ctrl-C to stop."
wait "$PID"
