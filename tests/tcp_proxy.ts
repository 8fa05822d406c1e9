/**
 * A TCP proxy on loopback that a test can stop and start again, to take a server away
 * from one client (connections refused, open ones reset) and give it back, or blackhole:
 * connections stay open and what is sent is dropped, as when a network path dies
 * without anyone being told.
 *
 * @module
 */
import { freePort } from "./ports.ts";

/** Forwards `127.0.0.1:port` to a target address while started. */
export class TcpProxy {
  readonly port = freePort();
  /** While true, bytes are read from both sides and dropped. */
  blackholed = false;
  /** Bytes the target has sent to clients through this proxy. */
  served = 0;
  #listener?: Deno.Listener;
  readonly #conns = new Set<Deno.Conn>();

  constructor(readonly target: { hostname: string; port: number }) {}

  async #pump(from: Deno.Conn, to: Deno.Conn, served = false): Promise<void> {
    const buffer = new Uint8Array(64 * 1024);
    for (let n = await from.read(buffer); n !== null; n = await from.read(buffer)) {
      if (this.blackholed) continue;
      if (served) this.served += n;
      for (let sent = 0; sent < n;) sent += await to.write(buffer.subarray(sent, n));
    }
  }

  /** Accepts and forwards connections. */
  start(): void {
    const listener = Deno.listen({ hostname: "127.0.0.1", port: this.port });
    this.#listener = listener;
    (async () => {
      for await (const client of listener) {
        try {
          const upstream = await Deno.connect(this.target);
          const pair = [client, upstream];
          for (const conn of pair) this.#conns.add(conn);
          Promise.all([this.#pump(client, upstream), this.#pump(upstream, client, true)])
            .catch(() => {})
            .finally(() => {
              for (const conn of pair) this.#close(conn);
            });
        } catch {
          client.close();
        }
      }
    })().catch(() => {});
  }

  #close(conn: Deno.Conn): void {
    this.#conns.delete(conn);
    try {
      conn.close();
    } catch { /* closed already */ }
  }

  /** Closes the listener and every open connection. */
  stop(): void {
    this.#listener?.close();
    this.#listener = undefined;
    for (const conn of [...this.#conns]) this.#close(conn);
  }
}
