// Start the local D1 Worker on 127.0.0.1:PORT (argv[2], 0 for any) with bearer token argv[3];
// prints "listening <url>" once it answers, and stops on SIGTERM or when stdin closes.
import { Miniflare } from "miniflare";
import { readFileSync } from "node:fs";

const port = Number(process.argv[2] || 0);
const token = process.argv[3] || "local-d1-token";
const mf = new Miniflare({
  modules: true,
  script: readFileSync(new URL("./worker.js", import.meta.url), "utf8"),
  compatibilityDate: "2025-01-01",
  d1Databases: { DB: "marketbrief-test" },
  bindings: { TOKEN: token },
  host: "127.0.0.1",
  port,
});
const url = await mf.ready;
console.log(`listening ${url.origin}`);
const stop = async () => {
  await mf.dispose();
  process.exit(0);
};
process.on("SIGTERM", stop);
process.on("SIGINT", stop);
process.stdin.on("end", stop);
process.stdin.resume();
