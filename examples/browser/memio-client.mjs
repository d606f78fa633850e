// What the page runs (and client.mjs runs under node): memio's REST API through fetch(), with the
// signed-in user's token. The token decides whose memories these are: no user_id is sent.

export async function signIn(appUrl, user) {
  const response = await fetch(`${appUrl}/login`, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ user }),
  });
  if (!response.ok) throw new Error(`sign-in failed: ${response.status} ${await response.text()}`);
  return response.json(); // {token, memio_url, expires_in}
}

export function memioFor(session, extraHeaders = {}) {
  const call = async (method, path, body) => {
    const response = await fetch(`${session.memio_url}${path}`, {
      method,
      headers: {
        ...extraHeaders,
        Authorization: `Bearer ${session.token}`,
        ...(body === undefined ? {} : { "Content-Type": "application/json" }),
      },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const data = response.status === 204 ? null : await response.json();
    if (!response.ok) {
      const error = new Error(`${method} ${path}: ${response.status} ${data.detail}`);
      error.status = response.status;
      throw error;
    }
    return { data, headers: response.headers };
  };
  return {
    call,
    remember: async (content) => (await call("POST", "/v1/facts", { content })).data,
    recall: async (query) => (await call("POST", "/v1/facts/search", { query, limit: 5 })).data,
    all: async () => (await call("GET", "/v1/facts")).data,
    forget: async (id) => call("DELETE", `/v1/facts/${encodeURIComponent(id)}`),
  };
}
