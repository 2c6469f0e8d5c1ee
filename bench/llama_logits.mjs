#!/usr/bin/env node
// Does llama.cpp compute the same thing as olmoe.c from one of our GGUF files?
// Prints, per position, each engine's top-K next-token logits and whether the
// top-1 tokens agree; exit status 1 when a logit both list differs by more
// than --tol (a top-1 that differs between near-tied logits is not an error:
// random-weight models have flat logits).
//
//   node llama_logits.mjs -m FILE.gguf --olmoe build/olmoe [--ids 12871,9669,310,247] [--top 5] [-t 2] [--tol 0.1]
//
// llama.cpp's logits come from node-llama-cpp's public controlledEvaluate
// (raw logits of the top K tokens at every position); olmoe.c's from
// `olmoe logits --json`. Quantized activations differ between the engines, so
// expect agreement to ~1e-2, not bit-exactness.
import process from "node:process";
import path from "node:path";
import { execFileSync } from "node:child_process";
import { getLlama, LlamaLogLevel } from "node-llama-cpp";

const a = process.argv.slice(2);
const opt = (k, d) => (a.includes(k) ? a[a.indexOf(k) + 1] : d);
const file = opt("-m"), olmoe = opt("--olmoe");
const ids = opt("--ids", "12871,9669,310,247,50279,13,187").split(",").map(Number);
const top = Number(opt("--top", "5")), threads = Number(opt("-t", "2")), tol = Number(opt("--tol", "0.1"));
if (!file || !olmoe) {
    process.stderr.write("usage: node llama_logits.mjs -m FILE.gguf --olmoe OLMOE_BINARY [--ids 1,2,3] [--top 5] [-t 2] [--tol 0.1]\n");
    process.exit(2);
}

const llama = await getLlama({ gpu: false, build: "never", logLevel: LlamaLogLevel.error,
    logger: (l, m) => process.stderr.write(`[llama.cpp ${l}] ${m}`) });
let model;
try {
    model = await llama.loadModel({ modelPath: path.resolve(file), gpuLayers: 0 });
} catch (err) {
    process.stderr.write(`llama_logits: llama.cpp failed to load ${file}: ${err?.message ?? err}\n`);
    process.exit(1);
}
const ctx = await model.createContext({ contextSize: 256, batchSize: Math.max(ids.length, 8), threads, flashAttention: false });
const seq = ctx.getSequence();
const res = await seq.controlledEvaluate(ids.map((t) => [t, { generateNext: { logits: { filter: { includeTop: top } } } }]));
const lc = res.map((r) => [...(r?.next?.logits ?? new Map())].sort((x, y) => y[1] - x[1]).slice(0, top));

const oj = JSON.parse(execFileSync(olmoe, ["logits", "-m", file, "--ids", ids.join(","), "--top", String(top), "--json"],
    { encoding: "utf8", maxBuffer: 1 << 26 }));
const oc = oj.positions.map((p) => p.top);

let agree = 0, maxDiff = 0;
for (let i = 0; i < ids.length; i++) {
    const same = lc[i][0]?.[0] === oc[i][0]?.[0];
    agree += same;
    // Difference of the logits both engines list for the same token.
    const lm = new Map(lc[i]);
    for (const [t, v] of oc[i]) if (lm.has(t)) maxDiff = Math.max(maxDiff, Math.abs(lm.get(t) - v));
    const fmt = (xs) => xs.map(([t, v]) => `${t}:${v.toFixed(3)}`).join(" ");
    process.stdout.write(`pos ${i} ${same ? "same top-1" : "DIFFERENT top-1"}\n  llama.cpp ${fmt(lc[i])}\n  olmoe.c   ${fmt(oc[i])}\n`);
}
process.stdout.write(`${path.basename(file)}: top-1 agrees at ${agree}/${ids.length} positions; ` +
    `max |logit difference| over shared top-${top} tokens ${maxDiff.toFixed(4)}\n`);
await ctx.dispose();
await model.dispose();
process.exit(maxDiff <= tol ? 0 : 1);
