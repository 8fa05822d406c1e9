/**
 * A TCP proxy on loopback that a test can stop and start again, to take a server away
 * from one client (connections refused, open ones reset) and give it back.
 *
 * @module
 */
import { freePort } from "./ports.ts";

/** Forwards `127.0.0.1:port` to a target address while started. */
export class TcpProxy {
  readonly port = freePort();
  #listener?: Deno.Listener;
  readonly #conns = new Set<Deno.Conn>();

  constructor(readonly target: { hostname: string; port: number }) {}

  /** Accepts and forwards connections. */
  start(): void {
    const listener = Deno.listen({ hostname: "127.0.0.1", port: this.port });
    this.#listener = listener;
    (async () => {
      for await (const client of listener) {
        try {
          const upstream = await Deno.connect(this.target);
          for (const conn of [client, upstream]) this.#conns.add(conn);
          const close = () => {
            for (const conn of [client, upstream]) {
              this.#conns.delete(conn);
              try {
                conn.close();
              } catch { /* closed already */ }
            }
          };
          Promise.all([
            client.readable.pipeTo(upstream.writable),
            upstream.readable.pipeTo(client.writable),
          ]).catch(() => {}).finally(close);
        } catch {
          client.close();
        }
      }
    })().catch(() => {});
  }

  /** Closes the listener and every open connection. */
  stop(): void {
    this.#listener?.close();
    this.#listener = undefined;
    for (const conn of this.#conns) {
      try {
        conn.close();
      } catch { /* closed already */ }
    }
    this.#conns.clear();
  }
}
