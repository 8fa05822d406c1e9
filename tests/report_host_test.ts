/**
 * `report --serve` answers only requests addressed to this machine's loopback names, or to
 * the name `--host` gives: a DNS-rebinding page (another site's name in `Host`) is refused.
 */
import assert from "node:assert/strict";
import { hostAllowed } from "../src/report/host_check.ts";
import { ktDeno, runIdOf, spawnKtDeno, specFile } from "./cli_helpers.ts";

Deno.test("the Host check: loopback names and the --host name, with or without a port", () => {
  for (const host of ["localhost", "localhost:8080", "127.0.0.1:1", "[::1]:9", "LOCALHOST"]) {
    assert.ok(hostAllowed(host), host);
  }
  for (
    const host of [
      null,
      "",
      "evil.example",
      "evil.example:8080",
      "localhost.evil.example",
      "127.0.0.2.nip.io",
    ]
  ) {
    assert.ok(!hostAllowed(host), String(host));
  }
  assert.ok(hostAllowed("reports.lan:8080", ["reports.lan"]));
  assert.ok(!hostAllowed("other.lan:8080", ["reports.lan"]));
});

/** The status line of a GET / sent with this Host header. */
async function statusWith(port: number, host: string, address = "127.0.0.1"): Promise<string> {
  const conn = await Deno.connect({ hostname: address, port });
  await conn.write(
    new TextEncoder().encode(`GET / HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`),
  );
  let text = "";
  for await (const chunk of conn.readable.pipeThrough(new TextDecoderStream())) {
    text += chunk;
    if (text.includes("\r\n")) break;
  }
  return text.split("\r\n")[0];
}

async function serve(dir: string, args: string[]) {
  const server = spawnKtDeno(args, dir);
  const out = server.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let line = "";
  while (!/on http:\/\/[^:]+:(\d+)\//.test(line)) {
    const { value, done } = await out.read();
    if (done) throw new Error(`the server did not start: ${line}`);
    line += value;
  }
  const port = Number(/on http:\/\/[^:]+:(\d+)\//.exec(line)![1]);
  return {
    port,
    async stop() {
      server.kill("SIGINT");
      await server.status;
      await out.cancel();
      await server.stderr.cancel();
    },
  };
}

Deno.test("report --serve refuses a request for another host name (DNS rebinding)", async () => {
  const { dir, path } = await specFile({
    name: "served",
    jobs: [{ name: "a", type: "static", tasks: [{ command: ["true"] }] }],
  });
  try {
    const run = await ktDeno(["run", path, "--data-dir", "data"], dir);
    const runId = runIdOf(run.stdout);
    const local = await serve(dir, ["report", runId, "--data-dir", "data", "--serve"]);
    try {
      assert.match(await statusWith(local.port, `127.0.0.1:${local.port}`), / 200 /);
      assert.match(await statusWith(local.port, `localhost:${local.port}`), / 200 /);
      assert.match(await statusWith(local.port, `evil.example:${local.port}`), / 421 /);
    } finally {
      await local.stop();
    }
    const named = await serve(dir, [
      "report",
      runId,
      "--data-dir",
      "data",
      "--serve",
      "--host",
      "127.0.0.2",
    ]);
    try {
      assert.match(await statusWith(named.port, `127.0.0.2:${named.port}`, "127.0.0.2"), / 200 /);
      assert.match(
        await statusWith(named.port, `evil.example:${named.port}`, "127.0.0.2"),
        / 421 /,
      );
    } finally {
      await named.stop();
    }
    const bad = await ktDeno(["report", runId, "--data-dir", "data", "--host", "x"], dir);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /--host needs --serve/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
