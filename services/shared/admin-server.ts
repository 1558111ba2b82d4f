import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Gauge, type Registry } from 'prom-client';

export interface HealthSource {
  /** The process is alive and its loops are not wedged. */
  isLive(): boolean;
  /** Why the process is not live, for the /livez body (optional). */
  livenessProblem?(): string | null;
  /** The service owns its partitions' state and can do its job. */
  readiness(): { ready: boolean; detail: Record<string, unknown> };
}

/** /metrics, /livez and /readyz on the admin port. Bind it to loopback or a private network. */
export class AdminServer {
  readonly #server: Server;
  readonly #host: string;
  readonly #port: number;
  #started = false;

  constructor(options: { host: string; port: number; registry: Registry; health: HealthSource }) {
    this.#host = options.host;
    this.#port = options.port;
    const { registry, health } = options;
    // Readiness and liveness as metrics too, read at scrape time, so alerts can say for how long.
    new Gauge({ name: 'sto_ready', help: '1 when /readyz answers 200 (partitions owned and restored), else 0.', registers: [registry], collect() { this.set(health.readiness().ready ? 1 : 0); } });
    new Gauge({ name: 'sto_live', help: '1 when /livez answers 200, else 0.', registers: [registry], collect() { this.set(health.isLive() ? 1 : 0); } });
    this.#server = createServer((request, response) => {
      const path = (request.url ?? '/').split('?')[0];
      if (request.method !== 'GET') {
        response.writeHead(405).end();
        return;
      }
      if (path === '/metrics') {
        registry.metrics().then(
          (body) => response.writeHead(200, { 'content-type': registry.contentType }).end(body),
          (error: unknown) => response.writeHead(500).end(String(error)),
        );
      } else if (path === '/livez') {
        const live = health.isLive();
        const reason = live ? null : (health.livenessProblem?.() ?? null);
        response.writeHead(live ? 200 : 503, { 'content-type': 'application/json' }).end(JSON.stringify(reason ? { live, reason } : { live }));
      } else if (path === '/readyz') {
        const { ready, detail } = health.readiness();
        response.writeHead(ready ? 200 : 503, { 'content-type': 'application/json' }).end(JSON.stringify({ ready, ...detail }));
      } else {
        response.writeHead(404).end();
      }
    });
  }

  async start(): Promise<number> {
    await new Promise<void>((resolve, reject) => {
      this.#server.once('error', reject);
      this.#server.listen(this.#port, this.#host, () => resolve());
    });
    this.#started = true;
    return (this.#server.address() as AddressInfo).port;
  }

  async stop(): Promise<void> {
    if (!this.#started) return;
    this.#started = false;
    this.#server.closeAllConnections();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }
}
