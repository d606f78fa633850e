// The browser page's calls, run under node against a live memio-server and backend.mjs, with the
// page's Origin header, checking what a browser would enforce (CORS) and what memio enforces
// (each user sees only their own memories). Exits non-zero if anything is off.
//
//   APP_URL=http://127.0.0.1:3000 node examples/browser/client.mjs
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { memioFor, signIn } from "./memio-client.mjs";

const APP_URL = (process.env.APP_URL || "http://127.0.0.1:3000").replace(/\/+$/, "");
const run = randomUUID().slice(0, 8);
const browser = { Origin: APP_URL }; // what a browser sends with a cross-origin fetch

async function main() {
  const alice = await signIn(APP_URL, `alice-${run}`);
  const bob = await signIn(APP_URL, `bob-${run}`);

  // The preflight a browser sends before a fetch with an Authorization header.
  const preflight = await fetch(`${alice.memio_url}/v1/facts`, {
    method: "OPTIONS",
    headers: {
      ...browser,
      "Access-Control-Request-Method": "POST",
      "Access-Control-Request-Headers": "authorization,content-type",
    },
  });
  assert.equal(preflight.status, 200, "preflight allowed");
  assert.equal(preflight.headers.get("access-control-allow-origin"), APP_URL);
  assert.match(preflight.headers.get("access-control-allow-headers").toLowerCase(), /authorization/);

  const aliceMemio = memioFor(alice, browser);
  const bobMemio = memioFor(bob, browser);
  const note = await aliceMemio.remember("my bike lock code is 4711");
  assert.equal(note.user_id, `alice-${run}`, "the token decides the user");
  await bobMemio.remember("bob prefers window seats");

  const { headers } = await aliceMemio.call("GET", "/v1/facts");
  assert.equal(headers.get("access-control-allow-origin"), APP_URL, "readable by the page");
  const found = await aliceMemio.recall("bike lock");
  assert.equal(found[0].content, "my bike lock code is 4711");
  assert.deepEqual((await bobMemio.all()).map((fact) => fact.content), ["bob prefers window seats"]);

  // Another user's memory is not there for bob, and naming alice is refused.
  await assert.rejects(bobMemio.call("GET", `/v1/facts/${note.id}`), { status: 404 });
  await assert.rejects(
    bobMemio.call("POST", "/v1/facts/search", { query: "bike", user_id: `alice-${run}` }),
    { status: 403 },
  );
  // A forged token is refused.
  const forged = { ...alice, token: alice.token.slice(0, -2) + "xx" };
  await assert.rejects(memioFor(forged, browser).all(), { status: 401 });

  await aliceMemio.forget(note.id);
  assert.deepEqual(await aliceMemio.all(), []);
  console.log("ok");
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
