// The D1 REST API's request and response shape over a real D1 binding (run by serve.js).
//
// POST {base}/accounts/{account}/d1/database/{database}/query|raw with {"sql","params"} or
// {"batch":[{"sql","params"},...]}; a batch runs as one implicit transaction, as on Cloudflare.
// Requests are served one at a time. Admin routes: GET /ready, POST /admin/reset (drop every
// table, zero the call count), POST /admin/rate-limit {"calls": N} (the next N API calls
// answer 429), GET /admin/calls (API calls answered since the last reset).

let queue = Promise.resolve();
let limited = 0;
let calls = 0;

const json = (body, status = 200) =>
  new Response(JSON.stringify(body), { status, headers: { "content-type": "application/json" } });
const failure = (status, code, message) =>
  json({ success: false, errors: [{ code, message }], messages: [], result: null }, status);

function bound(db, item) {
  const statement = db.prepare(item.sql);
  return item.params && item.params.length ? statement.bind(...item.params) : statement;
}

function asRaw(result) {
  const rows = result.results || [];
  const columns = rows.length ? Object.keys(rows[0]) : [];
  return { results: { columns, rows: rows.map((row) => columns.map((c) => row[c])) }, meta: result.meta, success: true };
}

const READS = /^\s*(select|pragma|values)\b/i;

async function single(db, item, raw) {
  const statement = bound(db, item);
  const result = await statement.all();
  if (!raw) return [result];
  if (!READS.test(item.sql)) return [asRaw(result)];
  // A read has no side effect, so it is run again by raw(), which keeps the column order and
  // repeated names (and names the columns of an empty answer), as Cloudflare's /raw does.
  const [columns, ...rows] = await statement.raw({ columnNames: true });
  return [{ results: { columns, rows }, meta: result.meta, success: true }];
}

async function api(env, request, raw) {
  calls += 1;
  if (request.headers.get("authorization") !== `Bearer ${env.TOKEN}`) {
    return failure(401, 10000, "Authentication error");
  }
  if (limited > 0) {
    limited -= 1;
    return failure(429, 971, "Please wait and consider throttling your request speed");
  }
  const body = await request.json();
  try {
    if (Array.isArray(body.batch)) {
      const results = await env.DB.batch(body.batch.map((item) => bound(env.DB, item)));
      return json({ success: true, errors: [], messages: [], result: raw ? results.map(asRaw) : results });
    }
    return json({ success: true, errors: [], messages: [], result: await single(env.DB, body, raw) });
  } catch (error) {
    const message = String((error && error.message) || error).replace(/^D1_ERROR: /, "");
    return failure(400, 7500, `${message}`);
  }
}

async function reset(env) {
  const listed = await env.DB.prepare(
    "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE '_cf_%' AND name NOT LIKE 'sqlite_%'"
  ).all();
  let names = listed.results.map((row) => row.name);
  // Children first: a parent still referenced refuses to go, so retry until every table went.
  for (let pass = 0; names.length && pass < 20; pass += 1) {
    const left = [];
    for (const name of names) {
      try {
        await env.DB.prepare(`DROP TABLE "${name}"`).run();
      } catch {
        left.push(name);
      }
    }
    names = left;
  }
  calls = 0;
  limited = 0;
  return json({ dropped: names.length === 0, left: names });
}

async function route(request, env) {
  const url = new URL(request.url);
  if (url.pathname === "/ready") return json({ ready: true });
  if (url.pathname === "/admin/reset" && request.method === "POST") return reset(env);
  if (url.pathname === "/admin/calls") return json({ calls });
  if (url.pathname === "/admin/rate-limit" && request.method === "POST") {
    limited = (await request.json()).calls;
    return json({ limited });
  }
  const match = url.pathname.match(/\/accounts\/[^/]+\/d1\/database\/[^/]+\/(query|raw)$/);
  if (match && request.method === "POST") return api(env, request, match[1] === "raw");
  return failure(404, 7000, `No route for ${request.method} ${url.pathname}`);
}

export default {
  fetch(request, env) {
    const answer = queue.then(() => route(request, env));
    queue = answer.catch(() => undefined);
    return answer;
  },
};
