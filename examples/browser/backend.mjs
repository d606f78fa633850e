// The app's backend: signs in its users (here: anyone, by name, for the example) and signs a
// short-lived memio token for the signed-in user. The browser never sees the signing secret.
//
//   MEMIO_JWT_SECRET=... MEMIO_URL=http://127.0.0.1:8080 node examples/browser/backend.mjs
//
// GET / serves the page, GET /memio-client.mjs its module, POST /login {"user": "alice"}
// answers {"token", "memio_url", "expires_in"}. Node 18+, no dependencies.
import { createHmac } from "node:crypto";
import { readFile } from "node:fs/promises";
import { createServer } from "node:http";

const SECRET = process.env.MEMIO_JWT_SECRET;
const MEMIO_URL = process.env.MEMIO_URL || "http://127.0.0.1:8080";
const PORT = Number(process.env.PORT || 3000);
const LIFETIME = 10 * 60; // seconds: well under memio's max_lifetime_seconds
if (!SECRET || SECRET.length < 32) throw new Error("set MEMIO_JWT_SECRET (32+ characters)");

const base64url = (data) => Buffer.from(data).toString("base64url");

// An HS256 JWT (RFC 7519) with the claims memio's config asks for.
export function signToken(user, secret = SECRET, now = Math.floor(Date.now() / 1000)) {
  const header = base64url(JSON.stringify({ alg: "HS256", typ: "JWT" }));
  const claims = base64url(
    JSON.stringify({
      sub: user,
      iss: "memio-browser-example",
      aud: "memio",
      iat: now,
      exp: now + LIFETIME,
    }),
  );
  const signature = createHmac("sha256", secret).update(`${header}.${claims}`).digest("base64url");
  return `${header}.${claims}.${signature}`;
}

const files = {
  "/": ["index.html", "text/html; charset=utf-8"],
  "/memio-client.mjs": ["memio-client.mjs", "text/javascript; charset=utf-8"],
};

const server = createServer(async (request, response) => {
  const url = new URL(request.url, `http://${request.headers.host}`);
  if (request.method === "GET" && files[url.pathname]) {
    const [name, type] = files[url.pathname];
    response.writeHead(200, { "Content-Type": type });
    response.end(await readFile(new URL(name, import.meta.url)));
    return;
  }
  if (request.method === "POST" && url.pathname === "/login") {
    let body = "";
    for await (const chunk of request) body += chunk;
    const user = String(JSON.parse(body || "{}").user || "").trim();
    if (!/^[A-Za-z0-9_.-]{1,64}$/.test(user)) {
      response.writeHead(400, { "Content-Type": "application/json" });
      response.end(JSON.stringify({ error: "give a user name (letters, digits, _.-)" }));
      return;
    }
    // A real app checks the user's password or session here.
    response.writeHead(200, { "Content-Type": "application/json" });
    response.end(JSON.stringify({ token: signToken(user), memio_url: MEMIO_URL, expires_in: LIFETIME }));
    return;
  }
  response.writeHead(404).end();
});

server.listen(PORT, "127.0.0.1", () => console.log(`app backend on http://127.0.0.1:${PORT}`));
