/**
 * The S3 storage driver: a data dir that is `s3://bucket/prefix` on AWS S3 or an
 * S3-compatible store. Folders are key prefixes; `mkdir` leaves a marker object
 * (`folder/`) so that empty folders exist, as on a local disk: the folder logic is
 * `object_driver.ts`'s, as for GCS and Azure, over the {@linkcode S3Store} here.
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
import { type EntryInfo, NotFoundError } from "./driver.ts";
import {
  ObjectDriver,
  type ObjectInfo,
  type ObjectPage,
  type ObjectStore,
} from "./object_driver.ts";

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
 * A {@linkcode StorageDriver} over an S3 bucket and prefix: the folder logic of
 * {@linkcode ObjectDriver} over an {@linkcode S3Store}, plus what S3 does on its own
 * (the root's `stat` asks the bucket).
 *
 * @example
 * ```ts ignore
 * import { S3Driver } from "./s3.ts";
 * const store = new S3Driver("s3://my-bucket/runs", { endpoint: "http://127.0.0.1:9000", pathStyle: true });
 * await store.write("hello.txt", new TextEncoder().encode("hi"));
 * ```
 */
export class S3Driver extends ObjectDriver {
  readonly bucket: string;

  constructor(root: string, readonly options: S3Options = {}) {
    const { bucket, prefix } = parseS3Url(root);
    super(root, prefix, new S3Store(bucket, prefix, root, options));
    this.bucket = bucket;
  }

  /** The root is a folder even when empty; asking still reports a missing bucket or an outage. */
  override async stat(path: string): Promise<EntryInfo | null> {
    if (path === "") {
      await this.store.list(this.prefix ? `${this.prefix}/` : "", undefined, undefined, 1);
    }
    return await super.stat(path);
  }
}

/**
 * An {@linkcode ObjectStore} over one S3 bucket. A missing object is a
 * {@linkcode NotFoundError} naming the S3 error code (for reads) or `null` (for `head`);
 * other failures are {@linkcode S3Error}s, `transient` when trying again later may work.
 */
export class S3Store implements ObjectStore {
  #client?: Promise<{ sdk: Sdk; client: S3Client }>;

  /** `prefix` and `root` are the data dir's, to name paths and URLs in errors. */
  constructor(
    readonly bucket: string,
    readonly prefix: string,
    readonly root: string,
    readonly options: S3Options = {},
  ) {}

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

  /** The data dir path of a key (the key itself when it is outside the prefix). */
  #path(key: string): string {
    if (!this.prefix) return key;
    if (key === this.prefix) return "";
    return key.startsWith(`${this.prefix}/`) ? key.slice(this.prefix.length + 1) : key;
  }

  #url(key: string): string {
    return `s3://${this.bucket}/${key}`;
  }

  async #call<T>(key: string, send: (sdk: Sdk, client: S3Client) => Promise<T>): Promise<T> {
    const { sdk, client } = await this.#connect();
    try {
      return await send(sdk, client);
    } catch (error) {
      if (isMissing(error)) {
        throw new NotFoundError(this.#path(key), this.root, `S3 ${errorCode(error)}`);
      }
      throw new S3Error(
        errorCode(error),
        this.#url(key),
        (error as Error).message,
        isTransientS3(error),
      );
    }
  }

  /** Never `null`: a missing object is a {@linkcode NotFoundError} with the S3 code. */
  get(key: string): Promise<Uint8Array> {
    return this.#call(key, async (sdk, client) => {
      const out = await client.send(new sdk.GetObjectCommand({ Bucket: this.bucket, Key: key }));
      return await out.Body!.transformToByteArray();
    });
  }

  /** Never `null`: a missing object is a {@linkcode NotFoundError} with the S3 code. */
  getStream(key: string): Promise<ReadableStream<Uint8Array>> {
    return this.#call(key, async (sdk, client) => {
      const out = await client.send(new sdk.GetObjectCommand({ Bucket: this.bucket, Key: key }));
      return out.Body!.transformToWebStream() as ReadableStream<Uint8Array>;
    });
  }

  /** A ranged GET; a range that starts past the end (S3's `InvalidRange`) is empty. */
  async getRange(key: string, offset: number, length: number): Promise<Uint8Array> {
    try {
      return await this.#call(key, async (sdk, client) => {
        const out = await client.send(
          new sdk.GetObjectCommand({
            Bucket: this.bucket,
            Key: key,
            Range: `bytes=${offset}-${offset + length - 1}`,
          }),
        );
        return await out.Body!.transformToByteArray();
      });
    } catch (error) {
      if (error instanceof S3Error && error.code === "InvalidRange") return new Uint8Array();
      throw error;
    }
  }

  async put(key: string, data: Uint8Array): Promise<void> {
    await this.#call(
      key,
      (sdk, client) =>
        client.send(new sdk.PutObjectCommand({ Bucket: this.bucket, Key: key, Body: data })),
    );
  }

  /** Streams to the object, in parts of 8 MiB (a multipart upload when it is larger). */
  async putStream(key: string, stream: ReadableStream<Uint8Array>): Promise<void> {
    const { client } = await this.#connect();
    const { Upload } = await import("@aws-sdk/lib-storage");
    try {
      await new Upload({
        client,
        params: { Bucket: this.bucket, Key: key, Body: stream },
        partSize: 8 * 2 ** 20,
        queueSize: 2,
      }).done();
    } catch (error) {
      throw new S3Error(errorCode(error), this.#url(key), (error as Error).message);
    }
  }

  async head(key: string): Promise<Omit<ObjectInfo, "key"> | null> {
    try {
      const head = await this.#call(
        key,
        (sdk, client) => client.send(new sdk.HeadObjectCommand({ Bucket: this.bucket, Key: key })),
      );
      const sum = head.ChecksumSHA256 ? `s3-sha256:${head.ChecksumSHA256}` : undefined;
      const tag = sum ?? (head.ETag ? `s3-etag:${head.ETag.replaceAll('"', "")}` : undefined);
      return { size: head.ContentLength ?? 0, mtime: head.LastModified ?? null, tag };
    } catch (error) {
      if (error instanceof NotFoundError) return null;
      throw error;
    }
  }

  async list(
    prefix: string,
    delimiter: "/" | undefined,
    page?: string,
    limit?: number,
  ): Promise<ObjectPage> {
    const out = await this.#call(prefix, (sdk, client) =>
      client.send(
        new sdk.ListObjectsV2Command({
          Bucket: this.bucket,
          Prefix: prefix,
          Delimiter: delimiter,
          ContinuationToken: page,
          MaxKeys: limit,
        }),
      ));
    return {
      objects: (out.Contents ?? []).map((object) => ({
        key: object.Key!,
        size: object.Size ?? 0,
        mtime: object.LastModified ?? null,
      })),
      folders: (out.CommonPrefixes ?? []).map((common) => common.Prefix!),
      next: out.IsTruncated ? out.NextContinuationToken : undefined,
    };
  }

  /** One key with DeleteObject, more with DeleteObjects in batches of 1,000. */
  async delete(keys: string[]): Promise<void> {
    if (keys.length === 1) {
      await this.#call(
        keys[0],
        (sdk, client) =>
          client.send(new sdk.DeleteObjectCommand({ Bucket: this.bucket, Key: keys[0] })),
      );
      return;
    }
    for (let i = 0; i < keys.length; i += 1000) {
      const batch = keys.slice(i, i + 1000).map((key) => ({ Key: key }));
      await this.#call(
        batch[0].Key,
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
  async check(prefix: string): Promise<void> {
    const { sdk, client } = await this.#connect();
    try {
      await client.send(
        new sdk.ListObjectsV2Command({ Bucket: this.bucket, Prefix: prefix, MaxKeys: 1 }),
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
