# Shared by the shell tests that drive a real `olmoe serve` (sourced, not run):
# the npm packages, starting the server on a free port, stopping it.
# Callers set `olmoe` (the CLI binary) and `work` (a temporary directory).

# The npm packages of tests/server, installed once; under a lock, as ctest may
# run several of these tests at the same time.
install_node_modules() {
  command -v node >/dev/null && command -v npm >/dev/null ||
    { echo "FAIL: node and npm are needed for this test (apt-get install nodejs npm)"; return 1; }
  (cd "$1" && flock package-lock.json sh -c \
     '[ -d node_modules/playwright-core ] && [ -d node_modules/openai ] || npm ci --no-audit --no-fund >/dev/null') ||
    { echo "FAIL: npm ci in $1"; return 1; }
}

# 0 when URL/health answers 200 (node's fetch: a fresh machine may lack curl).
healthy() {
  node -e 'fetch(process.argv[1] + "/health").then((r) => process.exit(r.status === 200 ? 0 : 1), () => process.exit(1))' "$1"
}

# Stops a server still running and removes $work (for `trap cleanup EXIT`).
cleanup() {
  if [ -n "$server_pid" ]; then kill "$server_pid" 2>/dev/null; wait "$server_pid" 2>/dev/null; fi
  rm -rf "$work"
}

# start_server ARGS...: `olmoe serve --port 0 ARGS...` in the background, its
# stderr in $work/serve.log; sets server_pid and url once /health answers 200.
server_pid=""
url=""
start_server() {
  "$olmoe" serve --port 0 "$@" 2>"$work/serve.log" &
  server_pid=$!
  for _ in $(seq 1 300); do   # up to about a minute for the address, then for /health
    [ -n "$url" ] || url=$(sed -n 's/.*olmoe serve: listening on \(http:\/\/[^ ]*\).*/\1/p' "$work/serve.log" | head -n 1)
    if [ -n "$url" ] && healthy "$url"; then return 0; fi
    kill -0 "$server_pid" 2>/dev/null || { echo "FAIL: the server exited:"; cat "$work/serve.log"; return 1; }
    sleep 0.2
  done
  echo "FAIL: olmoe serve never answered /health with 200:"; cat "$work/serve.log"; return 1
}

# Stops the server with SIGTERM; fails unless it exits 0 (a clean shutdown).
stop_server() {
  [ -n "$server_pid" ] || return 0
  kill -TERM "$server_pid" 2>/dev/null
  wait "$server_pid"
  local rc=$?
  server_pid=""
  [ "$rc" -eq 0 ] || { echo "FAIL: olmoe serve exited with $rc after SIGTERM:"; cat "$work/serve.log"; return 1; }
}
