/**
 * The Google Cloud Storage driver: a data dir that is `gs://bucket/prefix`, through the
 * official SDK (`@google-cloud/storage`), loaded on first use.
 *
 * Credentials are Application Default Credentials, as every Google client finds them:
 * Workload Identity on GKE, `GOOGLE_APPLICATION_CREDENTIALS` (a key file), or
 * `gcloud auth application-default login`. `STORAGE_EMULATOR_HOST` (the SDK's own
 * convention) points it at an emulator such as fake-gcs-server, without credentials.
 * The SDK does not retry: the retrying driver around this one does, within its bound.
 *
 * @module
 */
import type { ReadableStream as WebReadableStream } from "node:stream/web";
import type { Bucket, Storage } from "@google-cloud/storage";
import {
  inParallel,
  isTransientHttp,
  isUnreachable,
  ObjectDriver,
  type ObjectInfo,
  type ObjectPage,
  type ObjectStore,
  ObjectStoreError,
} from "./object_driver.ts";

/** Environment variables that carry GCS settings (not secrets) to the controller and the pods. */
export const GCS_ENV = ["STORAGE_EMULATOR_HOST", "GOOGLE_CLOUD_PROJECT"] as const;

/** Splits `gs://bucket/prefix` into bucket and prefix (no slashes at either end). */
export function parseGcsUrl(url: string): { bucket: string; prefix: string } {
  const match = /^gs:\/\/([^/]+)\/*(.*?)\/*$/.exec(url);
  if (!match || !/^[a-z0-9][a-z0-9._-]{1,220}[a-z0-9]$/.test(match[1])) {
    throw new Error(
      `not a GCS data dir: ${JSON.stringify(url)} (expected gs://bucket/prefix, ` +
        `the bucket 3-222 characters of a-z, 0-9, ".", "-" and "_")`,
    );
  }
  return { bucket: match[1], prefix: match[2] };
}

/**
 * Opens a `gs://bucket/prefix` data dir.
 *
 * @example
 * ```ts ignore
 * import { openGcs } from "./gcs.ts";
 * Deno.env.set("STORAGE_EMULATOR_HOST", "http://127.0.0.1:4443");
 * const store = openGcs("gs://my-bucket/runs");
 * await store.write("hello.txt", new TextEncoder().encode("hi"));
 * ```
 */
export function openGcs(url: string): ObjectDriver {
  const { bucket, prefix } = parseGcsUrl(url);
  return new ObjectDriver(url, prefix, new GcsStore(bucket));
}

const CREDENTIALS_HELP =
  "set GOOGLE_APPLICATION_CREDENTIALS to a service account key file, run `gcloud auth application-default login`, or use Workload Identity on GKE (STORAGE_EMULATOR_HOST=http://HOST:PORT for an emulator)";

/** `STORAGE_EMULATOR_HOST` as `http://host:port` (a scheme added, a trailing API path cut). */
function emulatorHost(): string | undefined {
  const value = Deno.env.get("STORAGE_EMULATOR_HOST");
  if (value === "") {
    throw new Error(
      "STORAGE_EMULATOR_HOST is empty: unset it, or give the emulator as http://HOST:PORT",
    );
  }
  if (value === undefined) return undefined;
  const url = /^https?:\/\//.test(value) ? value : `http://${value}`;
  return url.replace(/\/+$/, "").replace(/\/storage\/v1$/, "");
}

function statusOf(error: unknown): number | undefined {
  const e = error as { code?: unknown; status?: unknown; response?: { status?: number } };
  if (typeof e.code === "number") return e.code;
  if (typeof e.status === "number") return e.status;
  return e.response?.status;
}

function messageOf(error: unknown): string {
  const e = error as Error & { cause?: Error };
  return e.cause?.message && !e.message.includes(e.cause.message)
    ? `${e.message}: ${e.cause.message}`
    : e.message;
}

/**
 * How long an upload or a metadata call (head, list, delete) may go unanswered before it
 * fails as an outage and the client is built anew. On Deno the SDK's first upload after
 * the server dropped the client's connections can stall before it sends a byte, and the
 * SDK's own timeout does not cover that wait; without this bound such a write (a task's
 * output after a store outage) would hang forever. Shorter than the retrying driver's
 * bound, so that the try after it still falls within it.
 */
const ANSWER_TIMEOUT_MS = 20_000;

/**
 * Node's streams, loaded when a GCS store first needs them: a module of Node's loaded by
 * every process that opens a data dir (every worker, at its start) cost it 20 ms.
 */
async function nodeStreams() {
  const [{ Readable }, { pipeline }] = await Promise.all([
    import("node:stream"),
    import("node:stream/promises"),
  ]);
  return { Readable, pipeline };
}

/** An {@linkcode ObjectStore} over one GCS bucket. */
export class GcsStore implements ObjectStore {
  #bucket?: Promise<Bucket>;

  constructor(readonly bucket: string) {}

  #connect(): Promise<Bucket> {
    this.#bucket ??= (async () => {
      const { Storage, IdempotencyStrategy } = await import("@google-cloud/storage");
      const { EventEmitter } = await import("node:events");
      // Each download's stream (in teeny-request) carries 12 listeners on Deno's node
      // streams: a bounded count, not a leak, which would otherwise print a warning.
      EventEmitter.defaultMaxListeners = Math.max(EventEmitter.defaultMaxListeners, 20);
      const storage: Storage = new Storage({
        // No retries here: the retrying driver around this one owns them and their bound.
        retryOptions: { autoRetry: false, idempotencyStrategy: IdempotencyStrategy.RetryNever },
        timeout: 60_000,
      });
      const emulator = emulatorHost();
      if (emulator) {
        // The Node SDK takes the variable as its JSON API's base URL; the other SDKs (and
        // emulators' docs) give only the host, as here.
        Object.assign(storage, { apiEndpoint: emulator, baseUrl: `${emulator}/storage/v1` });
      }
      return storage.bucket(this.bucket);
    })();
    this.#bucket.catch(() => this.#bucket = undefined);
    return this.#bucket;
  }

  #fail(key: string, error: unknown): never {
    if (error instanceof ObjectStoreError) throw error;
    const status = statusOf(error);
    const message = messageOf(error);
    const code = status ? String(status) : (error as { code?: string }).code ?? "Error";
    throw new ObjectStoreError(
      "GCS",
      code,
      `gs://${this.bucket}/${key}`,
      message,
      isTransientHttp(status, message),
    );
  }

  async #call<T>(
    key: string,
    call: (bucket: Bucket) => Promise<T>,
    deadline = true,
  ): Promise<T | null> {
    const bucket = await this.#connect();
    try {
      return deadline ? await this.#answered(key, call(bucket)) : await call(bucket);
    } catch (error) {
      if (statusOf(error) === 404 && !/bucket/i.test(messageOf(error))) return null;
      this.#fail(key, error);
    }
  }

  /** `work`, or a transient error (and a new client next time) if it is not answered in time. */
  async #answered<T>(key: string, work: Promise<T>): Promise<T> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const late = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        this.#bucket = undefined;
        reject(
          new ObjectStoreError(
            "GCS",
            "Timeout",
            `gs://${this.bucket}/${key}`,
            `no answer in ${ANSWER_TIMEOUT_MS / 1000} s`,
            true,
          ),
        );
      }, ANSWER_TIMEOUT_MS);
    });
    work.catch(() => {}); // a call given up on may still fail later
    try {
      return await Promise.race([work, late]);
    } finally {
      clearTimeout(timer);
    }
  }

  async get(key: string): Promise<Uint8Array | null> {
    // A download's time grows with the object: the SDK's timeout (time to answer) bounds it.
    return await this.#call(key, async (bucket) => {
      const [data] = await bucket.file(key).download({ validation: false });
      return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
    }, false);
  }

  /** A ranged download; a range that starts past the end (HTTP 416) is empty. */
  async getRange(key: string, offset: number, length: number): Promise<Uint8Array | null> {
    try {
      return await this.#call(key, async (bucket) => {
        const [data] = await bucket.file(key).download({
          start: offset,
          end: offset + length - 1,
          validation: false,
        });
        return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
      }, false);
    } catch (error) {
      if ((error as ObjectStoreError).code === "416") return new Uint8Array();
      throw error;
    }
  }

  async getStream(key: string): Promise<ReadableStream<Uint8Array> | null> {
    // The object is checked first: the SDK reports a missing one only once read.
    if (await this.head(key) === null) return null;
    const bucket = await this.#connect();
    const stream = bucket.file(key).createReadStream({ validation: false });
    const { Readable } = await nodeStreams();
    return Readable.toWeb(stream) as ReadableStream<Uint8Array>;
  }

  async put(key: string, data: Uint8Array): Promise<void> {
    await this.#call(key, (bucket) => bucket.file(key).save(data, { resumable: false }));
  }

  async putStream(key: string, stream: ReadableStream<Uint8Array>): Promise<void> {
    const bucket = await this.#connect();
    const { Readable, pipeline } = await nodeStreams();
    try {
      await pipeline(
        Readable.fromWeb(stream as WebReadableStream),
        bucket.file(key).createWriteStream({ resumable: false, validation: false }),
      );
    } catch (error) {
      this.#fail(key, error);
    }
  }

  async head(key: string): Promise<Omit<ObjectInfo, "key"> | null> {
    return await this.#call(key, async (bucket) => {
      const [meta] = await bucket.file(key).getMetadata();
      const tag = meta.md5Hash
        ? `gcs-md5:${meta.md5Hash}`
        : meta.crc32c
        ? `gcs-crc32c:${meta.crc32c}:${meta.size}`
        : undefined;
      return {
        size: Number(meta.size ?? 0),
        mtime: meta.updated ? new Date(meta.updated) : null,
        tag,
      };
    });
  }

  async list(prefix: string, delimiter: "/" | undefined, page?: string): Promise<ObjectPage> {
    const result = await this.#call(prefix, async (bucket) => {
      const [files, next, response] = await bucket.getFiles({
        prefix,
        ...(delimiter ? { delimiter } : {}),
        autoPaginate: false,
        maxResults: 1000,
        ...(page ? { pageToken: page } : {}),
      });
      return {
        objects: files.map((file) => ({
          key: file.name,
          size: Number(file.metadata.size ?? 0),
          mtime: file.metadata.updated ? new Date(file.metadata.updated) : null,
        })),
        folders: (response as { prefixes?: string[] })?.prefixes ?? [],
        next: (next as { pageToken?: string } | null)?.pageToken || undefined,
      };
    });
    if (result === null) this.#fail(prefix, { code: 404, message: "the bucket does not exist" });
    return result;
  }

  async delete(keys: string[]): Promise<void> {
    await inParallel(keys, 16, async (key) => {
      await this.#call(key, (bucket) => bucket.file(key).delete({ ignoreNotFound: true }));
    });
  }

  /** Stops a run early when the bucket is missing, credentials are missing or refused, or the endpoint is unreachable. */
  async check(prefix: string): Promise<void> {
    const url = `gs://${this.bucket}/${prefix.replace(/\/$/, "")}`;
    const bucket = await this.#connect();
    try {
      await bucket.getFiles({ prefix, autoPaginate: false, maxResults: 1 });
    } catch (error) {
      const status = statusOf(error);
      const message = messageOf(error);
      const code = status ? String(status) : (error as { code?: string }).code ?? "Error";
      const fail = (detail: string) => {
        throw new ObjectStoreError("GCS", code, url, detail);
      };
      if (status === 404) fail(`the bucket ${this.bucket} does not exist`);
      if (status === 401 || status === 403) {
        fail(`the credentials were refused: ${message} (${CREDENTIALS_HELP})`);
      }
      if (/default credentials|credential|ENOENT.*json|invalid_grant|private_key/i.test(message)) {
        fail(`no usable credentials: ${message} (${CREDENTIALS_HELP})`);
      }
      if (isUnreachable(message)) fail(`the endpoint cannot be reached: ${message}`);
      fail(message);
    }
  }
}
