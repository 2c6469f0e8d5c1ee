// olmoe serve through the official OpenAI Node SDK: chat (plain and
// streamed), completions, models.list and an error case.
// Usage: OLMOE_BASE_URL=http://127.0.0.1:PORT/v1 node openai.test.mjs
import assert from 'node:assert/strict';
import OpenAI from 'openai';

const client = new OpenAI({ baseURL: process.env.OLMOE_BASE_URL, apiKey: 'unused', maxRetries: 0 });
const messages = [{ role: 'user', content: 'Name three colours.' }];
let failures = 0;

async function check(name, fn) {
  try {
    await fn();
    console.log(`ok   ${name}`);
  } catch (e) {
    failures++;
    console.log(`FAIL ${name}: ${e.stack || e}`);
  }
}

let plain = '';
await check('chat.completions.create', async () => {
  const r = await client.chat.completions.create({ model: 'olmoe-tiny', messages, temperature: 0, max_tokens: 12 });
  assert.equal(r.object, 'chat.completion');
  assert.equal(r.choices[0].message.role, 'assistant');
  assert.equal(typeof r.choices[0].message.content, 'string');
  assert.ok(['stop', 'length'].includes(r.choices[0].finish_reason));
  assert.equal(r.usage.total_tokens, r.usage.prompt_tokens + r.usage.completion_tokens);
  plain = r.choices[0].message.content;
});

await check('chat.completions.create stream', async () => {
  const stream = await client.chat.completions.create({
    model: 'olmoe-tiny', messages, temperature: 0, max_tokens: 12, stream: true,
    stream_options: { include_usage: true },
  });
  let text = '', finish = null, usage = null;
  for await (const chunk of stream) {
    if (chunk.usage) usage = chunk.usage;
    for (const c of chunk.choices) {
      text += c.delta?.content ?? '';
      if (c.finish_reason) finish = c.finish_reason;
    }
  }
  assert.equal(text, plain);
  assert.ok(finish);
  assert.ok(usage && usage.completion_tokens > 0);
});

await check('completions.create', async () => {
  const r = await client.completions.create({ model: 'olmoe-tiny', prompt: 'Once upon a time', max_tokens: 5, temperature: 0 });
  assert.equal(r.object, 'text_completion');
  assert.equal(typeof r.choices[0].text, 'string');
  assert.equal(r.usage.completion_tokens, 5);
  assert.equal(r.choices[0].finish_reason, 'length');
});

await check('models.list', async () => {
  const ids = [];
  for await (const m of client.models.list()) ids.push(m.id);
  assert.deepEqual(ids, ['olmoe-tiny']);
});

await check('bad request -> APIError 400', async () => {
  await assert.rejects(
    client.chat.completions.create({ model: 'olmoe-tiny', messages: [] }),
    (e) => e instanceof OpenAI.APIError && e.status === 400 && /messages/.test(e.message));
});

console.log(failures ? `openai.test.mjs: ${failures} failed` : 'openai.test.mjs: all passed');
process.exit(failures ? 1 : 0);
