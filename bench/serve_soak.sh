#!/usr/bin/env bash
# olmoe serve soak: starts the server (-np slots, -c 1024) on a free port with
# MODEL, runs bench/serve_soak.mjs (C clients sending good and malformed
# requests for M minutes while the server's RSS, fds and threads are sampled),
# then stops the server with SIGTERM, which must exit 0.
#
#   bench/serve_soak.sh [-m MODEL] [-np 4] [--minutes 30] [--clients 8] [-t THREADS]
#                       [--build-dir DIR] [-o md|json]
set -euo pipefail
bench="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$bench/.." && pwd)"
model="$root/models/olmoe-tiny"
slots=4 minutes=30 clients=8 threads="$(nproc)" format=md
build_dir="$root/build-bench"
while [ $# -gt 0 ]; do
    case "$1" in
        -m) model="$2"; shift 2 ;;
        -np) slots="$2"; shift 2 ;;
        --minutes) minutes="$2"; shift 2 ;;
        --clients) clients="$2"; shift 2 ;;
        -t) threads="$2"; shift 2 ;;
        --build-dir) build_dir="$2"; shift 2 ;;
        -o) format="$2"; shift 2 ;;
        -h|--help) sed -n '2,8p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "bench/serve_soak.sh: unknown option '$1'" >&2; exit 2 ;;
    esac
done
olmoe="$build_dir/olmoe"
[ -x "$olmoe" ] || { echo "bench/serve_soak.sh: build $olmoe first (cmake --build $build_dir --target olmoe_cli)" >&2; exit 1; }

pid="" err=""
trap '[ -n "$pid" ] && kill $pid 2>/dev/null; [ -n "$pid" ] && wait $pid 2>/dev/null; rm -f "$err"' EXIT
. "$bench/serve_start.sh"
serve_start "$olmoe" -m "$model" -np "$slots" -c 1024 -t "$threads" --queue 64
# The soak's report goes to stdout; with -o json it must stay pure JSON.
say() { if [ "$format" = json ]; then echo "$@" >&2; else echo "$@"; fi; }
say "model $model, $slots slots, $clients clients, $minutes min, $threads threads, server pid $pid"
say ""
soak=0
node "$bench/serve_soak.mjs" --url "http://127.0.0.1:$port" --pid "$pid" --minutes "$minutes" \
    --clients "$clients" -o "$format" || soak=$?

# SIGTERM must end the server cleanly (exit 0) after all that traffic. Once
# it exits, bash reaps it (keeping its status for wait) or it is a zombie.
exited() { [ ! -e "/proc/$pid" ] || grep -q '^State:[[:space:]]*Z' "/proc/$pid/status" 2>/dev/null; }
status=0
if exited; then
    say "the server was gone before SIGTERM"
    wait "$pid" || status=$?
    [ "$status" = 0 ] && status=gone
else
    kill -TERM "$pid"
    for _ in $(seq 300); do exited && break; sleep 0.1; done
    if ! exited; then
        say "the server did not exit 30 s after SIGTERM; killing it"
        kill -KILL "$pid"
    fi
    wait "$pid" || status=$?
fi
pid=""
say ""
say "server exit status after SIGTERM: $status"
if [ "$status" != 0 ]; then tail -20 "$err" >&2; fi
[ "$soak" = 0 ] && [ "$status" = 0 ]
