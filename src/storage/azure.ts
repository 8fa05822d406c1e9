/**
 * The Azure Blob Storage driver: a data dir that is `az://container/prefix`, or fsspec's
 * `abfs://container@account.dfs.core.windows.net/prefix` (also `abfss://`), through the
 * official SDK (`@azure/storage-blob`, with `@azure/identity`), loaded on first use.
 *
 * Credentials, first found wins: `AZURE_STORAGE_CONNECTION_STRING` (also how an emulator
 * such as Azurite is reached); `AZURE_STORAGE_ACCOUNT` (or the account of an `abfs://` URL)
 * with `AZURE_STORAGE_KEY`; that account with `DefaultAzureCredential` (AKS workload
 * identity, managed identity, `az login`, `AZURE_CLIENT_ID`/`AZURE_TENANT_ID`/...).
 * The SDK does not retry: the retrying driver around this one does, within its bound.
 *
 * @module
 */
import type { Readable } from "node:stream";
import type { ReadableStream as WebReadableStream } from "node:stream/web";
import type { ContainerClient, StoragePipelineOptions } from "@azure/storage-blob";
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

/** Environment variables that carry Azure settings (not secrets) to the controller and the pods. */
export const AZURE_ENV = ["AZURE_STORAGE_ACCOUNT", "AZURE_STORAGE_BLOB_ENDPOINT"] as const;

/** Where an Azure data dir lives: container, key prefix, and the account when the URL names it. */
export interface AzureLocation {
  container: string;
  prefix: string;
  account?: string;
}

const CONTAINER = /^[a-z0-9](?!.*--)[a-z0-9-]{1,61}[a-z0-9]$/;

/**
 * Splits `az://container/prefix` or `abfs[s]://container@account.dfs.core.windows.net/prefix`.
 *
 * @example
 * ```ts
 * import { parseAzureUrl } from "./azure.ts";
 * parseAzureUrl("az://data/runs/"); // { container: "data", prefix: "runs" }
 * ```
 */
export function parseAzureUrl(url: string): AzureLocation {
  const az = /^az:\/\/([^/@]+)\/*(.*?)\/*$/.exec(url);
  const abfs = /^abfss?:\/\/([^/@]+)@([a-z0-9]{3,24})\.dfs\.core\.windows\.net\/*(.*?)\/*$/.exec(
    url,
  );
  const container = az?.[1] ?? abfs?.[1];
  if (container === undefined || !CONTAINER.test(container)) {
    throw new Error(
      `not an Azure data dir: ${JSON.stringify(url)} (expected az://container/prefix or ` +
        `abfs://container@account.dfs.core.windows.net/prefix, the container 3-63 characters ` +
        `of a-z, 0-9 and "-")`,
    );
  }
  if (az) return { container, prefix: az[2] };
  return { container, prefix: abfs![3], account: abfs![2] };
}

/**
 * Opens an `az://` or `abfs://` data dir.
 *
 * @example
 * ```ts ignore
 * import { openAzure } from "./azure.ts";
 * const store = openAzure("az://my-container/runs");
 * await store.write("hello.txt", new TextEncoder().encode("hi"));
 * ```
 */
export function openAzure(url: string): ObjectDriver {
  const location = parseAzureUrl(url);
  return new ObjectDriver(url, location.prefix, new AzureStore(location, url));
}

const CREDENTIALS_HELP =
  "set AZURE_STORAGE_CONNECTION_STRING, or AZURE_STORAGE_ACCOUNT with AZURE_STORAGE_KEY or an Azure identity (workload identity, managed identity, az login)";

/** A data dir whose credentials are missing: nothing says which account or how to sign in. */
export class AzureCredentialsError extends Error {
  constructor(url: string) {
    super(`no Azure credentials for ${url}: ${CREDENTIALS_HELP}`);
    this.name = "AzureCredentialsError";
  }
}

function env(name: string): string | undefined {
  return Deno.env.get(name) || undefined;
}

async function containerClient(location: AzureLocation, url: string): Promise<ContainerClient> {
  const sdk = await import("@azure/storage-blob");
  // One attempt here: the retrying driver around this one owns retries and their bound.
  const options: StoragePipelineOptions = {
    retryOptions: { maxTries: 1, tryTimeoutInMs: 60_000 },
  };
  const connection = env("AZURE_STORAGE_CONNECTION_STRING");
  if (connection) {
    const named = /(?:^|;)AccountName=([^;]+)/i.exec(connection)?.[1];
    if (location.account && named && named !== location.account) {
      throw new Error(
        `${url} names account ${location.account} but AZURE_STORAGE_CONNECTION_STRING is for ${named}`,
      );
    }
    return sdk.BlobServiceClient.fromConnectionString(connection, options)
      .getContainerClient(location.container);
  }
  const account = location.account ?? env("AZURE_STORAGE_ACCOUNT");
  if (!account) throw new AzureCredentialsError(url);
  const endpoint = env("AZURE_STORAGE_BLOB_ENDPOINT") ?? `https://${account}.blob.core.windows.net`;
  const key = env("AZURE_STORAGE_KEY");
  const credential = key
    ? new sdk.StorageSharedKeyCredential(account, key)
    : new (await import("@azure/identity")).DefaultAzureCredential();
  return new sdk.BlobServiceClient(endpoint, credential, options)
    .getContainerClient(location.container);
}

function statusOf(error: unknown): number | undefined {
  return (error as { statusCode?: number }).statusCode;
}

function codeOf(error: unknown): string {
  const e = error as { code?: string; details?: { errorCode?: string }; statusCode?: number };
  return e.details?.errorCode ?? e.code ?? (e.statusCode ? String(e.statusCode) : "Error");
}

function messageOf(error: unknown): string {
  const text = (error as Error).message ?? String(error);
  return text.split("\n").map((line) => line.trim()).find(Boolean) ?? codeOf(error);
}

/** An {@linkcode ObjectStore} over one Azure Blob container. */
export class AzureStore implements ObjectStore {
  #client?: Promise<ContainerClient>;
  readonly #url: string;

  /** `root` is the data dir's URL, for messages. */
  constructor(readonly location: AzureLocation, readonly root: string) {
    this.#url = `az://${location.container}`;
  }

  #connect(): Promise<ContainerClient> {
    this.#client ??= containerClient(this.location, this.root);
    this.#client.catch(() => this.#client = undefined);
    return this.#client;
  }

  #fail(key: string, error: unknown): never {
    if (error instanceof AzureCredentialsError) throw error;
    const message = messageOf(error);
    throw new ObjectStoreError(
      "Azure",
      codeOf(error),
      `${this.#url}/${key}`,
      message,
      isTransientHttp(statusOf(error), `${codeOf(error)} ${message}`),
    );
  }

  async #call<T>(key: string, call: (client: ContainerClient) => Promise<T>): Promise<T | null> {
    try {
      return await call(await this.#connect());
    } catch (error) {
      if (statusOf(error) === 404 && codeOf(error) !== "ContainerNotFound") return null;
      this.#fail(key, error);
    }
  }

  async get(key: string): Promise<Uint8Array | null> {
    return await this.#call(key, async (client) => {
      const data = await client.getBlockBlobClient(key).downloadToBuffer();
      return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
    });
  }

  /** A ranged download; a range that starts past the end (HTTP 416) is empty. */
  async getRange(key: string, offset: number, length: number): Promise<Uint8Array | null> {
    try {
      return await this.#call(key, async (client) => {
        const body = (await client.getBlobClient(key).download(offset, length))
          .readableStreamBody!;
        const out = new Uint8Array(length);
        let filled = 0;
        for await (const chunk of body as AsyncIterable<Uint8Array>) {
          out.set(chunk.subarray(0, length - filled), filled);
          filled += Math.min(chunk.length, length - filled);
        }
        return out.subarray(0, filled);
      });
    } catch (error) {
      const code = (error as ObjectStoreError).code;
      if (code === "InvalidRange" || code === "416") return new Uint8Array();
      throw error;
    }
  }

  async getStream(key: string): Promise<ReadableStream<Uint8Array> | null> {
    return await this.#call(key, async (client) => {
      const body = (await client.getBlobClient(key).download()).readableStreamBody!;
      // Loaded here, not with this module: every process that opens a data dir loads it.
      const { Readable } = await import("node:stream");
      return Readable.toWeb(body as Readable) as ReadableStream<Uint8Array>;
    });
  }

  async put(key: string, data: Uint8Array): Promise<void> {
    await this.#call(key, (client) => client.getBlockBlobClient(key).upload(data, data.length));
  }

  /** Uploads blocks of 8 MiB and commits the block list: the blob appears whole. */
  async putStream(key: string, stream: ReadableStream<Uint8Array>): Promise<void> {
    try {
      const client = await this.#connect();
      const { Readable } = await import("node:stream");
      await client.getBlockBlobClient(key).uploadStream(
        Readable.fromWeb(stream as WebReadableStream),
        8 << 20,
        2,
      );
    } catch (error) {
      this.#fail(key, error);
    }
  }

  async head(key: string): Promise<Omit<ObjectInfo, "key"> | null> {
    return await this.#call(key, async (client) => {
      const properties = await client.getBlobClient(key).getProperties();
      const md5 = properties.contentMD5;
      const tag = md5?.length
        ? `azure-md5:${btoa(String.fromCharCode(...md5))}`
        : properties.etag
        ? `azure-etag:${properties.etag.replaceAll('"', "")}`
        : undefined;
      return {
        size: properties.contentLength ?? 0,
        mtime: properties.lastModified ?? null,
        tag,
      };
    });
  }

  async list(prefix: string, delimiter: "/" | undefined, page?: string): Promise<ObjectPage> {
    const result = await this.#call(prefix, async (client) => {
      const pages = delimiter
        ? client.listBlobsByHierarchy(delimiter, { prefix }).byPage({
          continuationToken: page,
          maxPageSize: 1000,
        })
        : client.listBlobsFlat({ prefix }).byPage({ continuationToken: page, maxPageSize: 1000 });
      const { value } = await pages.next();
      const segment = value?.segment as {
        blobItems: { name: string; properties: { contentLength?: number; lastModified?: Date } }[];
        blobPrefixes?: { name: string }[];
      };
      return {
        objects: (segment?.blobItems ?? []).map((blob) => ({
          key: blob.name,
          size: blob.properties.contentLength ?? 0,
          mtime: blob.properties.lastModified ?? null,
        })),
        folders: (segment?.blobPrefixes ?? []).map((p) => p.name),
        next: value?.continuationToken || undefined,
      };
    });
    return result ?? { objects: [], folders: [] };
  }

  async delete(keys: string[]): Promise<void> {
    await inParallel(keys, 16, async (key) => {
      await this.#call(key, (client) => client.getBlobClient(key).deleteIfExists());
    });
  }

  /** Stops a run early when the container is missing, credentials are missing or refused, or the endpoint is unreachable. */
  async check(prefix: string): Promise<void> {
    const url = `${this.#url}/${prefix.replace(/\/$/, "")}`;
    let client: ContainerClient;
    try {
      client = await this.#connect();
    } catch (error) {
      if (error instanceof AzureCredentialsError) throw error;
      throw new ObjectStoreError("Azure", "Error", url, messageOf(error));
    }
    try {
      await client.listBlobsFlat({ prefix }).byPage({ maxPageSize: 1 }).next();
    } catch (error) {
      const code = codeOf(error);
      const status = statusOf(error);
      const message = messageOf(error);
      const fail = (detail: string) => {
        throw new ObjectStoreError("Azure", code, url, detail);
      };
      if (code === "ContainerNotFound") {
        fail(`the container ${this.location.container} does not exist`);
      }
      if (
        status === 401 || status === 403 || /Authentication|Authorization|credential/i.test(code)
      ) {
        fail(`the credentials were refused: ${message} (${CREDENTIALS_HELP})`);
      }
      if (/CredentialUnavailable|AggregateAuthentication|credential/i.test(`${code} ${message}`)) {
        fail(`no usable credentials: ${message} (${CREDENTIALS_HELP})`);
      }
      if (isUnreachable(`${code} ${message}`) || code === "REQUEST_SEND_ERROR") {
        fail(`the endpoint cannot be reached: ${message}`);
      }
      fail(message);
    }
  }
}
