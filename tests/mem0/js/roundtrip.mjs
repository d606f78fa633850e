// The npm `mem0ai` SDK (3.x) against a live memio-server: every memory method round-trips.
//
//   MEMIO_URL=http://127.0.0.1:8080 MEMIO_API_KEY=... MEMIO_USER_ID=alice node roundtrip.mjs
//
// Exits 0 and prints a JSON summary when every assertion holds; otherwise prints the failure and
// exits 1. Driven by tests/mem0/test_platform_js.py (MEM0_TELEMETRY=false, so nothing is sent to
// mem0's telemetry).
import assert from "node:assert/strict";

import MemoryClient, { AuthenticationError, MemoryNotFoundError, ValidationError } from "mem0ai";

const host = process.env.MEMIO_URL;
const apiKey = process.env.MEMIO_API_KEY;
const userId = process.env.MEMIO_USER_ID;
assert.ok(host && apiKey && userId, "set MEMIO_URL, MEMIO_API_KEY and MEMIO_USER_ID");

async function rejectsWith(promise, type, pattern) {
  try {
    await promise;
  } catch (error) {
    assert.ok(error instanceof type, `expected ${type.name}, got ${error?.name}: ${error?.message}`);
    if (pattern) assert.match(error.message, pattern);
    return error;
  }
  assert.fail(`expected ${type.name}, but the call succeeded`);
}

async function main() {
  const client = new MemoryClient({ apiKey, host });
  await client.initialized; // the start-up ping
  assert.equal(client.organizationId, "memio");
  assert.ok(client.projectId.startsWith("memio-"));

  // add: one memory per non-system message (infer false)
  const added = await client.add(
    [
      { role: "system", content: "You are a helpful assistant." },
      { role: "user", content: "I am training for a marathon in April" },
      { role: "user", content: "My favourite food is ramen" },
    ],
    { user_id: userId, metadata: { source: "js" }, infer: false },
  );
  assert.equal(added.results.length, 2);
  assert.deepEqual(
    added.results.map((r) => [r.event, r.memory, r.data.memory]),
    [
      ["ADD", "I am training for a marathon in April", "I am training for a marathon in April"],
      ["ADD", "My favourite food is ramen", "My favourite food is ramen"],
    ],
  );
  const [runId, foodId] = added.results.map((r) => r.id);

  // search: entity ids go in filters; keys come back camelCased
  const found = await client.search("what does the user like to eat?", {
    filters: { user_id: userId },
    top_k: 1,
  });
  assert.equal(found.results.length, 1);
  assert.equal(found.results[0].id, foodId);
  assert.ok(found.results[0].score > 0 && found.results[0].score <= 1);
  assert.equal(found.results[0].userId, userId);

  // getAll: a page with count/next/previous
  const all = await client.getAll({ filters: { AND: [{ user_id: userId }] }, page: 1, pageSize: 1 });
  assert.equal(all.count, 2);
  assert.deepEqual(all.results.map((m) => m.id), [runId]);
  assert.ok(all.next);
  assert.equal(all.previous, null);
  const whole = await client.getAll({ filters: { user_id: userId } });
  assert.deepEqual(whole.results.map((m) => m.id), [runId, foodId]);
  // startDate / endDate: creation time, days counted whole (UTC)
  const today = new Date().toISOString().slice(0, 10);
  const tomorrow = new Date(Date.now() + 86400000).toISOString().slice(0, 10);
  const dated = await client.getAll({ filters: { user_id: userId }, startDate: today, endDate: today });
  assert.deepEqual(dated.results.map((m) => m.id), [runId, foodId]);
  assert.equal((await client.getAll({ filters: { user_id: userId }, startDate: tomorrow })).count, 0);

  // get
  const memory = await client.get(foodId);
  assert.equal(memory.memory, "My favourite food is ramen");
  assert.deepEqual(memory.metadata, { source: "js" });
  assert.ok(!Number.isNaN(Date.parse(memory.createdAt)));

  // update
  const updated = await client.update(foodId, { text: "My favourite food is pho" });
  assert.equal(updated.memory, "My favourite food is pho");
  assert.equal((await client.get(foodId)).memory, "My favourite food is pho");

  // history
  const history = await client.history(foodId);
  assert.deepEqual(history.map((h) => h.event), ["ADD", "UPDATE"]);
  assert.equal(history[1].oldMemory, "My favourite food is ramen");
  assert.equal(history[1].newMemory, "My favourite food is pho");
  assert.equal(history[1].memoryId, foodId);

  // batch update, users
  await client.batchUpdate([{ memoryId: runId, text: "I ran a marathon in April" }]);
  assert.equal((await client.get(runId)).memory, "I ran a marathon in April");
  const users = await client.users();
  const me = users.results.find((u) => u.type === "user" && u.name === userId);
  assert.equal(me.totalMemories, 2);

  // delete, then get is the SDK's not-found error
  const deleted = await client.delete(foodId);
  assert.equal(deleted.message, "Memory deleted successfully!");
  await rejectsWith(client.get(foodId), MemoryNotFoundError, /not found/);
  assert.deepEqual((await client.history(foodId)).map((h) => h.event), ["ADD", "UPDATE", "DELETE"]);

  // errors
  await rejectsWith(
    client.search("x", { filters: { user_id: userId, keywords: "x" } }),
    ValidationError,
    /keywords/,
  );
  const stranger = new MemoryClient({ apiKey: `${apiKey}-wrong`, host });
  await rejectsWith(stranger.get(runId), AuthenticationError, /invalid API key/);

  // clean up: deleteAll by entity, then batch delete of nothing left
  await client.deleteAll({ user_id: userId });
  assert.equal((await client.getAll({ filters: { user_id: userId } })).count, 0);

  // deleteUsers: the user is still there to delete once its memories are gone, then it is not;
  // an entity never given memories is not found either (as on the platform)
  const gone = await client.deleteUsers({ userId });
  assert.equal(gone.message, "Entity deleted successfully.");
  // (the SDK wraps the not-found error of each delete in its unexported APIError)
  await rejectsWith(client.deleteUsers({ userId }), Error, /Failed to delete user .*not found/i);
  await rejectsWith(
    client.deleteUsers({ agentId: `${userId}-never` }),
    Error,
    /Failed to delete agent .*not found/i,
  );

  return { added: added.results.length, searched: found.results.length, history: history.length };
}

main().then(
  (summary) => {
    console.log(JSON.stringify({ ok: true, ...summary }));
  },
  (error) => {
    console.error(error?.stack || String(error));
    process.exit(1);
  },
);
