# Sourced by bench/serve_bench.sh and bench/serve_soak.sh: starts
# `olmoe serve ... --port 0` in the background with its stderr in $err, and
# waits until /health answers 200. Sets pid and port; the caller's EXIT trap
# stops the server and removes $err.
#
#   serve_start OLMOE_BINARY SERVE_ARGS...
serve_start() {
    local olmoe="$1"; shift
    err="$(mktemp)"
    "$olmoe" serve "$@" --port 0 2>"$err" &
    pid=$!
    port=""
    for _ in $(seq 3000); do
        port="$(sed -n 's|.*listening on http://127.0.0.1:\([0-9]*\)$|\1|p' "$err")"
        if [ -n "$port" ] && curl -sf "http://127.0.0.1:$port/health" >/dev/null 2>&1; then return 0; fi
        kill -0 "$pid" 2>/dev/null || { cat "$err" >&2; return 1; }
        sleep 0.1
    done
    echo "olmoe serve never answered /health with 200:" >&2
    cat "$err" >&2
    return 1
}
