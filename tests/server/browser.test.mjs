// The web page of `olmoe serve` in a real browser (Debian's chromium driven by
// playwright-core), against a running server.
//   OLMOE_URL        the server, e.g. http://127.0.0.1:8080 (required)
//   OLMOE_SENTENCE_A a sentence of a planted corpus document titled OLMOE_TITLE_A
//   OLMOE_SENTENCE_B another one, in the document titled OLMOE_TITLE_B
//   CHROMIUM         the browser (default /usr/bin/chromium)
//   OLMOE_SHOTS      folder for screenshots (default ./out beside this file)
// Run by tests/cli_server_browser.sh, which builds the index and starts the server.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

const BASE = process.env.OLMOE_URL;
const SENTENCE_A = process.env.OLMOE_SENTENCE_A;
const SENTENCE_B = process.env.OLMOE_SENTENCE_B;
const TITLE_A = process.env.OLMOE_TITLE_A;
const TITLE_B = process.env.OLMOE_TITLE_B;
const CHROMIUM = process.env.CHROMIUM || "/usr/bin/chromium";
const SHOTS = process.env.OLMOE_SHOTS || path.join(path.dirname(fileURLToPath(import.meta.url)), "out");
for (const [k, v] of Object.entries({ OLMOE_URL: BASE, OLMOE_SENTENCE_A: SENTENCE_A, OLMOE_SENTENCE_B: SENTENCE_B,
                                      OLMOE_TITLE_A: TITLE_A, OLMOE_TITLE_B: TITLE_B }))
  if (!v) throw new Error(`browser.test.mjs: set ${k} (run it through tests/cli_server_browser.sh)`);
if (!fs.existsSync(CHROMIUM)) throw new Error(`browser.test.mjs: no browser at ${CHROMIUM} (apt-get install chromium)`);

let browser;
before(async () => {
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ["--no-sandbox"] });
});
after(async () => { if (browser) await browser.close(); });

// A canned answer holding both planted sentences, streamed as the server
// would (the tiny model's own answers are random text).
const CANNED = `Here is what I know. ${SENTENCE_A} Also, ${SENTENCE_B}`;
function cannedSSE(text) {
  const pieces = text.match(/\S+\s*/g);
  const ev = (o) => "data: " + JSON.stringify(o) + "\n\n";
  let body = "";
  for (const p of pieces)
    body += ev({ id: "c", object: "chat.completion.chunk", choices: [{ index: 0, delta: { content: p }, finish_reason: null }] });
  body += ev({ id: "c", object: "chat.completion.chunk", choices: [{ index: 0, delta: {}, finish_reason: "stop" }],
               timings: { prompt_n: 5, prompt_ms: 10, predicted_n: pieces.length, predicted_ms: 100,
                          predicted_per_second: pieces.length * 10 } });
  return body + "data: [DONE]\n\n";
}
async function routeCanned(page) {
  await page.route("**/v1/chat/completions", (route) =>
    route.fulfill({ status: 200, headers: { "Content-Type": "text/event-stream" }, body: cannedSSE(CANNED) }));
}

async function sendMessage(page, text) {
  const before = await page.locator(".msg.assistant .stats").count();
  await page.locator("#input").fill(text);
  await page.locator("#input").press("Enter");
  await page.locator(".msg.assistant .stats").nth(before).waitFor({ timeout: 120_000 });
  return page.locator(".msg.assistant").nth(before);
}

// Opens the trace of `answer` by keyboard (focus + Enter) and waits for the marks.
async function traceByKeyboard(page, answer) {
  await answer.locator("button.trace").focus();
  await page.keyboard.press("Enter");
  await answer.locator("mark.span").first().waitFor({ timeout: 60_000 });
}

// The marks covering part of `sentence` (long enough not to be a chance match).
async function marksOver(answer, sentence) {
  const texts = await answer.locator("mark.span").allTextContents();
  return texts.filter((t) => t.trim().length >= 12 && sentence.includes(t.trim()));
}

test("chat with the real server streams an answer and shows its speed", async () => {
  const page = await browser.newPage();
  await page.goto(BASE);
  await page.locator("#settings-toggle").click();
  await page.locator("#max-tokens").fill("16");
  await page.locator("#temperature").fill("0");
  const sent = page.waitForRequest((r) => r.url().endsWith("/v1/chat/completions"));
  const answer = await sendMessage(page, "Hello there, who are you?");
  const req = JSON.parse((await sent).postData());
  assert.equal(req.stream, true);
  assert.equal(req.max_tokens, 16);
  assert.equal(req.messages.at(-1).content, "Hello there, who are you?");
  const stats = await answer.locator(".stats").textContent();
  const m = /^(\d+) tokens · ([\d.]+) tok\/s/.exec(stats);
  assert.ok(m, `stats line: ${stats}`);
  assert.ok(+m[1] >= 1 && +m[1] <= 16, `token count ${m[1]} within max_tokens 16`);
  assert.ok(+m[2] > 0, "tokens/s measured");
  assert.equal(await page.locator(".msg.error").count(), 0);
  // settings persist across a reload
  await page.reload();
  assert.equal(await page.locator("#max-tokens").inputValue(), "16");
  // a second turn sends the whole history
  const sent2 = page.waitForRequest((r) => r.url().endsWith("/v1/chat/completions") && /colour/.test(r.postData()));
  await sendMessage(page, "What is an open model?");
  await sendMessage(page, "Name a colour.");
  const req2 = JSON.parse((await sent2).postData());
  assert.deepEqual(req2.messages.map((x) => x.role), ["user", "assistant", "user"]);
  assert.equal(req2.messages[0].content, "What is an open model?");
  // "New chat" empties the conversation
  await page.locator("#new-chat").click();
  assert.equal(await page.locator(".msg").count(), 0);
  const sent3 = page.waitForRequest((r) => r.url().endsWith("/v1/chat/completions"));
  await sendMessage(page, "Hello there, who are you?");
  assert.deepEqual(JSON.parse((await sent3).postData()).messages.map((x) => x.role), ["user"]);
  await page.close();
});

test("HTTP errors are shown in the chat", async () => {
  const page = await browser.newPage();
  await page.route("**/v1/chat/completions", (route) => route.fulfill({
    status: 400, contentType: "application/json",
    body: JSON.stringify({ error: { message: "max_tokens must be positive", type: "invalid_request_error", param: "max_tokens", code: null } }),
  }));
  await page.goto(BASE);
  await page.locator("#input").fill("hi");
  await page.locator("#input").press("Enter");
  await page.locator(".msg.error").waitFor();
  assert.match(await page.locator(".msg.error").textContent(), /max_tokens must be positive/);
  await page.close();
});

test("trace: spans highlighted, documents listed, span filters, keyboard and Escape", async () => {
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  await routeCanned(page);
  await page.goto(BASE);
  const answer = await sendMessage(page, "Tell me about zebras and lighthouses.");
  assert.match(await answer.locator(".stats").textContent(), /tok\/s/);

  const traced = page.waitForResponse((r) => r.url().endsWith("/v1/trace"));
  await traceByKeyboard(page, answer);
  const resp = await traced;
  assert.equal(resp.status(), 200, "real /v1/trace answers");
  const overA = await marksOver(answer, SENTENCE_A);
  assert.ok(overA.length > 0, `a highlighted span over "${SENTENCE_A}": ${await answer.locator("mark.span").allTextContents()}`);
  assert.ok((await marksOver(answer, SENTENCE_B)).length > 0, "a highlighted span over the second sentence");
  const cls = await answer.locator("mark.span").first().getAttribute("class");
  assert.match(cls, /rel-(hi|mid|lo)/, "spans shaded by relevance");

  const docs = page.locator("#docs");
  await docs.waitFor({ state: "visible" });
  assert.match(await docs.textContent(), new RegExp(TITLE_A));
  assert.match(await docs.textContent(), new RegExp(TITLE_B));
  assert.ok(await docs.locator("li .snippet mark").count() > 0, "snippets mark the span");

  // clicking the span over sentence A keeps only its documents
  await answer.locator("mark.span", { hasText: overA[0].trim() }).first().click();
  await page.locator("#docs-filter").waitFor({ state: "visible" });
  const filtered = await page.locator("#docs-list").textContent();
  assert.match(filtered, new RegExp(TITLE_A));
  assert.doesNotMatch(filtered, new RegExp(TITLE_B), "the filter drops the other document");
  await page.locator("#docs-all").click();
  assert.match(await page.locator("#docs-list").textContent(), new RegExp(TITLE_B));

  // Escape closes the panel and gives the focus back
  await page.keyboard.press("Escape");
  await docs.waitFor({ state: "hidden" });
  fs.mkdirSync(SHOTS, { recursive: true });
  await page.screenshot({ path: path.join(SHOTS, "trace-desktop.png") });
  await page.close();
});

test("phone-sized screen: no horizontal overflow, drawer with the documents", async () => {
  const page = await browser.newPage({ viewport: { width: 375, height: 812 }, isMobile: true, hasTouch: true });
  await routeCanned(page);
  await page.goto(BASE);
  const overflow = () => page.evaluate(() => document.documentElement.scrollWidth);
  assert.ok(await overflow() <= 375, "empty page fits");
  const answer = await sendMessage(page, "Tell me about zebras and lighthouses.");
  await page.locator("#settings-toggle").click();
  assert.ok(await overflow() <= 375, "chat and settings fit");
  await page.locator("#settings-toggle").click();
  await traceByKeyboard(page, answer);
  await page.locator("#docs").waitFor({ state: "visible" });
  const box = await page.locator("#docs").boundingBox();
  assert.ok(box.width <= 375 && box.x >= 0, `drawer within the screen: ${JSON.stringify(box)}`);
  assert.ok(await overflow() <= 375, `no horizontal overflow with the drawer: ${await overflow()}`);
  fs.mkdirSync(SHOTS, { recursive: true });
  await page.screenshot({ path: path.join(SHOTS, "trace.png") });
  await page.keyboard.press("Escape");
  await page.locator("#docs").waitFor({ state: "hidden" });
  assert.ok(await overflow() <= 375, "traced answer fits");
  await page.close();
});

test("markdown: a safe subset, model text never becomes markup", async () => {
  const page = await browser.newPage();
  await page.goto(BASE);
  const html = await page.evaluate(() => renderMarkdown([
    "# Title", "Some **bold**, *italic* and `a <b> code`.", "",
    "- one", "- two", "", "1. first", "2. second", "",
    "```js", "if (a < b) { x(); }", "```",
    "[ok](https://example.org/a?b=1&c=2) [bad](javascript:alert(1)) <script>alert(1)</script>",
    "<img src=x onerror=alert(1)>",
  ].join("\n")));
  assert.match(html, /<h1>Title<\/h1>/);
  assert.match(html, /<strong>bold<\/strong>/);
  assert.match(html, /<em>italic<\/em>/);
  assert.match(html, /<code>a &lt;b&gt; code<\/code>/);
  assert.match(html, /<ul><li>one<\/li><li>two<\/li><\/ul>/);
  assert.match(html, /<ol><li>first<\/li><li>second<\/li><\/ol>/);
  assert.match(html, /<pre><code class="language-js">if \(a &lt; b\) \{ x\(\); \}<\/code><\/pre>/);
  assert.match(html, /<a href="https:\/\/example.org\/a\?b=1&amp;c=2"[^>]*>ok<\/a>/);
  assert.doesNotMatch(html, /href="javascript/);
  assert.doesNotMatch(html, /<script|<img/);
  assert.match(html, /&lt;script&gt;/);
  await page.close();
});
