#!/usr/bin/env bash
# Corpus-index benchmark (issue 4): build an index of the Gutenberg corpus,
# then time count queries (warm and cold) and an OLMoTrace of a ~450-token
# answer, and optionally infini-gram's own C++ engine on the same index and
# the same queries. See bench/README.md.
#
#   bench/trace_bench.sh [--index-dir DIR] [--rebuild] [--queries N] [--cold N]
#                        [--infini-gram DRIVER] [--build-dir DIR] [--no-build]
#
# --infini-gram DRIVER: an executable you compiled yourself against
#   infini-gram's cpp_engine.h (it is not part of this repository), called as
#   `DRIVER INDEX_DIR QUERIES_FILE`; it must time engine.count() on every
#   line of QUERIES_FILE (space-separated token ids), warm, and print one JSON
#   object with "found" and "warm_count_us": {"p50", "p95", "mean"}.
set -euo pipefail

bench="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$bench/.." && pwd)"
shared="${OLMOE_SHARED_DIR:-$(cd "$root/.." && pwd)/shared}"
index_dir="$(cd "$root/.." && pwd)/bench-models/gutenberg-index"
build_dir="$root/build-bench"
queries=20000
cold=100
driver=""
rebuild=0
do_build=1
while [ $# -gt 0 ]; do
    case "$1" in
        --index-dir) index_dir="$2"; shift 2 ;;
        --rebuild) rebuild=1; shift ;;
        --queries) queries="$2"; shift 2 ;;
        --cold) cold="$2"; shift 2 ;;
        --infini-gram) driver="$2"; shift 2 ;;
        --build-dir) build_dir="$2"; shift 2 ;;
        --no-build) do_build=0; shift ;;
        -h|--help) sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "bench/trace_bench.sh: unknown option '$1'" >&2; exit 2 ;;
    esac
done
out="$bench/out"
mkdir -p "$out"
log() { printf '[trace-bench %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

olmoe="$build_dir/olmoe"
if [ "$do_build" = 1 ]; then
    log "building olmoe (Release, $build_dir)"
    cmake -S "$root" -B "$build_dir" -DCMAKE_BUILD_TYPE=Release >/dev/null
    cmake --build "$build_dir" -j"$(nproc)" --target olmoe_cli >"$out/build.log" 2>&1 \
        || { tail -30 "$out/build.log" >&2; exit 1; }
fi
[ -x /usr/bin/time ] || { apt-get update -qq && apt-get install -y -qq time >/dev/null; }

corpus="$shared/corpus/gutenberg/documents"
build_line="(index reused: --rebuild to measure the build)"
if [ "$rebuild" = 1 ] || [ ! -f "$index_dir/olmoe-index.json" ]; then
    log "indexing $corpus -> $index_dir"
    /usr/bin/time -v "$olmoe" index build -m "$shared/tokenizers/olmo-gpt-neox.json" -o "$index_dir" \
        --force "$corpus" 2>"$out/index-build.log"
    summary="$(grep '^olmoe index build:' "$out/index-build.log" || true)"
    rss_kb="$(awk -F': ' '/Maximum resident set size/ {print $2}' "$out/index-build.log")"
    build_line="$summary (GNU time peak RSS $((rss_kb / 1024)) MiB)"
fi
log "$build_line"

log "olmoe index bench: $queries queries, $cold cold, trace of bench/trace-answer.txt"
"$olmoe" index bench --index "$index_dir" --queries "$queries" --cold "$cold" \
    --trace-file "$bench/trace-answer.txt" --dump-queries "$out/queries.txt" --json >"$out/index-bench.json"
cat "$out/index-bench.json"

ig_json=""
if [ -n "$driver" ]; then
    log "infini-gram ($driver) on the same queries"
    ig_json="$("$driver" "$index_dir" "$out/queries.txt")"
    echo "$ig_json"
fi

node - "$out/index-bench.json" "$ig_json" "$build_line" "$(du -sb "$index_dir" | cut -f1)" >"$bench/trace_results.md" <<'EOF'
const fs = require('fs');
const [ours, igText, buildLine, indexBytes] = process.argv.slice(2);
const o = JSON.parse(fs.readFileSync(ours, 'utf8'));
const ig = igText ? JSON.parse(igText) : null;
const f = (x) => x.toFixed(1);
const lines = [];
lines.push('# Corpus index: olmoe.c' + (ig ? ' vs infini-gram' : ''), '');
lines.push(`${new Date().toISOString().slice(0, 19)}Z, ${require('os').cpus().length} cores; index of \`shared/corpus/gutenberg/documents\`, ${(indexBytes / 2 ** 20).toFixed(0)} MiB on disk.`, '');
lines.push(`- build: ${buildLine}`);
lines.push(`- ${o.queries} count queries (n-grams of 1..${o.max_n} tokens at random corpus positions, a quarter with one token replaced; ${o.found} found${ig ? `; infini-gram found ${ig.found}` : ''})`, '');
lines.push('| query | olmoe.c p50 | olmoe.c p95 | ' + (ig ? 'infini-gram p50 | infini-gram p95 | speed-up (p50) |' : ''));
lines.push('| --- | ---: | ---: | ' + (ig ? '---: | ---: | ---: |' : ''));
const w = o.warm_count_us;
lines.push(`| count, warm | ${f(w.p50)} µs | ${f(w.p95)} µs | ` +
           (ig ? `${f(ig.warm_count_us.p50)} µs | ${f(ig.warm_count_us.p95)} µs | ${(ig.warm_count_us.p50 / w.p50).toFixed(1)}× |` : ''));
if (o.cold_count_us)
    lines.push(`| count, cold (${o.cold_queries} queries, page cache emptied before each) | ${f(o.cold_count_us.p50)} µs | ${f(o.cold_count_us.p95)} µs | ` + (ig ? '| | |' : ''));
if (o.trace)
    lines.push('', `OLMoTrace of \`bench/trace-answer.txt\` (${o.trace.tokens} tokens; ${o.trace.spans} spans, ${o.trace.documents} documents): ` +
               `warm ${o.trace.warm_ms.toFixed(1)} ms (p50), cold ${o.trace.cold_ms.toFixed(1)} ms.`);
console.log(lines.join('\n'));
EOF
log "wrote bench/trace_results.md"
cat "$bench/trace_results.md"
