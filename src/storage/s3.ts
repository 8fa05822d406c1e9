/**
 * The S3 storage driver: a data dir that is `s3://bucket/prefix` on AWS S3 or an
 * S3-compatible store. Folders are key prefixes; `mkdir` leaves a marker object
 * (`folder/`) so that empty folders exist, as on a local disk.
 *
 * Credentials come from the AWS SDK's default chain (environment, web identity as EKS
 * service accounts use it, profiles, instance roles). The SDK retries throttling and 5xx
 * answers a few times (standard retry mode); longer outages are ridden out by the retrying
 * driver that wraps this one (`retrying.ts`), which errors mark `transient` for. The SDK is loaded on first use, so a run that never
 * touches S3 does not pay for it.
 *
 * @module
 */
import type { S3Client } from "@aws-sdk/client-s3";
import { type EntryInfo, NotFoundError, type StorageDriver } from "./driver.ts";
import { PathEscapeError } from "./guard.ts";

/** Where to reach the store: flags of the CLI, or the environment. */
export interface S3Options {
  /** Endpoint URL of an S3-compatible store (default: AWS_ENDPOINT_URL_S3, AWS_ENDPOINT_URL). */
  endpoint?: string;
  /** Path-style addressing (default: KT_S3_FORCE_PATH_STYLE=true). */
  pathStyle?: boolean;
  /** Region (default: AWS_REGION, AWS_DEFAULT_REGION, then us-east-1). */
  region?: string;
}

/** Environment variables that carry S3 settings (and the retry bound) to the controller and the pods. */
export const S3_ENV = [
  "KT_STORAGE_RETRY_SECONDS",
  "AWS_ENDPOINT_URL_S3",
  "AWS_ENDPOINT_URL",
  "KT_S3_FORCE_PATH_STYLE",
  "AWS_REGION",
  "AWS_DEFAULT_REGION",
] as const;

/** The S3 settings of this process's environment, to pass on to the controller and pods. */
export function s3EnvForPods(): Record<string, string> {
  const env: Record<string, string> = {};
  for (const name of S3_ENV) {
    const value = Deno.env.get(name);
    if (value) env[name] = value;
  }
  return env;
}

/** Splits `s3://bucket/prefix` into bucket and prefix (no slashes at either end). */
export function parseS3Url(url: string): { bucket: string; prefix: string } {
  const match = /^s3:\/\/([^/]+)\/*(.*?)\/*$/.exec(url);
  if (!match || !/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(match[1])) {
    throw new Error(`not an S3 data dir: ${JSON.stringify(url)} (expected s3://bucket/prefix)`);
  }
  return { bucket: match[1], prefix: match[2] };
}

/**
 * An S3 error, with the S3 error code and the URL it concerns in its message. `transient`
 * says whether trying again later may work (an outage, throttling), for the retrying driver.
 */
export class S3Error extends Error {
  constructor(
    readonly code: string,
    readonly url: string,
    detail: string,
    readonly transient = false,
  ) {
    super(`S3 ${code} for ${url}: ${detail}`);
    this.name = "S3Error";
  }
}

type Sdk = typeof import("@aws-sdk/client-s3");

function errorCode(error: unknown): string {
  const e = error as {
    name?: string;
    Code?: string;
    code?: string;
    $metadata?: { httpStatusCode?: number };
  };
  return e.Code ?? (e.name && e.name !== "Error" ? e.name : undefined) ?? e.code ?? "Error";
}

const TRANSIENT_CODES = new Set([
  "SlowDown",
  "Throttling",
  "ThrottlingException",
  "RequestLimitExceeded",
  "TooManyRequestsException",
  "RequestTimeout",
  "RequestTimeoutException",
  "TimeoutError",
  "InternalError",
  "ServiceUnavailable",
  "XMinioServerNotInitialized",
  "ECONNREFUSED",
  "ECONNRESET",
  "ECONNABORTED",
  "EPIPE",
  "ETIMEDOUT",
  "EAI_AGAIN",
  "EHOSTUNREACH",
  "ENETUNREACH",
]);

/** True for an outage, throttling, a reset or a timeout: an error worth trying again later. */
export function isTransientS3(error: unknown): boolean {
  const e = error as {
    name?: string;
    Code?: string;
    code?: string;
    message?: string;
    $retryable?: unknown;
    $metadata?: { httpStatusCode?: number };
  };
  const status = e.$metadata?.httpStatusCode ?? 0;
  if (status >= 500 || status === 429 || e.$retryable) return true;
  if ([e.Code, e.name, e.code].some((code) => code !== undefined && TRANSIENT_CODES.has(code))) {
    return true;
  }
  return status === 0 &&
    /ECONNREFUSED|ECONNRESET|EPIPE|ETIMEDOUT|socket hang up|connection (refused|reset|closed)|timed? ?out/i
      .test(e.message ?? "");
}

function isMissing(error: unknown): boolean {
  const code = errorCode(error);
  const status = (error as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
  return code === "NoSuchKey" || code === "NotFound" || status === 404 && code !== "NoSuchBucket";
}

/**
 * A {@linkcode StorageDriver} over an S3 bucket and prefix.
 *
 * @example
 * ```ts ignore
 * import { S3Driver } from "./s3.ts";
 * const store = new S3Driver("s3://my-bucket/runs", { endpoint: "http://127.0.0.1:9000", pathStyle: true });
 * await store.write("hello.txt", new TextEncoder().encode("hi"));
 * ```
 */
export class S3Driver implements StorageDriver {
  readonly bucket: string;
  readonly prefix: string;
  #client?: Promise<{ sdk: Sdk; client: S3Client }>;

  constructor(readonly root: string, readonly options: S3Options = {}) {
    ({ bucket: this.bucket, prefix: this.prefix } = parseS3Url(root));
  }

  #connect(): Promise<{ sdk: Sdk; client: S3Client }> {
    return this.#client ??= (async () => {
      const sdk = await import("@aws-sdk/client-s3");
      const env = (name: string) => Deno.env.get(name) || undefined;
      const endpoint = this.options.endpoint ?? env("AWS_ENDPOINT_URL_S3") ??
        env("AWS_ENDPOINT_URL");
      const client = new sdk.S3Client({
        region: this.options.region ?? env("AWS_REGION") ?? env("AWS_DEFAULT_REGION") ??
          "us-east-1",
        ...(endpoint ? { endpoint } : {}),
        forcePathStyle: this.options.pathStyle ?? env("KT_S3_FORCE_PATH_STYLE") === "true",
        // Few attempts here: the retrying driver around this one owns the time bound.
        maxAttempts: 3,
        retryMode: "standard",
        requestHandler: { connectionTimeout: 10_000, requestTimeout: 60_000 },
      });
      return { sdk, client };
    })();
  }

  #key(path: string): string {
    return this.prefix ? (path ? `${this.prefix}/${path}` : this.prefix) : path;
  }

  /** The key prefix of a folder's contents (`prefix/path/`, or `prefix/` for the root). */
  #folder(path: string): string {
    const key = this.#key(path);
    return key ? `${key}/` : "";
  }

  #url(path: string): string {
    return `s3://${this.bucket}/${this.#key(path)}`;
  }

  async #call<T>(path: string, send: (sdk: Sdk, client: S3Client) => Promise<T>): Promise<T> {
    const { sdk, client } = await this.#connect();
    try {
      return await send(sdk, client);
    } catch (error) {
      if (isMissing(error)) throw new NotFoundError(path, this.root, `S3 ${errorCode(error)}`);
      throw new S3Error(
        errorCode(error),
        this.#url(path),
        (error as Error).message,
        isTransientS3(error),
      );
    }
  }

  async read(path: string): Promise<Uint8Array> {
    return await this.#call(path, async (sdk, client) => {
      const out = await client.send(
        new sdk.GetObjectCommand({ Bucket: this.bucket, Key: this.#key(path) }),
      );
      return await out.Body!.transformToByteArray();
    });
  }

  async write(path: string, data: Uint8Array): Promise<void> {
    await this.#call(
      path,
      (sdk, client) =>
        client.send(
          new sdk.PutObjectCommand({ Bucket: this.bucket, Key: this.#key(path), Body: data }),
        ),
    );
  }

  /** Appends by reading and rewriting the object: not safe against concurrent appends. */
  async append(path: string, data: Uint8Array): Promise<void> {
    let old: Uint8Array = new Uint8Array();
    try {
      old = await this.read(path);
    } catch (error) {
      if (!(error instanceof NotFoundError)) throw error;
    }
    const both = new Uint8Array(old.length + data.length);
    both.set(old);
    both.set(data, old.length);
    await this.write(path, both);
  }

  async readStream(path: string): Promise<ReadableStream<Uint8Array>> {
    return await this.#call(path, async (sdk, client) => {
      const out = await client.send(
        new sdk.GetObjectCommand({ Bucket: this.bucket, Key: this.#key(path) }),
      );
      return out.Body!.transformToWebStream() as ReadableStream<Uint8Array>;
    });
  }

  /** Streams to the object, in parts of 8 MiB (a multipart upload when it is larger). */
  async writeStream(path: string, stream: ReadableStream<Uint8Array>): Promise<void> {
    const { client } = await this.#connect();
    const { Upload } = await import("@aws-sdk/lib-storage");
    try {
      await new Upload({
        client,
        params: { Bucket: this.bucket, Key: this.#key(path), Body: stream },
        partSize: 8 * 2 ** 20,
        queueSize: 2,
      }).done();
    } catch (error) {
      throw new S3Error(errorCode(error), this.#url(path), (error as Error).message);
    }
  }

  async stat(path: string): Promise<EntryInfo | null> {
    if (path !== "") {
      try {
        const head = await this.#call(
          path,
          (sdk, client) =>
            client.send(new sdk.HeadObjectCommand({ Bucket: this.bucket, Key: this.#key(path) })),
        );
        return {
          path,
          type: "file",
          size: head.ContentLength ?? 0,
          mtime: head.LastModified ?? null,
        };
      } catch (error) {
        if (!(error instanceof NotFoundError)) throw error;
      }
    }
    const listed = await this.#call(
      path,
      (sdk, client) =>
        client.send(
          new sdk.ListObjectsV2Command({
            Bucket: this.bucket,
            Prefix: this.#folder(path),
            MaxKeys: 1,
          }),
        ),
    );
    if (path === "" || (listed.KeyCount ?? 0) > 0) {
      return { path, type: "directory", size: 0, mtime: null };
    }
    return null;
  }

  async #listAll(prefix: string, delimiter?: string) {
    const keys: { key: string; size: number; mtime: Date | null }[] = [];
    const folders: string[] = [];
    let token: string | undefined;
    do {
      const page = await this.#call(prefix, (sdk, client) =>
        client.send(
          new sdk.ListObjectsV2Command({
            Bucket: this.bucket,
            Prefix: prefix,
            Delimiter: delimiter,
            ContinuationToken: token,
          }),
        ));
      for (const object of page.Contents ?? []) {
        keys.push({ key: object.Key!, size: object.Size ?? 0, mtime: object.LastModified ?? null });
      }
      for (const common of page.CommonPrefixes ?? []) folders.push(common.Prefix!);
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
    return { keys, folders };
  }

  async list(path: string): Promise<string[]> {
    const folder = this.#folder(path);
    const { keys, folders } = await this.#listAll(folder, "/");
    const names = [
      ...folders.map((f) => f.slice(folder.length, -1)),
      ...keys.filter((k) => k.key !== folder).map((k) => k.key.slice(folder.length)),
    ];
    if (names.length === 0 && keys.length === 0 && path !== "") {
      const info = await this.stat(path);
      if (info === null) throw new NotFoundError(path, this.root);
      if (info.type === "file") {
        throw new Error(`not a directory in data dir ${this.root}: ${path}`);
      }
    }
    return [...new Set(names)].sort();
  }

  async walk(path: string): Promise<EntryInfo[]> {
    const folder = this.#folder(path);
    const base = path ? `${path}/` : "";
    const entries = new Map<string, EntryInfo>();
    for (const { key, size, mtime } of (await this.#listAll(folder)).keys) {
      const relative = key.slice(folder.length);
      const parts = relative.split("/");
      for (let i = 1; i < parts.length; i++) {
        const dir = base + parts.slice(0, i).join("/");
        if (parts.slice(0, i).join("/")) {
          entries.set(dir, { path: dir, type: "directory", size: 0, mtime: null });
        }
      }
      if (!relative.endsWith("/") && relative) {
        entries.set(base + relative, { path: base + relative, type: "file", size, mtime });
      }
    }
    return [...entries.values()].sort((a, b) => a.path < b.path ? -1 : a.path > b.path ? 1 : 0);
  }

  async mkdir(path: string): Promise<void> {
    if (path === "") return;
    await this.#call(
      path,
      (sdk, client) =>
        client.send(
          new sdk.PutObjectCommand({
            Bucket: this.bucket,
            Key: this.#folder(path),
            Body: new Uint8Array(),
          }),
        ),
    );
  }

  async remove(path: string): Promise<void> {
    const info = await this.stat(path);
    if (info === null) throw new NotFoundError(path, this.root);
    if (info.type === "directory") {
      throw new Error(`not a file in data dir ${this.root}: ${path} (use rmdir)`);
    }
    await this.#call(
      path,
      (sdk, client) =>
        client.send(new sdk.DeleteObjectCommand({ Bucket: this.bucket, Key: this.#key(path) })),
    );
  }

  async rmdir(path: string): Promise<void> {
    if (path === "") throw new PathEscapeError(path, "removing the data dir's root is refused");
    const { keys } = await this.#listAll(this.#folder(path));
    if (keys.length === 0) throw new NotFoundError(path, this.root);
    for (let i = 0; i < keys.length; i += 1000) {
      const batch = keys.slice(i, i + 1000).map((k) => ({ Key: k.key }));
      await this.#call(
        path,
        (sdk, client) =>
          client.send(
            new sdk.DeleteObjectsCommand({
              Bucket: this.bucket,
              Delete: { Objects: batch, Quiet: true },
            }),
          ),
      );
    }
  }

  /** Stops a run early when the bucket is missing, the credentials are bad or the endpoint is unreachable. */
  async check(): Promise<void> {
    const { sdk, client } = await this.#connect();
    try {
      await client.send(
        new sdk.ListObjectsV2Command({ Bucket: this.bucket, Prefix: this.#folder(""), MaxKeys: 1 }),
      );
    } catch (error) {
      const code = errorCode(error);
      const url = `s3://${this.bucket}/${this.prefix}`;
      const message = (error as Error).message;
      if (code === "NoSuchBucket") {
        throw new S3Error(code, url, `the bucket ${this.bucket} does not exist`);
      }
      if (
        [
          "InvalidAccessKeyId",
          "SignatureDoesNotMatch",
          "AccessDenied",
          "CredentialsProviderError",
          "ExpiredToken",
          "InvalidToken",
        ].includes(code)
      ) {
        throw new S3Error(code, url, `the credentials were refused or are missing: ${message}`);
      }
      if (
        /ECONNREFUSED|ENOTFOUND|EAI_AGAIN|ETIMEDOUT|connect|Connection refused|fetch failed/i.test(
          `${code} ${message}`,
        )
      ) {
        throw new S3Error(code, url, `the endpoint cannot be reached: ${message}`);
      }
      throw new S3Error(code, url, message);
    }
  }
}
