// Conformance of a running edgerag node with the official JavaScript
// clients, as people use them: openai (6.x) and ollama (0.6.x), both pinned
// by package-lock.json. conformance_test.go starts the node, installs the
// packages and runs this file with node's built-in test runner:
//
//   EDGERAG_URL=http://127.0.0.1:PORT [EDGERAG_EMBED_MODEL=name] node --test-reporter=spec clients.test.mjs
//
// EDGERAG_EMBED_MODEL names the node's embedding model; without it the node
// has none and the embedding calls must fail with a JSON error saying so.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import { Ollama } from 'ollama';

const url = process.env.EDGERAG_URL;
if (!url) throw new Error('set EDGERAG_URL to the node, e.g. http://127.0.0.1:8080');
const embedModel = process.env.EDGERAG_EMBED_MODEL || '';

const question = 'How do I reset the pump after a fault?';
// The OpenAI client sends its API key as the bearer token the node checks.
const openai = new OpenAI({ baseURL: `${url}/v1`, apiKey: process.env.EDGERAG_TOKEN || 'none', maxRetries: 0 });
const ollama = new Ollama({ host: url });

// Every answer carries the passages it rests on; the question is about the
// pump manual, so that must be among them.
function checkCitations(citations) {
  assert.ok(Array.isArray(citations), 'no citations field');
  assert.ok(citations.some((c) => c.document_id === 'pump-manual'), `pump-manual not cited: ${JSON.stringify(citations)}`);
}

async function collect(stream, pick) {
  let text = '';
  let last;
  for await (const part of stream) {
    text += pick(part) ?? '';
    last = part;
  }
  return { text, last };
}

// ---- OpenAI ----

test('openai: models.list and models.retrieve; unknown model is a 404 in OpenAI shape', async () => {
  const list = await openai.models.list();
  assert.ok(list.data.some((m) => m.id === 'edgerag'));
  assert.equal((await openai.models.retrieve('edgerag')).id, 'edgerag');
  await assert.rejects(openai.models.retrieve('gpt-4o'), (e) => e instanceof OpenAI.NotFoundError && e.code === 'model_not_found');
});

test('openai: chat.completions.create', async () => {
  const c = await openai.chat.completions.create({ model: 'edgerag', messages: [{ role: 'user', content: question }] });
  assert.equal(c.object, 'chat.completion');
  assert.equal(c.choices[0].finish_reason, 'stop');
  assert.ok(c.choices[0].message.content.length > 0);
  checkCitations(c.citations);
});

test('openai: chat.completions.create streamed, with usage', async () => {
  const stream = await openai.chat.completions.create({
    model: 'edgerag', messages: [{ role: 'user', content: question }], stream: true, stream_options: { include_usage: true },
  });
  let finish = null;
  let usage = null;
  let text = '';
  for await (const chunk of stream) {
    for (const ch of chunk.choices) {
      text += ch.delta.content ?? '';
      finish = ch.finish_reason ?? finish;
    }
    usage = chunk.usage ?? usage;
  }
  assert.ok(text.length > 0);
  assert.equal(finish, 'stop');
  assert.ok(usage.total_tokens > 0);
});

test('openai: multi-turn chat, the follow-up retrieved with the question before it', async () => {
  const c = await openai.chat.completions.create({
    model: 'edgerag',
    messages: [
      { role: 'system', content: 'Answer briefly.' },
      { role: 'user', content: question },
      { role: 'assistant', content: 'Hold the reset button.' },
      { role: 'user', content: 'for how long?' },
    ],
  });
  checkCitations(c.citations);
});

test('openai: unknown model, tools and json_object are refused, not ignored', async () => {
  const msgs = [{ role: 'user', content: question }];
  await assert.rejects(openai.chat.completions.create({ model: 'gpt-4o', messages: msgs }), (e) => e.status === 404 && /gpt-4o/.test(e.message));
  await assert.rejects(
    openai.chat.completions.create({ model: 'edgerag', messages: msgs, tools: [{ type: 'function', function: { name: 'f', parameters: {} } }] }),
    (e) => e instanceof OpenAI.BadRequestError && /tools/.test(e.message),
  );
  await assert.rejects(
    openai.chat.completions.create({ model: 'edgerag', messages: msgs, response_format: { type: 'json_object' } }),
    (e) => e instanceof OpenAI.BadRequestError && /json_object/.test(e.message),
  );
});

test('openai: completions.create, plain and streamed', async () => {
  const c = await openai.completions.create({ model: 'edgerag', prompt: question });
  assert.equal(c.object, 'text_completion');
  assert.ok(c.choices[0].text.length > 0);
  checkCitations(c.citations);
  const s = await openai.completions.create({ model: 'edgerag', prompt: question, stream: true });
  const { text, last } = await collect(s, (ch) => ch.choices[0]?.text);
  assert.ok(text.length > 0);
  assert.equal(last.choices[0].finish_reason, 'stop');
});

test('openai: responses.create, plain and streamed', async () => {
  const r = await openai.responses.create({ model: 'edgerag', input: question, instructions: 'Be brief.' });
  assert.equal(r.status, 'completed');
  assert.ok(r.output_text.length > 0);
  checkCitations(r.citations);

  const s = await openai.responses.create({ model: 'edgerag', input: [{ role: 'user', content: question }], stream: true });
  let deltas = '';
  let completed = null;
  for await (const ev of s) {
    if (ev.type === 'response.output_text.delta') deltas += ev.delta;
    if (ev.type === 'response.completed') completed = ev.response;
  }
  assert.ok(deltas.length > 0);
  assert.equal(completed.output[0].content[0].text, deltas);

  // The SDK's own stream helper checks the events' order as it
  // accumulates them into a response.
  const helper = openai.responses.stream({ model: 'edgerag', input: question });
  const final = await helper.finalResponse();
  assert.equal(final.output[0].content[0].text, deltas);
});

test('openai: embeddings.create', async () => {
  if (!embedModel) {
    await assert.rejects(openai.embeddings.create({ model: 'edgerag', input: 'pump' }), (e) => e.status === 400 && /no embedding model/.test(e.message));
    return;
  }
  // The client asks for base64 and decodes it.
  const e = await openai.embeddings.create({ model: 'edgerag', input: ['pump', 'press'] });
  assert.equal(e.data.length, 2);
  assert.ok(e.data[1].embedding.length > 0 && e.data[1].embedding.every(Number.isFinite));
  const f = await openai.embeddings.create({ model: embedModel, input: 'pump', encoding_format: 'float' });
  assert.deepEqual(f.data[0].embedding.length, e.data[0].embedding.length);
});

test('openai: an endpoint the node does not serve is a JSON 404 the client reads', async () => {
  await assert.rejects(openai.images.generate({ prompt: 'a pump' }), (e) => e.status === 404 && /no such endpoint/.test(e.message));
});

// ---- Ollama ----

test('ollama: list, show, ps', async () => {
  const list = await ollama.list();
  assert.ok(list.models.some((m) => m.name === 'edgerag:latest'));
  const show = await ollama.show({ model: 'edgerag' });
  assert.deepEqual(show.capabilities, ['completion']);
  assert.equal(show.model_info['general.architecture'], 'edgerag');
  if (embedModel) {
    assert.equal(show.model_info['edgerag.embedding_model'], embedModel);
    assert.deepEqual((await ollama.show({ model: embedModel })).capabilities, ['embedding']);
  }
  const ps = await ollama.ps();
  assert.ok(ps.models.some((m) => m.name === 'edgerag:latest'));
  await assert.rejects(ollama.show({ model: 'llama3' }), (e) => e.status_code === 404 && e.error.startsWith("model 'llama3' not found"));
});

test('ollama: chat, plain and streamed', async () => {
  const c = await ollama.chat({ model: 'edgerag', messages: [{ role: 'user', content: question }], stream: false });
  assert.ok(c.done && c.message.content.length > 0);
  checkCitations(c.citations);
  const s = await ollama.chat({ model: 'edgerag', messages: [{ role: 'user', content: question }], stream: true });
  const { text, last } = await collect(s, (p) => p.message.content);
  assert.ok(text.length > 0 && last.done);
});

test('ollama: generate, plain and streamed', async () => {
  const g = await ollama.generate({ model: 'edgerag', prompt: question, stream: false });
  assert.ok(g.done && g.response.length > 0);
  checkCitations(g.citations);
  const s = await ollama.generate({ model: 'edgerag', prompt: question, stream: true });
  const { text, last } = await collect(s, (p) => p.response);
  assert.ok(text.length > 0 && last.done && last.done_reason === 'stop');
});

test('ollama: embed and embeddings', async () => {
  if (!embedModel) {
    await assert.rejects(ollama.embed({ model: 'edgerag', input: 'pump' }), (e) => e.status_code === 400 && /no embedding model/.test(e.error));
    return;
  }
  const e = await ollama.embed({ model: 'edgerag', input: ['pump', 'press'] });
  assert.equal(e.embeddings.length, 2);
  const one = await ollama.embeddings({ model: embedModel, prompt: 'pump' });
  assert.equal(one.embedding.length, e.embeddings[0].length);
});

test('ollama: unknown model and unserved endpoint are JSON errors the client reads', async () => {
  await assert.rejects(
    ollama.chat({ model: 'llama3', messages: [{ role: 'user', content: question }], stream: false }),
    (e) => e.status_code === 404 && /model 'llama3' not found/.test(e.error),
  );
  await assert.rejects(ollama.generate({ model: 'edgerag', prompt: question, format: 'json', stream: false }), (e) => e.status_code === 400 && /format/.test(e.error));
  await assert.rejects(ollama.pull({ model: 'llama3', stream: false }), (e) => e.status_code === 404 && /does not pull models/.test(e.error));
  await assert.rejects(ollama.delete({ model: 'edgerag' }), (e) => e.status_code === 404 && /no such endpoint/.test(e.error));
});
