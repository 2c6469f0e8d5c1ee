// Soak test of olmoe serve: C clients send a fixed mix of good and malformed
// requests until the deadline, every answer is checked against what the
// server must reply, and the server's memory, descriptors and threads are
// sampled from /proc to show that nothing leaks.
//
//   node serve_soak.mjs --url http://127.0.0.1:8080 --pid PID [--minutes 30] [--clients 8]
//                       [-o md|json]
//
// The kinds follow a fixed weighted rotation driven by a request counter,
// and each request's random parameters come from a PRNG seeded with its
// number, so two runs send the same sequence of requests.
import {readFileSync, readdirSync} from 'node:fs';
import net from 'node:net';

const args = Object.fromEntries(process.argv.slice(2).reduce((acc, a, i, all) =>
    a.startsWith('-') ? [...acc, [a.replace(/^-+/, ''), all[i + 1]]] : acc, []));
const url = args.url ?? 'http://127.0.0.1:8080';
const pid = Number(args.pid);
const minutes = Number(args.minutes ?? 30);
const clients = Number(args.clients ?? 8);
const format = args.o ?? 'md';
if (!pid) { console.error('serve_soak: --pid PID (the server process) is required'); process.exit(2); }

const runMs = minutes * 60e3;
const warmupMs = Math.min(60e3, runMs / 10); // allocator pools and the page cache settle first
const SAMPLE_MS = 5e3;
const SETTLE_MS = 3e3;          // idle time before the final sample
const TIMEOUT_MS = 120e3;       // a request taking longer than this counts as a hang
const sleep = (ms) => new Promise(r => setTimeout(r, ms));
let api = 'chat';               // 'completions' when the model has no chat template

// ------------------------------------------------------------ randomness

// A small PRNG (xorshift32 over a mixed seed): reproducible per request.
function rng(seed) {
    let x = (Math.imul(seed + 1, 0x9e3779b1) ^ 0x5bd1e995) >>> 0 || 1;
    return () => {
        x ^= x << 13; x >>>= 0; x ^= x >>> 17; x ^= x << 5; x >>>= 0;
        return x / 0x100000000;
    };
}
const WORDS = ['the', 'river', 'mill', 'story', 'open', 'science', 'mixture', 'of', 'experts',
               'café', 'naïve', 'über', 'garden', 'light', 'house', 'keeper', '日本', 'ß', 'quiet',
               'seventeen', 'gulls', 'rain', 'fell', 'and', 'a', 'cat', 'sat'];
function sentence(r, n) {
    const w = Array.from({length: n}, () => WORDS[Math.floor(r() * WORDS.length)]);
    return w.join(' ');
}

// ------------------------------------------------------------ HTTP helpers

class Unexpected extends Error {}
function expect(cond, what) { if (!cond) throw new Unexpected(what); }

async function request(method, path, body, headers = {}) {
    const res = await fetch(`${url}${path}`, {
        method, headers: body === undefined ? headers : {'Content-Type': 'application/json', ...headers},
        body, signal: AbortSignal.timeout(TIMEOUT_MS),
    });
    return {status: res.status, type: res.headers.get('content-type') ?? '', text: await res.text()};
}

function parseJson(text, what) {
    try { return JSON.parse(text); } catch { throw new Unexpected(`${what}: not JSON: ${text.slice(0, 120)}`); }
}

async function postJson(path, obj) {
    const r = await request('POST', path, typeof obj === 'string' ? obj : JSON.stringify(obj));
    expect(r.status === 200, `${path}: HTTP ${r.status}: ${r.text.slice(0, 200)}`);
    return parseJson(r.text, path);
}

// The data lines of a server-sent event stream, [DONE] last.
function sseEvents(text) {
    return text.split('\n\n').map(e => e.trim()).filter(e => e.startsWith('data:'))
        .map(e => e.slice(5).trim());
}

// ------------------------------------------------------------ good requests

// A generation request body: random length, sampling, stop string and seed.
function generationBody(r, n, chat, stream) {
    const ask = `Request ${n}: ${sentence(r, 4 + Math.floor(r() * 12))}`;
    const body = {
        ...(chat ? {messages: [{role: 'user', content: ask}]} : {prompt: ask}),
        max_tokens: 1 + Math.floor(r() * 48),
        temperature: r() < 0.5 ? 0 : 0.8,
        seed: Math.floor(r() * 1e6),
    };
    if (r() < 0.3) body.stop = r() < 0.5 ? 'e' : ['the', '\n'];
    if (stream) { body.stream = true; body.stream_options = {include_usage: true}; }
    return body;
}
const genPath = (chat) => chat ? '/v1/chat/completions' : '/v1/completions';
const stops = (body) => body.stop === undefined ? [] : [body.stop].flat();

// Checks the usage block against the request; returns the completion tokens.
function checkUsage(usage, finish, body) {
    const ct = usage?.completion_tokens;
    expect(Number.isInteger(ct) && ct >= 0 && ct <= body.max_tokens,
           `completion_tokens ${ct} with max_tokens ${body.max_tokens}`);
    expect(usage.total_tokens === usage.prompt_tokens + ct, 'usage totals do not add up');
    expect(finish === 'stop' || finish === 'length', `finish_reason ${finish}`);
    if (finish === 'length') expect(ct === body.max_tokens, `length after ${ct} of ${body.max_tokens} tokens`);
    return ct;
}

function checkText(text, body) {
    expect(typeof text === 'string', 'no text in the answer');
    for (const s of stops(body)) expect(!text.includes(s), `text contains its stop string ${JSON.stringify(s)}`);
}

async function generate(r, n, chat) {
    const body = generationBody(r, n, chat, false);
    const j = await postJson(genPath(chat), body);
    const c = j.choices?.[0];
    checkText(chat ? c?.message?.content : c?.text, body);
    return checkUsage(j.usage, c?.finish_reason, body);
}

async function generateStream(r, n, chat) {
    const body = generationBody(r, n, chat, true);
    const res = await request('POST', genPath(chat), JSON.stringify(body));
    expect(res.status === 200, `HTTP ${res.status}: ${res.text.slice(0, 200)}`);
    expect(res.type.includes('text/event-stream'), `content-type ${res.type}`);
    const events = sseEvents(res.text);
    expect(events.at(-1) === '[DONE]', 'the stream does not end with data: [DONE]');
    let text = '', finish = null, usage = null;
    for (const e of events.slice(0, -1)) {
        const chunk = parseJson(e, 'SSE event');
        expect(!chunk.error, `error event: ${e.slice(0, 200)}`);
        const c = chunk.choices?.[0];
        text += (chat ? c?.delta?.content : c?.text) ?? '';
        finish = c?.finish_reason ?? finish;
        usage = chunk.usage ?? usage;
    }
    checkText(text, body);
    return checkUsage(usage, finish, body);
}

async function tokenizeRoundTrip(r) {
    const content = sentence(r, 1 + Math.floor(r() * 30));
    const t = await postJson('/tokenize', {content});
    expect(Array.isArray(t.tokens) && t.tokens.length > 0, 'no tokens');
    const d = await postJson('/detokenize', {tokens: t.tokens});
    expect(d.content === content, `round trip ${JSON.stringify(content)} -> ${JSON.stringify(d.content)}`);
}

async function getOk(path, check) {
    const r = await request('GET', path);
    expect(r.status === 200, `GET ${path}: HTTP ${r.status}`);
    check(r);
}

// ------------------------------------------------------------ malformed requests

// A malformed request must get exactly `status` and an OpenAI error object
// whose message mentions `needle`.
async function expectError(method, path, body, status, needle) {
    const r = await request(method, path, body);
    expect(r.status === status, `${method} ${path}: HTTP ${r.status}, want ${status}: ${r.text.slice(0, 200)}`);
    const e = parseJson(r.text, 'error body').error;
    expect(e && typeof e.message === 'string' && typeof e.type === 'string' && e.code === status,
           `no error object: ${r.text.slice(0, 200)}`);
    if (needle) expect(e.message.includes(needle), `error message '${e.message}' lacks '${needle}'`);
}

const hi = [{role: 'user', content: 'hi'}];
const chatError = (extra, needle) =>
    expectError('POST', '/v1/chat/completions', JSON.stringify({messages: hi, ...extra}), 400, needle);
const longPrompt = JSON.stringify({prompt: ' hello'.repeat(6000), max_tokens: 4}); // > -c 1024
const hugeBody = ' '.repeat((1 << 20) + 1000);

// Streams a long completion over a raw socket, reads the first piece of the
// answer and drops the connection: the server must cancel the job and go on.
function disconnectMidStream(n) {
    const body = JSON.stringify({prompt: `Request ${n}: a very long story:`, max_tokens: 200,
                                 temperature: 0.8, stream: true});
    const {hostname, port} = new URL(url);
    return new Promise((resolve, reject) => {
        const sock = net.connect(Number(port), hostname);
        const timer = setTimeout(() => { sock.destroy(); reject(new Unexpected('no answer in time')); }, TIMEOUT_MS);
        sock.on('connect', () => sock.write(
            `POST /v1/completions HTTP/1.1\r\nHost: ${hostname}\r\nContent-Type: application/json\r\n` +
            `Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`));
        sock.once('data', (d) => {
            clearTimeout(timer);
            sock.destroy();
            const head = d.toString('latin1');
            if (head.startsWith('HTTP/1.1 200')) resolve();
            else reject(new Unexpected(`first bytes: ${head.slice(0, 80)}`));
        });
        sock.on('error', (e) => { clearTimeout(timer); reject(e); });
    });
}

// ------------------------------------------------------------ the rotation

// kind -> [weight, fn(rng, request number) -> completion tokens or undefined]
const KINDS = {
    chat: [4, (r, n) => generate(r, n, api === 'chat')],
    chat_stream: [4, (r, n) => generateStream(r, n, api === 'chat')],
    completion: [3, (r, n) => generate(r, n, false)],
    completion_stream: [3, (r, n) => generateStream(r, n, false)],
    tokenize_roundtrip: [2, (r) => tokenizeRoundTrip(r)],
    models: [1, () => getOk('/v1/models', (x) => expect(typeof parseJson(x.text, 'models').data?.[0]?.id === 'string', 'no model id'))],
    health: [1, () => getOk('/health', (x) => expect(parseJson(x.text, 'health').status === 'ok', x.text))],
    metrics: [1, () => getOk('/metrics', (x) => expect(x.text.includes('olmoe_requests_total'), 'no counters'))],
    page: [1, () => getOk('/', (x) => expect(x.type.includes('text/html') && /<html/i.test(x.text), 'not the HTML page'))],
    bad_json: [1, () => expectError('POST', '/v1/chat/completions', '{"messages": [', 400, 'not a JSON object')],
    max_tokens_string: [1, () => chatError({max_tokens: 'ten'}, 'max_tokens')],
    messages_string: [1, () => expectError('POST', '/v1/chat/completions', '{"messages": "hi"}', 400, 'messages')],
    temperature_string: [1, () => chatError({temperature: 'hot'}, 'temperature')],
    empty_messages: [1, () => expectError('POST', '/v1/chat/completions', '{"messages": []}', 400, 'messages')],
    n_2: [1, () => chatError({n: 2}, 'not supported')],
    prompt_too_long: [1, () => expectError('POST', '/v1/completions', longPrompt, 400, 'tokens but the context holds')],
    body_over_1mib: [1, () => expectError('POST', '/v1/chat/completions', hugeBody, 413, '1 MiB')],
    unknown_route: [1, () => expectError('GET', '/v1/nothing', undefined, 404, 'unknown endpoint')],
    wrong_method: [1, () => expectError('GET', '/v1/chat/completions', undefined, 405, 'method not allowed')],
    disconnect_mid_stream: [1, (r, n) => disconnectMidStream(n)],
};
// The rotation interleaves the kinds (round-robin over remaining weight)
// rather than sending each kind's requests back to back.
const rotation = [];
for (let round = 0, left = true; left; round++) {
    left = false;
    for (const [kind, [w]] of Object.entries(KINDS)) if (round < w) { rotation.push(kind); left = true; }
}
const stats = Object.fromEntries(Object.keys(KINDS).map(k => [k, {count: 0, unexpected: 0, errors: []}]));
let next = 0, tokens = 0;

async function runOne(n) {
    const kind = rotation[n % rotation.length];
    const st = stats[kind];
    st.count++;
    try {
        const t = await KINDS[kind][1](rng(n), n);
        if (typeof t === 'number') tokens += t;
    } catch (e) {
        st.unexpected++;
        if (st.errors.length < 3) st.errors.push(`#${n}: ${e instanceof Unexpected ? e.message : String(e)}`);
    }
}

async function worker(deadline) {
    while (performance.now() < deadline) await runOne(next++);
}

// ------------------------------------------------------------ the server process

function sample() {
    let status;
    try { status = readFileSync(`/proc/${pid}/status`, 'utf8'); } catch { return null; }
    const field = (name) => Number((status.match(new RegExp(`^${name}:\\s*(\\d+)`, 'm')) ?? [])[1]);
    let fds = NaN;
    try { fds = readdirSync(`/proc/${pid}/fd`).length; } catch { /* gone or not ours */ }
    return {rss_mib: field('VmRSS') / 1024, fds, threads: field('Threads'),
            alive: !/^State:\s*[ZX]/m.test(status)};
}

function alive() { return sample()?.alive === true; }

// Slots busy and queued requests from /metrics: both must drop to 0 once
// the clients are idle, or a job (and its slot) leaked.
async function idleSlots() {
    for (let i = 0; i < 50; i++) {
        const r = await request('GET', '/metrics');
        const num = (name) => Number((r.text.match(new RegExp(`^${name} (\\S+)`, 'm')) ?? [])[1]);
        const busy = num('olmoe_slots_busy'), queued = num('olmoe_queue_depth');
        if ((busy === 0 && queued === 0) || i === 49) return {busy, queued};
        await sleep(100);
    }
}

// ------------------------------------------------------------ the run

// Chat needs a template: a base model answers 400 "chat template", and
// then chat kinds use /v1/completions instead (as serve_bench.mjs does).
async function pickApi() {
    const r = await request('POST', '/v1/chat/completions', JSON.stringify({messages: hi, max_tokens: 1}));
    if (r.status === 400 && /chat template/.test(r.text)) {
        api = 'completions';
        console.error('serve_soak: the model has no chat template; chat kinds use /v1/completions');
    }
}

function progress(t0, deadline) {
    if (!process.stderr.isTTY) return null;
    return setInterval(() => {
        const now = performance.now(), s = sample();
        const bad = Object.values(stats).reduce((a, x) => a + x.unexpected, 0);
        console.error(`serve_soak: ${((now - t0) / 60e3).toFixed(0)} min, ETA ${Math.max(0, (deadline - now) / 60e3).toFixed(0)} min: ` +
                      `${next} requests, ${bad} unexpected, RSS ${s ? s.rss_mib.toFixed(1) : '?'} MiB`);
    }, 60e3);
}

async function soak() {
    const health = await request('GET', '/health');
    if (health.status !== 200) { console.error(`serve_soak: ${url}/health answered ${health.status}`); process.exit(1); }
    await pickApi();
    const start = sample();
    const t0 = performance.now(), deadline = t0 + runMs;
    const samples = [];
    let baseline = null;
    const sampler = setInterval(() => { const s = sample(); if (s) samples.push(s); }, SAMPLE_MS);
    const warm = setTimeout(() => { baseline = sample(); }, warmupMs);
    const ticker = progress(t0, deadline);
    await Promise.all(Array.from({length: clients}, () => worker(deadline)));
    const wall = (performance.now() - t0) / 1000;
    clearInterval(ticker);
    clearTimeout(warm);
    const slots = alive() ? await idleSlots().catch(() => null) : null;
    // Close the keep-alive connections fetch pools, so the end state has
    // no client connection (each holds a server thread and descriptor).
    await globalThis[Symbol.for('undici.globalDispatcher.1')]?.close?.();
    await sleep(SETTLE_MS);
    clearInterval(sampler);
    const final = sample();
    if (final) samples.push(final);
    return {start, baseline, final, samples, wall, slots};
}

function verdict(m) {
    const reasons = [];
    const bad = Object.entries(stats).filter(([, s]) => s.unexpected);
    for (const [kind, s] of bad) reasons.push(`${s.unexpected} unexpected ${kind}: ${s.errors[0]}`);
    if (!m.final?.alive) reasons.push('the server process is gone');
    if (!m.baseline) reasons.push('no baseline sample (the server died during the warm-up?)');
    if (m.baseline && m.final) {
        const allowed = Math.max(4, 0.02 * m.baseline.rss_mib);
        if (m.final.rss_mib > m.baseline.rss_mib + allowed)
            reasons.push(`RSS grew ${(m.final.rss_mib - m.baseline.rss_mib).toFixed(1)} MiB (allowed ${allowed.toFixed(1)})`);
        if (m.final.fds > m.baseline.fds) reasons.push(`open descriptors ${m.baseline.fds} -> ${m.final.fds}`);
        if (m.final.threads > m.baseline.threads) reasons.push(`threads ${m.baseline.threads} -> ${m.final.threads}`);
    }
    if (m.slots && (m.slots.busy !== 0 || m.slots.queued !== 0))
        reasons.push(`after the load: ${m.slots.busy} slots busy, ${m.slots.queued} queued`);
    return reasons;
}

function report(m, reasons) {
    const requests = Object.values(stats).reduce((a, s) => a + s.count, 0);
    const maxRss = Math.max(...m.samples.map(s => s.rss_mib));
    const memory = {
        start: m.start, baseline: m.baseline, final: m.final, max_rss_mib: maxRss,
        growth_mib: m.baseline && m.final ? m.final.rss_mib - m.baseline.rss_mib : null,
        allowed_growth_mib: m.baseline ? Math.max(4, 0.02 * m.baseline.rss_mib) : null,
        warmup_s: warmupMs / 1000, samples: m.samples.length,
        rss_mib_every_5s: m.samples.map(s => Number(s.rss_mib.toFixed(1))),
    };
    const out = {
        url, api, minutes, clients,
        kinds: Object.entries(stats).map(([kind, s]) => ({kind, ...s})),
        totals: {requests, seconds: m.wall, requests_per_s: requests / m.wall, completion_tokens: tokens},
        memory, slots_after_load: m.slots, verdict: reasons.length ? 'FAIL' : 'PASS', reasons,
    };
    if (format === 'json') { console.log(JSON.stringify(out, null, 2)); return; }
    const f = (x, d = 1) => x === null || x === undefined || Number.isNaN(x) ? '' : x.toFixed(d);
    console.log(`soak of ${url}: ${minutes} min, ${clients} clients, chat via ${api === 'chat' ? '/v1/chat/completions' : '/v1/completions'}\n`);
    console.log('| request kind | count | unexpected |\n| --- | ---: | ---: |');
    for (const k of out.kinds) console.log(`| ${k.kind} | ${k.count} | ${k.unexpected} |`);
    console.log(`\n${requests} requests in ${f(m.wall)} s (${f(out.totals.requests_per_s)} requests/s), ${tokens} tokens generated\n`);
    const row = (name, s) => `| ${name} | ${f(s?.rss_mib)} | ${s?.fds ?? ''} | ${s?.threads ?? ''} |`;
    console.log('| server | RSS MiB | open fds | threads |\n| --- | ---: | ---: | ---: |');
    console.log(row('at start (idle)', m.start));
    console.log(row(`baseline (after ${f(warmupMs / 1000, 0)} s)`, m.baseline));
    console.log(row(`final (${SETTLE_MS / 1000} s after the load)`, m.final));
    console.log(`| max (${memory.samples} samples) | ${f(maxRss)} | | |`);
    console.log(`\nRSS growth ${f(memory.growth_mib)} MiB (allowed ${f(memory.allowed_growth_mib)} MiB)`);
    for (const k of out.kinds) for (const e of k.errors) console.log(`- ${k.kind} ${e}`);
    console.log(`\nverdict: ${out.verdict}${reasons.length ? ': ' + reasons.join('; ') : ''}`);
}

const m = await soak();
const reasons = verdict(m);
report(m, reasons);
process.exit(reasons.length ? 1 : 0);
