import { createServer, connect, type Server, type Socket } from 'node:net';

export type ProxyMode = 'forward' | 'refuse' | 'silent';

/**
 * A TCP proxy on 127.0.0.1 between a client and one upstream, for fault tests:
 * - forward: bytes flow both ways;
 * - refuse: nothing listens on the port (connections are refused), open connections are reset;
 * - silent: connections are accepted and kept open, and nothing comes back (a stalled peer);
 *   open connections stop forwarding in both directions.
 * Leaving `silent` or `refuse` resets what was held, as a healed network partition does.
 */
export class TcpProxy {
  readonly #upstream: { host: string; port: number };
  readonly #sockets = new Set<Socket>();
  #server: Server | null = null;
  #port = 0;
  #mode: ProxyMode = 'refuse';
  /** Connections accepted, in every mode. */
  connections = 0;

  constructor(upstream: { host: string; port: number }) {
    this.#upstream = upstream;
  }

  get port(): number {
    return this.#port;
  }

  get mode(): ProxyMode {
    return this.#mode;
  }

  /** Listens (on a free port the first time, then on the same one) and forwards. */
  async start(mode: ProxyMode = 'forward'): Promise<number> {
    if (mode === 'refuse') {
      // The port must be known before refusing: bind once, then close.
      await this.#listen();
      await this.#unlisten();
    } else {
      await this.#listen();
    }
    this.#mode = mode;
    return this.#port;
  }

  async forward(): Promise<void> {
    this.#resetAll();
    await this.#listen();
    this.#mode = 'forward';
  }

  async refuse(): Promise<void> {
    this.#mode = 'refuse';
    this.#resetAll();
    await this.#unlisten();
  }

  async silent(): Promise<void> {
    this.#mode = 'silent';
    await this.#listen();
  }

  async close(): Promise<void> {
    this.#resetAll();
    await this.#unlisten();
  }

  #resetAll(): void {
    for (const socket of this.#sockets) socket.destroy();
    this.#sockets.clear();
  }

  #track(socket: Socket): void {
    this.#sockets.add(socket);
    socket.on('error', () => undefined);
    socket.once('close', () => this.#sockets.delete(socket));
  }

  #accept(client: Socket): void {
    this.connections++;
    this.#track(client);
    if (this.#mode !== 'forward') return; // silent: accepted, never answered
    const upstream = connect(this.#upstream.port, this.#upstream.host);
    this.#track(upstream);
    // Each chunk is passed on only while forwarding: in silent mode the link goes quiet both ways.
    client.on('data', (chunk) => {
      if (this.#mode === 'forward') upstream.write(chunk);
    });
    upstream.on('data', (chunk) => {
      if (this.#mode === 'forward') client.write(chunk);
    });
    client.once('close', () => upstream.destroy());
    upstream.once('close', () => client.destroy());
  }

  async #listen(): Promise<void> {
    if (this.#server) return;
    const server = createServer((socket) => this.#accept(socket));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.#port, '127.0.0.1', () => {
        server.off('error', reject);
        resolve();
      });
    });
    this.#port = (server.address() as { port: number }).port;
    this.#server = server;
  }

  async #unlisten(): Promise<void> {
    const server = this.#server;
    if (!server) return;
    this.#server = null;
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}
