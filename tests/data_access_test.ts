import assert from "node:assert/strict";
import { UsageError } from "../src/cli/errors.ts";
import { parseEndpoint, parseRunAs } from "../src/cli/flags.ts";
import { podS3Env, podUser } from "../src/k8s/data_access.ts";

Deno.test("--run-as takes UID[:GID] of a non-root user", () => {
  assert.deepEqual(parseRunAs("10001"), { uid: 10001, gid: 10001 });
  assert.deepEqual(parseRunAs("1000:100"), { uid: 1000, gid: 100 });
  assert.deepEqual(parseRunAs("1000:0"), { uid: 1000, gid: 0 });
  for (const bad of ["0", "0:0", "root", "-1", "1000:", ":1000", "1.5", "99999999999"]) {
    assert.throws(() => parseRunAs(bad), UsageError, bad);
  }
});

Deno.test("--s3-endpoint-in-cluster takes an http or https URL", () => {
  const parse = parseEndpoint("--s3-endpoint-in-cluster");
  assert.equal(parse("http://10.88.0.1:9000"), "http://10.88.0.1:9000");
  for (const bad of ["minio:9000", "ftp://x", ""]) assert.throws(() => parse(bad), UsageError);
});

Deno.test("pods get the in-cluster S3 endpoint; a loopback one alone gets a warning", () => {
  const laptop = { AWS_ENDPOINT_URL_S3: "http://127.0.0.1:9000", AWS_REGION: "eu-west-1" };
  assert.deepEqual(podS3Env(laptop, "http://minio.storage:9000"), {
    env: { AWS_ENDPOINT_URL_S3: "http://minio.storage:9000", AWS_REGION: "eu-west-1" },
  });
  assert.match(
    podS3Env(laptop).warning!,
    /127\.0\.0\.1:9000 is a loopback address.*--s3-endpoint-in-cluster/,
  );
  assert.ok(podS3Env({ AWS_ENDPOINT_URL: "http://localhost:9000" }).warning);
  assert.ok(podS3Env({ AWS_ENDPOINT_URL_S3: "http://[::1]:9000" }).warning);
  assert.equal(podS3Env({ AWS_ENDPOINT_URL_S3: "http://10.88.0.1:9000" }).warning, undefined);
  assert.equal(podS3Env({}).warning, undefined);
});

Deno.test("pods run as the owner of a local data dir, never as root", async () => {
  const root = await Deno.makeTempDir({ prefix: "kt-data-access-" });
  try {
    await Deno.mkdir(`${root}/owned`);
    await Deno.chown(`${root}/owned`, 1234, 4321);
    assert.deepEqual(await podUser(`${root}/owned`), { uid: 1234, gid: 4321 });
    assert.deepEqual(await podUser(`${root}/owned`, { uid: 99, gid: 99 }), { uid: 99, gid: 99 });
    if (Deno.uid() === 0) {
      await Deno.mkdir(`${root}/rooted`);
      await assert.rejects(podUser(`${root}/rooted`), /is owned by root.*--run-as/);
      await assert.rejects(podUser(`${root}/missing`), /would be made by root/);
      await assert.rejects(Deno.stat(`${root}/missing`), Deno.errors.NotFound);
      assert.deepEqual(await podUser(`${root}/made`, { uid: 77, gid: 78 }), { uid: 77, gid: 78 });
      const made = await Deno.stat(`${root}/made`);
      assert.deepEqual([made.uid, made.gid], [77, 78]);
    } else {
      assert.deepEqual(await podUser(`${root}/made`), { uid: Deno.uid(), gid: Deno.gid() });
    }
    await Deno.writeTextFile(`${root}/file`, "");
    await assert.rejects(podUser(`${root}/file`), /is not a folder/);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});
