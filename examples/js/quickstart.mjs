// memio REST quickstart for JavaScript/TypeScript: plain `fetch`, no SDK.
//
//   MEMIO_URL=http://127.0.0.1:8080 MEMIO_API_KEY=... node examples/js/quickstart.mjs
//
// Adds a fact, searches facts, adds conversation messages and reads them back, checking each
// answer. Exits non-zero (with the server's error body) if anything is off. Node 18+.
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";

const MEMIO_URL = (process.env.MEMIO_URL || "http://127.0.0.1:8080").replace(/\/+$/, "");
const API_KEY = process.env.MEMIO_API_KEY;

// Unique ids per run, so the example can run again against the same (persistent) server.
const run = randomUUID().slice(0, 8);
const userId = `alice-${run}`;
const sessionId = `session-${run}`;

const headers = { "Content-Type": "application/json" };
if (API_KEY) headers.Authorization = `Bearer ${API_KEY}`;

// fetch + status check: memio errors are JSON {error, detail, provider, operation, request_id}.
async function call(method, path, body, expectedStatus) {
  const response = await fetch(`${MEMIO_URL}${path}`, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (response.status !== expectedStatus) {
    const text = await response.text();
    throw new Error(`${method} ${path}: expected ${expectedStatus}, got ${response.status}: ${text}`);
  }
  return response.status === 204 ? null : response.json();
}

async function main() {
  // Add a fact
  const fact = await call("POST", "/v1/facts", { content: "prefers dark mode", user_id: userId }, 201);
  assert.equal(fact.content, "prefers dark mode");
  assert.equal(fact.user_id, userId);
  assert.ok(fact.id, "a stored fact has an id");
  assert.ok(fact.created_at, "a stored fact has created_at");
  console.log(`added fact ${fact.id}`);

  // Search facts
  const results = await call("POST", "/v1/facts/search", { query: "preferences", user_id: userId }, 200);
  assert.ok(Array.isArray(results), "search returns a JSON array");
  assert.equal(results.length, 1);
  assert.equal(results[0].id, fact.id);
  assert.ok(results[0].score >= 0 && results[0].score <= 1, "scores lie in [0, 1]");
  console.log(`search found "${results[0].content}" (score ${results[0].score.toFixed(2)})`);

  // Add conversation history (204: nothing to read back from the add itself)
  await call(
    "POST",
    `/v1/history/sessions/${sessionId}/messages`,
    {
      messages: [
        { role: "user", content: "hello" },
        { role: "assistant", content: "hi there" },
      ],
      user_id: userId,
    },
    204,
  );

  // Read the messages back, oldest first
  const messages = await call("GET", `/v1/history/sessions/${sessionId}/messages`, undefined, 200);
  assert.deepEqual(
    messages.map((m) => [m.role, m.content]),
    [
      ["user", "hello"],
      ["assistant", "hi there"],
    ],
  );
  console.log(`session ${sessionId} has ${messages.length} messages`);

  // List this user's sessions ({"sessions": [...]})
  const { sessions } = await call("GET", `/v1/history/sessions?user_id=${encodeURIComponent(userId)}`, undefined, 200);
  assert.deepEqual(sessions, [sessionId]);

  // Clean up what this run created
  await call("DELETE", `/v1/facts?user_id=${encodeURIComponent(userId)}`, undefined, 204);
  await call("DELETE", `/v1/history/sessions?user_id=${encodeURIComponent(userId)}`, undefined, 204);
  console.log("ok");
}

main().catch((error) => {
  console.error(error instanceof Error ? error.message : error);
  process.exitCode = 1;
});
