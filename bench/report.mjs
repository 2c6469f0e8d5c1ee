#!/usr/bin/env node
// Joins the raw outputs of bench/run.sh (OUT/runs.json, written by run.sh)
// into a markdown table (stdout and results.md) and results.json.
//   node report.mjs OUT_DIR RESULTS_MD RESULTS_JSON
import fs from "node:fs";
import path from "node:path";

const [outDir, mdPath, jsonPath] = process.argv.slice(2);
if (!outDir || !mdPath || !jsonPath) {
    process.stderr.write("usage: node report.mjs OUT_DIR RESULTS_MD RESULTS_JSON\n");
    process.exit(2);
}
const meta = JSON.parse(fs.readFileSync(path.join(outDir, "meta.json"), "utf8"));
const runs = fs.readFileSync(path.join(outDir, "runs.jsonl"), "utf8").split("\n").filter(Boolean).map((l) => JSON.parse(l));

const readJson = (f) => {
    try { return JSON.parse(fs.readFileSync(f, "utf8")); } catch { return null; }
};
const readText = (f) => {
    try { return fs.readFileSync(f, "utf8"); } catch { return ""; }
};
// GNU time -v: "Maximum resident set size (kbytes): N"
const timeRss = (f) => {
    const m = /Maximum resident set size \(kbytes\): (\d+)/.exec(readText(f));
    return m ? Number(m[1]) * 1024 : null;
};
// GNU time -v: the process's own CPU seconds (user + system).
const timeCpu = (f) => {
    const t = readText(f);
    const u = /User time \(seconds\): ([\d.]+)/.exec(t), k = /System time \(seconds\): ([\d.]+)/.exec(t);
    return u && k ? Number(u[1]) + Number(k[1]) : null;
};
// Share of the machine's CPU capacity that OTHER processes used while the
// engine ran: machine busy time (from /proc/stat) minus the engine's own.
const othersCpuPct = (e) => {
    const own = timeCpu(e.time);
    if (own == null || !e.machine_total_ticks || !e.clk_tck) return null;
    const busy = e.machine_busy_ticks / e.clk_tck, total = e.machine_total_ticks / e.clk_tck;
    return Math.max(0, 100 * (busy - own) / total);
};
// The lines that say why a run failed: the harness's and llama.cpp's own.
const errorLines = (f) => readText(f).split("\n")
    .filter((l) => /^(olmoe|llama_bench)[: ]|\[llama\.cpp (error|fatal)\]|error|failed/i.test(l))
    .filter((l) => !/^\s*(Command being timed|Exit status)/.test(l))
    .slice(0, 12);

// One engine's run of one round: its records and how it went.
const engineRun = (e) => {
    const recs = readJson(e.json);
    const ok = e.status === 0 && Array.isArray(recs) && recs.length > 0;
    return {
        ok,
        exit_status: e.status,
        seconds: e.seconds,
        loadavg_before: e.loadavg_before,
        loadavg_after: e.loadavg_after,
        cpu_busy_pct_before: e.cpu_busy_pct_before,
        attempts: e.attempts,
        process_cpu_seconds: timeCpu(e.time),
        others_cpu_pct_during: othersCpuPct(e),
        peak_rss_bytes: timeRss(e.time),
        errors: ok ? [] : errorLines(e.stderr).concat(errorLines(e.time)),
        records: ok ? recs : [],
    };
};
const mean = (xs) => xs.reduce((a, b) => a + b, 0) / xs.length;
const median = (xs) => {
    const s = [...xs].sort((a, b) => a - b), m = s.length >> 1;
    return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};
const maxOf = (xs) => (xs.some((x) => x != null) ? Math.max(...xs.filter((x) => x != null)) : null);

// Rounds of the same file, in the order run.sh measured them.
const byFile = new Map();
for (const run of runs) {
    if (!byFile.has(run.file)) byFile.set(run.file, []);
    byFile.get(run.file).push(run);
}
const files = [];
const rows = [];
// % of bound: olmoe bench probes the read bandwidth before and after each
// tg repetition and divides each repetition by the probes around it (this
// machine's bandwidth drifts by a third within minutes, so a probe from
// another moment says little). llama.cpp's tg is set against the probes of
// the same round's olmoe run, the nearest in time. The best single probe of
// the whole benchmark gives a second, deliberately pessimistic figure.
const probes = runs.flatMap((run) => engineRun(run.olmoe).records.flatMap((x) => x?.samples_read_bandwidth ?? []).filter((v) => v > 0));
const bestBw = probes.length ? Math.max(...probes) : null;
for (const [fileName, fileRuns] of byFile) {
    const rounds = fileRuns.map((run) => ({ round: run.round ?? 1, olmoe: engineRun(run.olmoe), llama: engineRun(run.llama) }));
    const file = { file: fileName, type: fileRuns[0].type, size_bytes: fileRuns[0].size_bytes, rounds };
    files.push(file);
    const tests = [];
    if (meta.n_prompt > 0) tests.push({ name: `pp${meta.n_prompt}`, p: meta.n_prompt, n: 0 });
    if (meta.n_gen > 0) tests.push({ name: `tg${meta.n_gen}`, p: 0, n: meta.n_gen });
    for (const t of tests) {
        const pick = (r) => r.records.find((x) => x.n_prompt === t.p && x.n_gen === t.n) ?? null;
        const o = rounds.map((r) => pick(r.olmoe)), l = rounds.map((r) => pick(r.llama));
        const oTs = o.filter(Boolean).map((x) => x.avg_ts), lTs = l.filter(Boolean).map((x) => x.avg_ts);
        // With one round: the repetitions' spread; with more: the rounds'.
        const spread = (recs, ts) => (ts.length > 1 ? Math.sqrt(ts.reduce((a, x) => a + (x - mean(ts)) ** 2, 0) / (ts.length - 1))
                                                    : recs.find(Boolean)?.stddev_ts ?? null);
        const paired = rounds.map((_, i) => (o[i] && l[i] ? o[i].avg_ts / l[i].avg_ts : null)).filter((x) => x != null);
        const bytes = o.find((x) => x?.bytes_per_token)?.bytes_per_token ?? null;
        const tgOf = (i) => (t.n && o[i]?.read_bandwidth > 0 ? o[i] : null);
        // Per round: olmoe bench's own paired figure; llama's tokens/s over
        // the mean bandwidth olmoe's run of that round read.
        const olmoePcts = (field) => o.map((x, i) => (tgOf(i) ? x[field] : null)).filter((v) => v != null);
        const llamaPcts = (bwField) => l.map((x, i) => (x && tgOf(i) && bytes ? 100 * x.avg_ts * bytes / tgOf(i)[bwField] : null))
            .filter((v) => v != null);
        const meanOrNull = (xs) => (xs.length ? mean(xs) : null);
        const weightsBws = rounds.map((_, i) => tgOf(i)?.weights_read_bandwidth ?? null).filter(Boolean);
        rows.push({
            file: path.basename(fileName),
            type: file.type,
            test: t.name,
            threads: meta.threads,
            rounds: rounds.length,
            olmoe_ts: oTs.length ? mean(oTs) : null,
            olmoe_sd: oTs.length ? spread(o, oTs) : null,
            llama_ts: lTs.length ? mean(lTs) : null,
            llama_sd: lTs.length ? spread(l, lTs) : null,
            ratio: paired.length ? median(paired) : null,
            round_ratios: paired,
            olmoe_pct_of_bound: meanOrNull(olmoePcts("pct_of_bound")),
            llama_pct_of_bound: meanOrNull(llamaPcts("read_bandwidth")),
            read_bandwidth: meanOrNull(rounds.map((_, i) => tgOf(i)?.read_bandwidth ?? null).filter(Boolean)),
            olmoe_pct_of_best_probe: t.n && oTs.length && bytes && bestBw ? 100 * mean(oTs) * bytes / bestBw : null,
            weights_read_bandwidth: meanOrNull(weightsBws),
            olmoe_pct_of_weights_bound: meanOrNull(olmoePcts("pct_of_weights_bound")),
            llama_pct_of_weights_bound: meanOrNull(llamaPcts("weights_read_bandwidth")),
            olmoe_peak_rss_bytes: maxOf(rounds.map((r) => r.olmoe.peak_rss_bytes)),
            llama_peak_rss_bytes: maxOf(rounds.map((r) => r.llama.peak_rss_bytes)),
            llama_loaded: rounds.every((r) => r.llama.ok),
            olmoe_others_cpu_pct: maxOf(rounds.map((r) => r.olmoe.others_cpu_pct_during)),
            llama_others_cpu_pct: maxOf(rounds.map((r) => r.llama.others_cpu_pct_during)),
        });
    }
}

const f2 = (x) => (x == null ? "—" : x.toFixed(2));
const gib = (b) => (b == null ? "—" : `${(b / 2 ** 30).toFixed(2)} GiB`);
const ts = (a, sd) => (a == null ? "failed" : `${f2(a)} ± ${f2(sd)}`);
const la = (x) => (x ? x.join(" ") : "?");

let md = `# olmoe.c vs llama.cpp\n\n`;
md += `${meta.date} on ${meta.cpu} (${meta.nproc} cores, ${meta.mem}); ${meta.threads} threads for both engines, `;
const nRounds = meta.rounds ?? 1;
md += nRounds > 1
    ? `${nRounds} rounds of ${meta.reps} repetitions, the engines alternating (tokens/s: mean ± sample stddev of the rounds' means; ratio: median of the rounds' paired ratios, each round's in brackets).\n\n`
    : `${meta.reps} repetitions (mean ± sample stddev of per-repetition tokens/s).\n\n`;
md += `- model: \`${meta.model_dir}\` (${meta.model_note}), converted by \`olmoe convert\`\n`;
md += `- olmoe.c: ${meta.olmoe_version}, \`olmoe bench -p ${meta.n_prompt} -n ${meta.n_gen} -t ${meta.threads} -r ${meta.reps}\`\n`;
md += `- llama.cpp: ${meta.llama_version}, \`node llama_bench.mjs\` (same tests, token ids, threads and warm-up; flash attention ${meta.flash_attn})\n`;
md += `- llama.cpp loaded our GGUF files: ${files.map((f) => `${path.basename(f.file)} ${f.rounds.every((r) => r.llama.ok) ? "yes" : "**NO**"}`).join(", ")}\n`;
md += `- load average (1/5/15 min) before the first and after the last run: ${la(meta.loadavg_start)} → ${la(meta.loadavg_end)}\n\n`;
md += `| file | test | olmoe.c t/s | llama.cpp t/s | ratio (olmoe/llama) | olmoe % of bandwidth bound | llama.cpp % of bound | % of the weights-read bound (olmoe / llama) | olmoe peak RSS | llama.cpp peak RSS | others' CPU during olmoe / llama run |\n`;
md += `| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n`;
const pct = (x) => (x == null ? "?" : `${x.toFixed(0)}%`);
for (const r of rows)
    md += `| ${r.file} | ${r.test} | ${ts(r.olmoe_ts, r.olmoe_sd)} | ${ts(r.llama_ts, r.llama_sd)} | ` +
          `${r.ratio == null ? "—" : r.ratio.toFixed(2)}${r.round_ratios.length > 1 ? ` (${r.round_ratios.map((x) => x.toFixed(2)).join(", ")})` : ""} | ${r.olmoe_pct_of_bound == null ? "" : r.olmoe_pct_of_bound.toFixed(0) + "%"} | ` +
          `${r.llama_pct_of_bound == null || r.test.startsWith("pp") ? "" : r.llama_pct_of_bound.toFixed(0) + "%"} | ` +
          `${r.olmoe_pct_of_weights_bound == null ? "" : `${pct(r.olmoe_pct_of_weights_bound)} / ${pct(r.llama_pct_of_weights_bound)}`} | ` +
          `${gib(r.olmoe_peak_rss_bytes)} | ${gib(r.llama_peak_rss_bytes)} | ${pct(r.olmoe_others_cpu_pct)} / ${pct(r.llama_others_cpu_pct)} |\n`;
md += `\nratio > 1: olmoe.c is faster. % of bound (tg only): tokens/s × weight bytes read per token ÷ read bandwidth, `;
md += `both as \`olmoe bench\` measures them, the bandwidth read just before and after each repetition (the llama.cpp column sets llama.cpp's speed against the probes of the same round's olmoe run). `;
md += `Peak RSS is GNU time's maximum resident set size of the whole process (llama.cpp's includes node; olmoe's includes the bandwidth probe's 128 MiB buffer, allocated beside the weights around each tg repetition). `;
md += `Others' CPU: the share of the machine's CPU time that other processes used while that engine's process ran `;
md += `(/proc/stat busy time minus the process's own user+system time); anything above a few % means the numbers are disturbed.\n`;
const tgRows = rows.filter((r) => r.read_bandwidth);
if (tgRows.length)
    md += `Read bandwidth (olmoe bench's probe, ${meta.threads} threads, 128 MiB buffer, read before and after each tg repetition), mean per file: ` +
          tgRows.map((r) => `${r.file} ${(r.read_bandwidth / 1e9).toFixed(1)} GB/s`).join(", ") +
          `; all ${probes.length} probes: ${(Math.min(...probes) / 1e9).toFixed(1)}–${(bestBw / 1e9).toFixed(1)} GB/s. ` +
          `Against the best single probe, olmoe.c's tg is at ` + tgRows.map((r) => `${pct(r.olmoe_pct_of_best_probe)} (${r.file})`).join(", ") + ".\n";
const wRows = rows.filter((r) => r.weights_read_bandwidth);
if (wRows.length)
    md += `Weights-read bound: the same read loop over each file's own weights in place (every matrix products read, after \`olmoe_model_prepare\`), read around each tg repetition as the probe is; mean per file: ` +
          wRows.map((r) => `${r.file} ${(r.weights_read_bandwidth / 1e9).toFixed(1)} GB/s`).join(", ") + ".\n";
const failures = [];
for (const f of files)
    for (const r of f.rounds)
    for (const [eng, e] of [["olmoe", r.olmoe], ["llama", r.llama]])
        if (!e.ok) failures.push(`- ${eng === "olmoe" ? "olmoe.c" : "llama.cpp"} on \`${path.basename(f.file)}\`, round ${r.round} (exit ${e.exit_status}):\n\n` +
            "```\n" + (e.errors.length ? e.errors.join("\n") : "(no message)") + "\n```\n");
if (failures.length) md += `\n## Failures\n\n${failures.join("\n")}`;

fs.writeFileSync(mdPath, md);
fs.writeFileSync(jsonPath, JSON.stringify({ meta, rows, files }, null, 2) + "\n");
process.stdout.write(md);
