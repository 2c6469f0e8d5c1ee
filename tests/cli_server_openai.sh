#!/usr/bin/env bash
# olmoe serve against the official OpenAI Node SDK (tests/server/openai.test.mjs):
# starts the server with the tiny model on a free port, runs the SDK's chat
# (plain and streamed), completions, models.list and an error case, then
# stops the server with SIGTERM (it must exit 0).
# Usage: cli_server_openai.sh SHARED_DIR OLMOE_BINARY (working directory: tests/)
set -uo pipefail
olmoe="$2"
here="$(cd "$(dirname "$0")" && pwd)"
model="$here/../models/olmoe-tiny"

command -v node >/dev/null && command -v npm >/dev/null ||
  { echo "FAIL: node and npm are needed for the OpenAI SDK test (apt-get install nodejs npm)"; exit 1; }
# Under a lock: ctest may run the browser test (same node_modules) at once.
(cd "$here/server" && flock package-lock.json sh -c \
   '[ -d node_modules/playwright-core ] && [ -d node_modules/openai ] || npm ci --no-audit --no-fund >/dev/null') ||
  { echo "FAIL: npm ci in tests/server"; exit 1; }

work="$(mktemp -d)"
server_pid=""
cleanup() {
  if [ -n "$server_pid" ]; then kill "$server_pid" 2>/dev/null; wait "$server_pid" 2>/dev/null; fi
  rm -rf "$work"
}
trap cleanup EXIT

# 0 when GET /health answers 200 (bash's /dev/tcp: no curl needed).
health() {
  exec 3<>"/dev/tcp/127.0.0.1/$1" 2>/dev/null || return 1
  printf 'GET /health HTTP/1.0\r\n\r\n' >&3
  local status
  status=$(head -n 1 <&3)
  exec 3<&-
  [[ "$status" == *" 200 "* ]]
}

"$olmoe" serve -m "$model" --port 0 -np 2 2>"$work/err" &
server_pid=$!
port=""
for _ in $(seq 600); do
  port=$(sed -n 's|.*listening on http://127.0.0.1:\([0-9]*\)$|\1|p' "$work/err")
  [ -n "$port" ] && health "$port" && break
  kill -0 "$server_pid" 2>/dev/null || { echo "FAIL: olmoe serve exited:"; cat "$work/err"; exit 1; }
  sleep 0.1
done
[ -n "$port" ] || { echo "FAIL: no listening line from olmoe serve"; cat "$work/err"; exit 1; }

OLMOE_BASE_URL="http://127.0.0.1:$port/v1" node "$here/server/openai.test.mjs"
rc=$?

kill -TERM "$server_pid"
wait "$server_pid"
serve_rc=$?
server_pid=""
if [ "$serve_rc" -ne 0 ]; then
  echo "FAIL: olmoe serve exited with $serve_rc after SIGTERM:"
  cat "$work/err"
  rc=1
fi
exit $rc
