#!/usr/bin/env bash
# olmoe serve under load: starts the server (-np slots) on a free port with
# MODEL, runs bench/serve_bench.mjs (one stream alone, then N concurrent
# streaming clients), stops the server.
#
#   bench/serve_bench.sh [-m MODEL] [-np 4] [--clients 16] [--max-tokens 64] [-t THREADS]
#                        [--api chat|completions] [--build-dir DIR]
set -euo pipefail
bench="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$bench/.." && pwd)"
model="$root/models/olmoe-tiny"
slots=4 clients=16 max_tokens=64 threads="$(nproc)" api=chat
build_dir="$root/build-bench"
while [ $# -gt 0 ]; do
    case "$1" in
        -m) model="$2"; shift 2 ;;
        -np) slots="$2"; shift 2 ;;
        --clients) clients="$2"; shift 2 ;;
        --max-tokens) max_tokens="$2"; shift 2 ;;
        -t) threads="$2"; shift 2 ;;
        --api) api="$2"; shift 2 ;;
        --build-dir) build_dir="$2"; shift 2 ;;
        -h|--help) sed -n '2,7p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "bench/serve_bench.sh: unknown option '$1'" >&2; exit 2 ;;
    esac
done
olmoe="$build_dir/olmoe"
[ -x "$olmoe" ] || { echo "bench/serve_bench.sh: build $olmoe first (cmake --build $build_dir --target olmoe_cli)" >&2; exit 1; }

pid="" err=""
trap '[ -n "$pid" ] && kill $pid 2>/dev/null; [ -n "$pid" ] && wait $pid 2>/dev/null; rm -f "$err"' EXIT
. "$bench/serve_start.sh"
serve_start "$olmoe" -m "$model" -np "$slots" -c 1024 -t "$threads"
echo "model $model, $slots slots, $clients clients, $max_tokens tokens each, $threads threads"
node "$bench/serve_bench.mjs" --url "http://127.0.0.1:$port" --clients "$clients" --max-tokens "$max_tokens" --api "$api"
