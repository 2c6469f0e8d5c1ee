#!/usr/bin/env bash
# olmoe.c against llama.cpp on one machine, in one run, on the same GGUF files
# and thread counts. See bench/README.md.
#
#   bench/run.sh [-m MODEL_DIR] [-t THREADS] [-r REPS] [-p 512] [-n 128]
#                [--types "q4_0 q8_0 q4_k_m"] [--gguf-dir DIR] [--build-dir DIR]
#                [--flash-attn off|on|auto] [--quiet-wait SECONDS]
#                [--max-others PCT] [--retries N] [--rounds K] [--no-build]
#                [--random-init]
#
# Without model weights in MODEL_DIR, the script writes a random-weight
# olmoe-1b-7b there (olmoe random-init), but unasked only into the default
# folder (../bench-models/olmoe-1b-7b); anywhere else it needs --random-init.
# Every option also has an environment variable (OLMOE_BENCH_MODEL,
# OLMOE_BENCH_THREADS, OLMOE_BENCH_REPS, OLMOE_BENCH_TYPES, OLMOE_BENCH_GGUF_DIR,
# OLMOE_BENCH_BUILD, OLMOE_BENCH_FLASH_ATTN, OLMOE_BENCH_QUIET_WAIT,
# OLMOE_BENCH_MAX_OTHERS, OLMOE_BENCH_RETRIES, OLMOE_BENCH_ROUNDS); flags win.
# --rounds K (default 2): each file is measured K times, the two engines
# alternating (olmoe, llama, then llama, olmoe, ...), and the ratio reported
# is the median of the K paired ratios: this machine's speed drifts by
# ±20% over minutes, which one olmoe-then-llama pair takes for a ratio.
# --quiet-wait S (default 900): before each measured process, wait up to S
# seconds for the CPUs to be idle (< 10% busy over 3 s); 0 disables.
# --max-others P, --retries N (defaults 5, 2): a measurement during which
# other processes used more than P% of the machine's CPU is run again, up to
# N more times.
set -euo pipefail

bench="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$bench/.." && pwd)"
shared="${OLMOE_SHARED_DIR:-$(cd "$root/.." && pwd)/shared}"

default_model_dir="$(cd "$(dirname "$0")/../.." && pwd)/bench-models/olmoe-1b-7b"
model_dir="${OLMOE_BENCH_MODEL:-$default_model_dir}"
random_init=0
threads="${OLMOE_BENCH_THREADS:-2}"
reps="${OLMOE_BENCH_REPS:-3}"
n_prompt=512
n_gen=128
types="${OLMOE_BENCH_TYPES:-q4_0 q8_0 q4_k_m}"
gguf_dir="${OLMOE_BENCH_GGUF_DIR:-}"
build_dir="${OLMOE_BENCH_BUILD:-$root/build-bench}"
flash_attn="${OLMOE_BENCH_FLASH_ATTN:-off}"
quiet_wait="${OLMOE_BENCH_QUIET_WAIT:-900}"
max_others="${OLMOE_BENCH_MAX_OTHERS:-5}"
retries="${OLMOE_BENCH_RETRIES:-2}"
rounds="${OLMOE_BENCH_ROUNDS:-2}"
do_build=1
node_llama_cpp_version=3.22.1

usage() { sed -n '2,/^set -euo/p' "$0" | grep '^#' | sed 's/^# \{0,1\}//'; exit "${1:-0}"; }
while [ $# -gt 0 ]; do
    case "$1" in
        -m|--model) model_dir="$2"; shift 2 ;;
        -t|--threads) threads="$2"; shift 2 ;;
        -r|--repetitions) reps="$2"; shift 2 ;;
        -p|--n-prompt) n_prompt="$2"; shift 2 ;;
        -n|--n-gen) n_gen="$2"; shift 2 ;;
        --types) types="$2"; shift 2 ;;
        --gguf-dir) gguf_dir="$2"; shift 2 ;;
        --build-dir) build_dir="$2"; shift 2 ;;
        --flash-attn) flash_attn="$2"; shift 2 ;;
        --quiet-wait) quiet_wait="$2"; shift 2 ;;
        --max-others) max_others="$2"; shift 2 ;;
        --retries) retries="$2"; shift 2 ;;
        --rounds) rounds="$2"; shift 2 ;;
        --no-build) do_build=0; shift ;;
        --random-init) random_init=1; shift ;;
        -h|--help) usage 0 ;;
        *) echo "bench/run.sh: unknown option '$1'" >&2; usage 2 ;;
    esac
done
case "$rounds" in ''|*[!0-9]*|0) echo "bench/run.sh: --rounds must be a positive integer, got '$rounds'" >&2; exit 2 ;; esac
model_dir="${model_dir%/}"
[ -n "$gguf_dir" ] || gguf_dir="$(dirname "$model_dir")"
name="$(basename "$model_dir")"
# Only the default folder is filled with random weights unasked: a mistyped
# -m must not get 13.5 GB of them (and then GGUF files beside it) wherever it
# points.
if [ ! -f "$model_dir/model.safetensors" ] && [ ! -f "$model_dir/model.safetensors.index.json" ] &&
   [ ! -f "$model_dir/model.safetensors.tmp" ] && [ "$model_dir" != "$default_model_dir" ] && [ "$random_init" != 1 ]; then
    echo "bench/run.sh: $model_dir holds no model.safetensors; pass --random-init to write a random-weight olmoe-1b-7b there" >&2
    exit 2
fi
out="$bench/out"
mkdir -p "$out" "$gguf_dir"
log() { printf '[bench %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
loadavg() { cut -d' ' -f1-3 /proc/loadavg; }
# Percent of CPU time spent busy, machine-wide, over the next 3 seconds.
cpu_busy() {
    local a b
    a=($(head -1 /proc/stat)); sleep 3; b=($(head -1 /proc/stat))
    local tot=0 i
    for i in 1 2 3 4 5 6 7 8; do tot=$((tot + b[i] - a[i])); done
    local idle=$((b[4] - a[4] + b[5] - a[5]))
    echo $(( tot > 0 ? 100 * (tot - idle) / tot : 0 ))
}
# Waits (up to quiet_wait seconds) until other jobs leave the CPUs idle.
wait_quiet() {
    [ "$quiet_wait" -gt 0 ] || return 0
    local start busy
    start="$(date +%s)"
    while :; do
        busy="$(cpu_busy)"
        [ "$busy" -ge 10 ] || return 0
        if [ $(( $(date +%s) - start )) -ge "$quiet_wait" ]; then
            log "  CPUs still ${busy}% busy after ${quiet_wait} s: measuring anyway"
            return 0
        fi
        log "  CPUs ${busy}% busy (load $(loadavg)): waiting for quiet"
        sleep 20
    done
}

# --- 1. olmoe (Release build) ---------------------------------------------
olmoe="$build_dir/olmoe"
if [ "$do_build" = 1 ]; then
    if [ ! -f "$build_dir/CMakeCache.txt" ] || ! grep -q '^CMAKE_BUILD_TYPE:STRING=Release$' "$build_dir/CMakeCache.txt"; then
        log "configuring a Release build in $build_dir"
        cmake -S "$root" -B "$build_dir" -DCMAKE_BUILD_TYPE=Release >/dev/null
    fi
    log "building olmoe ($build_dir)"
    cmake --build "$build_dir" -j"$(nproc)" --target olmoe_cli >"$out/build.log" 2>&1 \
        || { tail -30 "$out/build.log" >&2; echo "bench/run.sh: build failed" >&2; exit 1; }
fi
[ -x "$olmoe" ] || { echo "bench/run.sh: no olmoe binary at $olmoe" >&2; exit 1; }

# --- 2. tools: GNU time, node-llama-cpp -------------------------------------
if [ ! -x /usr/bin/time ]; then
    log "installing GNU time"
    apt-get update -qq && apt-get install -y -qq time >/dev/null
fi
command -v node >/dev/null || { echo "bench/run.sh: node (and npm) are needed for the llama.cpp side" >&2; exit 1; }
installed="$(node -p "require('$bench/node_modules/node-llama-cpp/package.json').version" 2>/dev/null || true)"
if [ "$installed" != "$node_llama_cpp_version" ]; then
    log "installing node-llama-cpp@$node_llama_cpp_version into bench/node_modules"
    (cd "$bench" && npm install --no-audit --no-fund >"$out/npm.log" 2>&1) \
        || { tail -30 "$out/npm.log" >&2; echo "bench/run.sh: npm install failed" >&2; exit 1; }
fi

# --- 3. the model folder (random weights, full size) -------------------------
if [ ! -f "$model_dir/model.safetensors" ] && [ ! -f "$model_dir/model.safetensors.index.json" ]; then
    tmp="$model_dir/model.safetensors.tmp"
    if [ -f "$tmp" ]; then
        # Someone else is writing it: wait while it grows.
        log "waiting for $model_dir/model.safetensors (being written)"
        last=-1; still=0
        while [ -f "$tmp" ] && [ ! -f "$model_dir/model.safetensors" ]; do
            size="$(stat -c %s "$tmp" 2>/dev/null || echo 0)"
            if [ "$size" = "$last" ]; then still=$((still + 1)); else still=0; last="$size"; fi
            [ "$still" -lt 20 ] || { echo "bench/run.sh: $tmp stopped growing; giving up" >&2; exit 1; }
            sleep 15
        done
        [ -f "$model_dir/model.safetensors" ] || { echo "bench/run.sh: $tmp vanished without a model.safetensors" >&2; exit 1; }
    else
        log "writing a random-weight olmoe-1b-7b (bf16) to $model_dir"
        "$olmoe" random-init --preset olmoe-1b-7b --dtype bf16 \
            --tokenizer "$shared/tokenizers/olmo-gpt-neox.json" -o "$model_dir"
    fi
fi

# --- 4. GGUF files ------------------------------------------------------------
files=()
for t in $types; do
    f="$gguf_dir/$name-$t.gguf"
    if [ ! -s "$f" ]; then
        log "converting to $t: $f"
        "$olmoe" convert -m "$model_dir" -o "$f.partial.gguf" --type "$t"
        mv "$f.partial.gguf" "$f"
    fi
    files+=("$t:$f")
done

# --- 5. measure: one process at a time, the same file and threads ------------
olmoe_version="olmoe.c $(git -C "$root" describe --always --dirty 2>/dev/null || echo '?')"
llama_version="$(cd "$bench" && node -e "
  const p = require('./node_modules/node-llama-cpp/package.json').version;
  const r = require('./node_modules/node-llama-cpp/llama/binariesGithubRelease.json').release;
  console.log('node-llama-cpp ' + p + ' (llama.cpp release ' + r + ', prebuilt CPU binaries)')")"
log "load average now: $(loadavg) (teammates' jobs skew the numbers; see README)"
export BENCH_LOADAVG_START="$(loadavg)"
rm -f "$out"/olmoe-*.json "$out"/olmoe-*.err "$out"/olmoe-*.time "$out"/llama-*.json "$out"/llama-*.err "$out"/llama-*.time
: >"$out/runs.jsonl"

# Runs one engine's measurement under GNU time; if other processes took more
# than max_others % of the machine's CPU meanwhile, waits for quiet and runs it
# again (at most `retries` more times). Prints one tab-separated line:
# status, seconds, loadavg before, after, % busy before, machine busy and
# total clock ticks during the run, attempts.
run_engine() { # NAME JSON_OUT STDERR_OUT TIME_OUT CMD...
    local eng="$1" json="$2" err="$3" tim="$4"; shift 4
    local before after t0 t1 status busy attempt=0 others tot busy_ticks i clk
    clk="$(getconf CLK_TCK)"
    while :; do
        attempt=$((attempt + 1)); status=0
        wait_quiet
        busy="$(cpu_busy)"
        before="$(loadavg)"; t0="$(date +%s)"
        local s0=($(head -1 /proc/stat))
        /usr/bin/time -v -o "$tim" "$@" >"$json" 2>"$err" || status=$?
        local s1=($(head -1 /proc/stat))
        t1="$(date +%s)"; after="$(loadavg)"
        # CPU time (clock ticks) the whole machine spent busy, and in total, during the run.
        tot=0
        for i in 1 2 3 4 5 6 7 8; do tot=$((tot + s1[i] - s0[i])); done
        busy_ticks=$((tot - (s1[4] - s0[4]) - (s1[5] - s0[5])))
        # ... of which other processes: minus this process's own user + system time.
        others="$(awk -v b="$busy_ticks" -v t="$tot" -v c="$clk" '
            /User time \(seconds\)/ { own += $NF } /System time \(seconds\)/ { own += $NF }
            END { x = t > 0 ? 100 * (b / c - own) / (t / c) : 0; printf "%d", x < 0 ? 0 : x }' "$tim")"
        log "  $eng: exit $status, $((t1 - t0)) s, CPUs ${busy}% busy before, others ${others}% during, load $before -> $after"
        [ "$status" = 0 ] && [ "$others" -gt "$max_others" ] && [ "$attempt" -le "$retries" ] || break
        log "  $eng: disturbed by other processes; measuring again"
    done
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$status" "$((t1 - t0))" "$before" "$after" "$busy" "$busy_ticks" "$tot" "$attempt"
}

measure_olmoe() { # TYPE FILE ROUND -> result line
    run_engine olmoe "$out/olmoe-$1-r$3.json" "$out/olmoe-$1-r$3.err" "$out/olmoe-$1-r$3.time" \
        "$olmoe" bench -m "$2" -p "$n_prompt" -n "$n_gen" -t "$threads" -r "$reps" -o json
}
measure_llama() {
    run_engine llama.cpp "$out/llama-$1-r$3.json" "$out/llama-$1-r$3.err" "$out/llama-$1-r$3.time" \
        node "$bench/llama_bench.mjs" -m "$2" -p "$n_prompt" -n "$n_gen" -t "$threads" -r "$reps" \
        --flash-attn "$flash_attn" -o json
}

for entry in "${files[@]}"; do
    t="${entry%%:*}"; f="${entry#*:}"
    log "$f"
    cat "$f" >/dev/null # into the page cache, so neither engine's timing includes disk reads
    for ((k = 1; k <= rounds; k++)); do
        log " round $k of $rounds"
        # Odd rounds start with olmoe, even ones with llama.cpp, so a drift
        # in the machine's speed favours neither engine.
        if [ $((k % 2)) = 1 ]; then
            o_res="$(measure_olmoe "$t" "$f" "$k")"; l_res="$(measure_llama "$t" "$f" "$k")"
        else
            l_res="$(measure_llama "$t" "$f" "$k")"; o_res="$(measure_olmoe "$t" "$f" "$k")"
        fi
        if grep -q '^llama_bench: llama.cpp failed' "$out/llama-$t-r$k.err"; then
            log "  llama.cpp did not load $f:"
            grep -E '^llama_bench:|\[llama\.cpp (error|fatal)\]' "$out/llama-$t-r$k.err" | sed 's/^/    /' >&2
        fi
        BENCH_T="$t" BENCH_K="$k" BENCH_F="$f" BENCH_O="$o_res" BENCH_L="$l_res" BENCH_OUT="$out" BENCH_CLK_TCK="$(getconf CLK_TCK)" node -e '
          const e = process.env, split = (s) => s.split("\t");
          const eng = (res, tag) => { const [st, sec, b, a, busy, bt, tt, att] = split(res);
            const base = `${e.BENCH_OUT}/${tag}-${e.BENCH_T}-r${e.BENCH_K}`;
            return { status: Number(st), seconds: Number(sec), loadavg_before: b.split(" ").map(Number),
                     loadavg_after: a.split(" ").map(Number), cpu_busy_pct_before: Number(busy), attempts: Number(att),
                     machine_busy_ticks: Number(bt), machine_total_ticks: Number(tt), clk_tck: Number(e.BENCH_CLK_TCK),
                     json: `${base}.json`, stderr: `${base}.err`, time: `${base}.time` }; };
          console.log(JSON.stringify({ type: e.BENCH_T, round: Number(e.BENCH_K), file: e.BENCH_F,
            size_bytes: require("fs").statSync(e.BENCH_F).size,
            olmoe: eng(e.BENCH_O, "olmoe"), llama: eng(e.BENCH_L, "llama") }));' >>"$out/runs.jsonl"
    done
done

# --- 6. report -----------------------------------------------------------------
model_note="random weights"
[ -f "$model_dir/config.json" ] && model_note="$(node -e '
  const c = require(process.argv[1]);
  console.log(`${c.architectures?.[0] ?? "?"}, ${c.num_hidden_layers} layers, d ${c.hidden_size}, ` +
    (c.num_experts ? `${c.num_experts} experts top-${c.num_experts_per_tok}, ` : "") + "random weights");' "$model_dir/config.json")"
BENCH_META_DATE="$(date -u +%Y-%m-%dT%H:%M:%SZ)" BENCH_META_CPU="$(lscpu | sed -n 's/^Model name: *//p' | head -1)" \
BENCH_META_MEM="$(free -g | awk '/^Mem:/{print $2 " GiB RAM"}')" BENCH_LOADAVG_END="$(loadavg)" \
BENCH_MODEL_DIR="$model_dir" BENCH_MODEL_NOTE="$model_note" BENCH_OLMOE_VERSION="$olmoe_version" \
BENCH_LLAMA_VERSION="$llama_version" BENCH_THREADS="$threads" BENCH_REPS="$reps" BENCH_ROUNDS="$rounds" BENCH_NP="$n_prompt" \
BENCH_NG="$n_gen" BENCH_FA="$flash_attn" BENCH_NPROC="$(nproc)" node -e '
  const e = process.env, la = (s) => s.split(" ").map(Number);
  require("fs").writeFileSync(process.argv[1], JSON.stringify({
    date: e.BENCH_META_DATE, cpu: e.BENCH_META_CPU || "?", nproc: Number(e.BENCH_NPROC), mem: e.BENCH_META_MEM,
    model_dir: e.BENCH_MODEL_DIR, model_note: e.BENCH_MODEL_NOTE, olmoe_version: e.BENCH_OLMOE_VERSION,
    llama_version: e.BENCH_LLAMA_VERSION, threads: Number(e.BENCH_THREADS), reps: Number(e.BENCH_REPS),
    rounds: Number(e.BENCH_ROUNDS),
    n_prompt: Number(e.BENCH_NP), n_gen: Number(e.BENCH_NG), flash_attn: e.BENCH_FA,
    loadavg_start: la(e.BENCH_LOADAVG_START), loadavg_end: la(e.BENCH_LOADAVG_END) }, null, 2));' "$out/meta.json"
echo
node "$bench/report.mjs" "$out" "$bench/results.md" "$bench/results.json"
