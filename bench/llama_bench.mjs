#!/usr/bin/env node
// llama.cpp's side of bench/: the same measurements as `olmoe bench`, through
// node-llama-cpp's prebuilt libllama (CPU only).
//
//   node llama_bench.mjs -m FILE.gguf [-p 512] [-n 128] [-t 2] [-r 3] [-o json|md]
//                        [--flash-attn off|on|auto] [--api addon|public]
//
// pp<p>: p tokens decoded as ONE batch from an empty KV cache (batch size and
// micro-batch size are both p, so llama.cpp sees a single 512-token ubatch).
// tg<n>: n tokens decoded one at a time from an empty KV cache.
// Both are llama-bench's definitions. As in llama-bench, logits are computed
// for the last token of every llama_decode call and nothing is sampled or
// tokenized inside the timed region. The token ids are the ones `olmoe bench`
// uses (the same xorshift64 stream modulo the vocabulary size), and the
// warm-up is the same as olmoe's (an 8-token batch, then 2 single tokens).
//
// --api addon (default) drives node-llama-cpp's native binding directly:
// llama_batch_init / common_batch_add / llama_decode + llama_synchronize, one
// call per batch, which is exactly what llama-bench does. It relies on the
// binding object behind LlamaContext (`context._ctx`) of the pinned 3.22.1.
// --api public uses only the documented API
// (LlamaContextSequence.evaluateWithoutGeneratingNewTokens); that path asks
// for no logits at all, so llama.cpp skips the output matrix, and it adds
// node-llama-cpp's batch scheduling per call: a cross-check, not the default.
//
// Output: a JSON array shaped like `olmoe bench -o json` (one record per test),
// or a markdown table. Exit status 1 (with llama.cpp's own error on stderr)
// when the model does not load.
import process from "node:process";
import path from "node:path";
import { getLlama, LlamaLogLevel } from "node-llama-cpp";

function usage(code) {
    (code ? process.stderr : process.stdout).write(
        "usage: node llama_bench.mjs -m FILE.gguf [-p 512] [-n 128] [-t THREADS] [-r REPS] [-o json|md]\n" +
        "                            [--flash-attn off|on|auto] [--api addon|public]\n");
    process.exit(code);
}

function parseArgs(argv) {
    const o = { model: null, nPrompt: 512, nGen: 128, threads: 2, reps: 5, json: false,
                flashAttn: "off", api: "addon" };
    for (let i = 0; i < argv.length; i++) {
        const a = argv[i];
        if (a === "-h" || a === "--help") usage(0);
        const v = argv[i + 1];
        if (v === undefined) { process.stderr.write(`llama_bench: ${a} needs a value\n`); usage(2); }
        i++;
        const int = (lo) => {
            const n = Number(v);
            if (!Number.isInteger(n) || n < lo) { process.stderr.write(`llama_bench: bad value for ${a}: '${v}'\n`); process.exit(2); }
            return n;
        };
        switch (a) {
            case "-m": case "--model": o.model = v; break;
            case "-p": case "--n-prompt": o.nPrompt = int(0); break;
            case "-n": case "--n-gen": o.nGen = int(0); break;
            case "-t": case "--threads": o.threads = int(1); break;
            case "-r": case "--repetitions": o.reps = int(1); break;
            case "-o": case "--output":
                if (v !== "json" && v !== "md") { process.stderr.write(`llama_bench: -o takes json or md, not '${v}'\n`); process.exit(2); }
                o.json = v === "json"; break;
            case "--flash-attn":
                if (!["off", "on", "auto"].includes(v)) { process.stderr.write(`llama_bench: --flash-attn takes off, on or auto\n`); process.exit(2); }
                o.flashAttn = v; break;
            case "--api":
                if (v !== "addon" && v !== "public") { process.stderr.write(`llama_bench: --api takes addon or public\n`); process.exit(2); }
                o.api = v; break;
            default: process.stderr.write(`llama_bench: unknown option '${a}'\n`); usage(2);
        }
    }
    if (!o.model) { process.stderr.write("llama_bench: -m FILE.gguf is required\n"); usage(2); }
    return o;
}

// The token stream of olmoe bench (src/cli/cmd_bench.c: random_tokens).
function randomTokens(n, vocab) {
    const mask = (1n << 64n) - 1n;
    let s = 0x2545F4914F6CDD1Dn;
    const ids = new Array(n);
    for (let i = 0; i < n; i++) {
        s ^= (s << 13n) & mask;
        s ^= s >> 7n;
        s ^= (s << 17n) & mask;
        ids[i] = Number(s % BigInt(vocab));
    }
    return ids;
}

function stats(nsList, tokens) {
    const r = nsList.length;
    const ts = nsList.map((ns) => tokens * 1e9 / ns);
    const mean = (xs) => xs.reduce((a, b) => a + b, 0) / xs.length;
    const sd = (xs) => {
        if (xs.length < 2) return 0;
        const m = mean(xs);
        return Math.sqrt(xs.reduce((a, x) => a + (x - m) * (x - m), 0) / (xs.length - 1));
    };
    return { avg_ns: mean(nsList), stddev_ns: sd(nsList), avg_ts: mean(ts), stddev_ts: sd(ts),
             samples_ns: nsList, samples_ts: ts, reps: r };
}

const o = parseArgs(process.argv.slice(2));
const errors = [], backends = [];
const quiet = new Set([LlamaLogLevel.info, LlamaLogLevel.log, LlamaLogLevel.debug]);
const llama = await getLlama({
    gpu: false, build: "never", usePrebuiltBinaries: true, skipDownload: true, progressLogs: false,
    maxThreads: o.threads,
    logLevel: LlamaLogLevel.log,
    logger: (level, message) => {
        const line = String(message).replace(/\n$/, "");
        if (/load_backend/.test(line)) backends.push(line.replace(/^.*load_backend: */, ""));
        if (quiet.has(level)) return;
        if (level === LlamaLogLevel.error || level === LlamaLogLevel.fatal) errors.push(line);
        process.stderr.write(`[llama.cpp ${level}] ${line}\n`);
    },
});

let model;
try {
    model = await llama.loadModel({ modelPath: path.resolve(o.model), gpuLayers: 0 });
} catch (err) {
    process.stderr.write(`llama_bench: llama.cpp failed to load ${o.model}: ${err?.message ?? err}\n`);
    for (const e of errors) process.stderr.write(`llama_bench: llama.cpp said: ${e}\n`);
    process.exit(1);
}

const embd = (model.fileInfo.fullTensorInfo ?? model.fileInfo.tensorInfo ?? []).find((t) => t.name === "token_embd.weight");
const vocab = embd ? Number(embd.dimensions[1]) : model.fileInfo.metadata?.tokenizer?.ggml?.tokens?.length;
if (!vocab) { process.stderr.write("llama_bench: cannot tell the vocabulary size\n"); process.exit(1); }

const nCtx = Math.max(o.nPrompt + o.nGen, 640);
let context;
try {
    context = await model.createContext({
        contextSize: nCtx,
        batchSize: Math.max(o.nPrompt, 8),
        threads: o.threads,
        flashAttention: o.flashAttn === "auto" ? "auto" : o.flashAttn === "on",
        sequences: 1,
    });
} catch (err) {
    process.stderr.write(`llama_bench: llama.cpp failed to create a context for ${o.model}: ${err?.message ?? err}\n`);
    for (const e of errors) process.stderr.write(`llama_bench: llama.cpp said: ${e}\n`);
    process.exit(1);
}
const sequence = context.getSequence();
const ids = randomTokens(Math.max(o.nPrompt, o.nGen, 16), vocab);

// One timed run: nPrompt tokens as one batch, or nGen tokens one at a time,
// from an empty KV cache; returns nanoseconds.
let runOnce;
if (o.api === "addon") {
    const addon = context._ctx;
    for (const f of ["initBatch", "addToBatch", "decodeBatch", "disposeSequence"])
        if (typeof addon?.[f] !== "function") {
            process.stderr.write(`llama_bench: node-llama-cpp's binding has no ${f}(); use --api public\n`);
            process.exit(1);
        }
    const seqId = sequence._sequenceId ?? 0;
    const decode = async (tokens, pos) => {
        addon.initBatch(tokens.length);
        addon.addToBatch(seqId, pos, Uint32Array.from(tokens), Uint32Array.of(tokens.length - 1));
        await addon.decodeBatch(); // llama_decode + llama_synchronize on a worker thread
    };
    runOnce = async (nPrompt, nGen) => {
        addon.disposeSequence(seqId); // llama_memory_seq_rm(seq, -1, -1): empty cache
        const t0 = process.hrtime.bigint();
        if (nPrompt) await decode(ids.slice(0, nPrompt), 0);
        for (let i = 0; i < nGen; i++) await decode([ids[i]], nPrompt + i);
        return Number(process.hrtime.bigint() - t0);
    };
} else {
    runOnce = async (nPrompt, nGen) => {
        await sequence.clearHistory();
        const t0 = process.hrtime.bigint();
        if (nPrompt) await sequence.evaluateWithoutGeneratingNewTokens(ids.slice(0, nPrompt));
        for (let i = 0; i < nGen; i++) await sequence.evaluateWithoutGeneratingNewTokens([ids[i]]);
        return Number(process.hrtime.bigint() - t0);
    };
}

await runOnce(8, 2); // warm-up, as olmoe bench
const tests = [];
if (o.nPrompt) tests.push([o.nPrompt, 0]);
if (o.nGen) tests.push([0, o.nGen]);
const when = new Date().toISOString().replace(/\.\d+Z$/, "Z");
const records = [];
for (const [p, n] of tests) {
    const ns = [];
    for (let r = 0; r < o.reps; r++) ns.push(await runOnce(p, n));
    const s = stats(ns, p + n);
    records.push({
        engine: "llama.cpp",
        backend: `node-llama-cpp 3.22.1 (${o.api} API), llama.cpp ${llama.llamaCppRelease?.release ?? "?"}, ${llama.buildType} binary, CPU`,
        model_filename: o.model,
        model_type: model.typeDescription,
        model_size: model.size,
        n_vocab: vocab,
        cpu_backend: backends.join("; "),
        system_info: String(llama.systemInfo ?? "").trim(),
        n_threads: context.currentThreads ?? o.threads,
        n_batch: context.batchSize,
        n_ctx: context.contextSize,
        flash_attn: context.flashAttention,
        n_prompt: p,
        n_gen: n,
        test_time: when,
        avg_ns: s.avg_ns, stddev_ns: s.stddev_ns, avg_ts: s.avg_ts, stddev_ts: s.stddev_ts,
        samples_ns: s.samples_ns, samples_ts: s.samples_ts,
        peak_rss_bytes: process.resourceUsage().maxRSS * 1024,
    });
}

if (o.json) {
    process.stdout.write(JSON.stringify(records, null, 2) + "\n");
} else {
    process.stdout.write("| model | size | threads | test | t/s |\n| --- | ---: | ---: | ---: | ---: |\n");
    for (const r of records) {
        const test = r.n_gen ? `tg${r.n_gen}` : `pp${r.n_prompt}`;
        process.stdout.write(`| ${r.model_type} | ${(r.model_size / 2 ** 30).toFixed(2)} GiB | ${r.n_threads} | ${test} | ` +
            `${r.avg_ts.toFixed(2)} ± ${r.stddev_ts.toFixed(2)} |\n`);
    }
}
await context.dispose();
await model.dispose();
await llama.dispose();
