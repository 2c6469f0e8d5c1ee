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

const files = [];
const rows = [];
for (const run of runs) {
    const file = { file: run.file, type: run.type, size_bytes: run.size_bytes, engines: {} };
    for (const eng of ["olmoe", "llama"]) {
        const e = run[eng];
        const recs = readJson(e.json);
        const ok = e.status === 0 && Array.isArray(recs) && recs.length > 0;
        file.engines[eng] = {
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
    }
    files.push(file);
    const tests = [];
    if (meta.n_prompt > 0) tests.push({ name: `pp${meta.n_prompt}`, p: meta.n_prompt, n: 0 });
    if (meta.n_gen > 0) tests.push({ name: `tg${meta.n_gen}`, p: 0, n: meta.n_gen });
    for (const t of tests) {
        const pick = (eng) => file.engines[eng].records.find((r) => r.n_prompt === t.p && r.n_gen === t.n) ?? null;
        const o = pick("olmoe"), l = pick("llama");
        rows.push({
            file: path.basename(run.file),
            type: run.type,
            test: t.name,
            threads: meta.threads,
            olmoe_ts: o?.avg_ts ?? null,
            olmoe_sd: o?.stddev_ts ?? null,
            llama_ts: l?.avg_ts ?? null,
            llama_sd: l?.stddev_ts ?? null,
            ratio: o && l ? o.avg_ts / l.avg_ts : null,
            olmoe_pct_of_bound: o?.pct_of_bound ?? null,
            llama_pct_of_bound: l && o?.bytes_per_token && o?.read_bandwidth
                ? 100 * l.avg_ts * o.bytes_per_token / o.read_bandwidth : null,
            olmoe_peak_rss_bytes: file.engines.olmoe.peak_rss_bytes,
            llama_peak_rss_bytes: file.engines.llama.peak_rss_bytes,
            llama_loaded: file.engines.llama.ok,
            olmoe_others_cpu_pct: file.engines.olmoe.others_cpu_pct_during,
            llama_others_cpu_pct: file.engines.llama.others_cpu_pct_during,
        });
    }
}

const f2 = (x) => (x == null ? "—" : x.toFixed(2));
const gib = (b) => (b == null ? "—" : `${(b / 2 ** 30).toFixed(2)} GiB`);
const ts = (a, sd) => (a == null ? "failed" : `${f2(a)} ± ${f2(sd)}`);
const la = (x) => (x ? x.join(" ") : "?");

let md = `# olmoe.c vs llama.cpp\n\n`;
md += `${meta.date} on ${meta.cpu} (${meta.nproc} cores, ${meta.mem}); ${meta.threads} threads for both engines, `;
md += `${meta.reps} repetitions (mean ± sample stddev of per-repetition tokens/s).\n\n`;
md += `- model: \`${meta.model_dir}\` (${meta.model_note}), converted by \`olmoe convert\`\n`;
md += `- olmoe.c: ${meta.olmoe_version}, \`olmoe bench -p ${meta.n_prompt} -n ${meta.n_gen} -t ${meta.threads} -r ${meta.reps}\`\n`;
md += `- llama.cpp: ${meta.llama_version}, \`node llama_bench.mjs\` (same tests, token ids, threads and warm-up; flash attention ${meta.flash_attn})\n`;
md += `- llama.cpp loaded our GGUF files: ${files.map((f) => `${path.basename(f.file)} ${f.engines.llama.ok ? "yes" : "**NO**"}`).join(", ")}\n`;
md += `- load average (1/5/15 min) before the first and after the last run: ${la(meta.loadavg_start)} → ${la(meta.loadavg_end)}\n\n`;
md += `| file | test | olmoe.c t/s | llama.cpp t/s | ratio (olmoe/llama) | olmoe % of bandwidth bound | llama.cpp % of bound | olmoe peak RSS | llama.cpp peak RSS | others' CPU during olmoe / llama run |\n`;
md += `| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n`;
const pct = (x) => (x == null ? "?" : `${x.toFixed(0)}%`);
for (const r of rows)
    md += `| ${r.file} | ${r.test} | ${ts(r.olmoe_ts, r.olmoe_sd)} | ${ts(r.llama_ts, r.llama_sd)} | ` +
          `${r.ratio == null ? "—" : r.ratio.toFixed(2)} | ${r.olmoe_pct_of_bound == null ? "" : r.olmoe_pct_of_bound.toFixed(0) + "%"} | ` +
          `${r.llama_pct_of_bound == null || r.test.startsWith("pp") ? "" : r.llama_pct_of_bound.toFixed(0) + "%"} | ` +
          `${gib(r.olmoe_peak_rss_bytes)} | ${gib(r.llama_peak_rss_bytes)} | ${pct(r.olmoe_others_cpu_pct)} / ${pct(r.llama_others_cpu_pct)} |\n`;
md += `\nratio > 1: olmoe.c is faster. % of bound (tg only): tokens/s × weight bytes read per token ÷ read bandwidth, `;
md += `both as \`olmoe bench\` measures them (the llama.cpp column applies olmoe's figures to llama.cpp's speed). `;
md += `Peak RSS is GNU time's maximum resident set size of the whole process (olmoe's includes the 256 MiB buffer of its bandwidth probe; llama.cpp's includes node). `;
md += `Others' CPU: the share of the machine's CPU time that other processes used while that engine's process ran `;
md += `(/proc/stat busy time minus the process's own user+system time); anything above a few % means the numbers are disturbed.\n`;
const tgBw = files.flatMap((f) => f.engines.olmoe.records).find((r) => r.read_bandwidth);
if (tgBw) md += `Measured read bandwidth (olmoe bench, ${meta.threads} threads): ${(tgBw.read_bandwidth / 1e9).toFixed(1)} GB/s.\n`;
const failures = [];
for (const f of files)
    for (const [eng, e] of Object.entries(f.engines))
        if (!e.ok) failures.push(`- ${eng === "olmoe" ? "olmoe.c" : "llama.cpp"} on \`${path.basename(f.file)}\` (exit ${e.exit_status}):\n\n` +
            "```\n" + (e.errors.length ? e.errors.join("\n") : "(no message)") + "\n```\n");
if (failures.length) md += `\n## Failures\n\n${failures.join("\n")}`;

fs.writeFileSync(mdPath, md);
fs.writeFileSync(jsonPath, JSON.stringify({ meta, rows, files }, null, 2) + "\n");
process.stdout.write(md);
