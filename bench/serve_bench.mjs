// Load test of an OpenAI-compatible server (olmoe serve): one streaming
// client alone, then N at once; tokens/s, time to first token, failures.
//
//   node serve_bench.mjs --url http://127.0.0.1:8080 [--clients 16] [--max-tokens 64]
//                        [--api chat|completions] [-o md|json]
//
// Every request streams /v1/chat/completions (or /v1/completions: a model
// without a chat template, such as olmoe random-init's, switches to it by
// itself) at temperature 0 with its own prompt (so the server cannot answer
// one from another's cache) and counts the completion tokens the server
// reports in its final usage chunk.
const args = Object.fromEntries(process.argv.slice(2).reduce((acc, a, i, all) =>
    a.startsWith('-') ? [...acc, [a.replace(/^-+/, ''), all[i + 1]]] : acc, []));
const url = args.url ?? 'http://127.0.0.1:8080';
const clients = Number(args.clients ?? 16);
const maxTokens = Number(args['max-tokens'] ?? 64);
const format = args.o ?? 'md';
let api = args.api ?? 'chat';

async function streamOne(i) {
    const t0 = performance.now();
    let ttft = null, tokens = 0, text = '';
    const ask = `Request ${i}: write about the history of open science.`;
    const res = await fetch(`${url}/v1/${api === 'chat' ? 'chat/completions' : 'completions'}`, {
        method: 'POST',
        headers: {'Content-Type': 'application/json'},
        body: JSON.stringify({
            ...(api === 'chat' ? {messages: [{role: 'user', content: ask}]} : {prompt: ask}),
            max_tokens: maxTokens, temperature: 0, stream: true,
            stream_options: {include_usage: true},
        }),
    });
    if (!res.ok) throw new Error(`HTTP ${res.status}: ${await res.text()}`);
    const reader = res.body.getReader();
    const decoder = new TextDecoder();
    let buf = '', done = false;
    while (!done) {
        const {value, done: end} = await reader.read();
        if (end) break;
        buf += decoder.decode(value, {stream: true});
        let k;
        while ((k = buf.indexOf('\n\n')) >= 0) {
            const event = buf.slice(0, k).trim();
            buf = buf.slice(k + 2);
            if (!event.startsWith('data:')) continue;
            const data = event.slice(5).trim();
            if (data === '[DONE]') { done = true; break; }
            const chunk = JSON.parse(data);
            const delta = chunk.choices?.[0]?.delta?.content ?? chunk.choices?.[0]?.text;
            if (delta) {
                if (ttft === null) ttft = performance.now() - t0;
                text += delta;
            }
            if (chunk.usage) tokens = chunk.usage.completion_tokens;
        }
    }
    if (!done) throw new Error('stream ended without [DONE]');
    return {ms: performance.now() - t0, ttft: ttft ?? performance.now() - t0, tokens};
}

function pct(xs, p) {
    const s = [...xs].sort((a, b) => a - b);
    return s[Math.min(s.length - 1, Math.floor(p * (s.length - 1)))];
}

async function run(n) {
    const t0 = performance.now();
    const results = await Promise.allSettled(Array.from({length: n}, (_, i) => streamOne(i)));
    const wall = (performance.now() - t0) / 1000;
    const ok = results.filter(r => r.status === 'fulfilled').map(r => r.value);
    const failed = results.filter(r => r.status === 'rejected').map(r => String(r.reason));
    const tokens = ok.reduce((s, r) => s + r.tokens, 0);
    return {
        clients: n, failed: failed.length, errors: failed.slice(0, 3), tokens,
        wall_s: wall, aggregate_tps: tokens / wall,
        ttft_ms_p50: ok.length ? pct(ok.map(r => r.ttft), 0.5) : null,
        ttft_ms_p95: ok.length ? pct(ok.map(r => r.ttft), 0.95) : null,
    };
}

const health = await fetch(`${url}/health`);
if (!health.ok) { console.error(`serve_bench: ${url}/health answered ${health.status}`); process.exit(1); }
const warm = await run(1);
if (warm.failed && api === 'chat' && /chat template/.test(warm.errors[0])) {
    api = 'completions'; // a base model: plain prompts
    console.error('serve_bench: the model has no chat template; using /v1/completions');
    await run(1);
}
const single = await run(1);
const many = await run(clients);
const out = {url, api, max_tokens: maxTokens, single, concurrent: many,
             speedup: many.aggregate_tps / single.aggregate_tps};
if (format === 'json') {
    console.log(JSON.stringify(out, null, 2));
} else {
    const f = (x) => x === null ? '' : x.toFixed(1);
    console.log('| clients | failed | tokens | wall s | aggregate tok/s | TTFT p50 ms | TTFT p95 ms |');
    console.log('| ---: | ---: | ---: | ---: | ---: | ---: | ---: |');
    for (const r of [single, many])
        console.log(`| ${r.clients} | ${r.failed} | ${r.tokens} | ${f(r.wall_s)} | ${f(r.aggregate_tps)} | ${f(r.ttft_ms_p50)} | ${f(r.ttft_ms_p95)} |`);
    console.log(`\naggregate speed-up with ${clients} clients: ${out.speedup.toFixed(2)}x one stream`);
    if (many.errors.length) console.log('errors:', many.errors.join('; '));
}
process.exit(many.failed ? 1 : 0);
