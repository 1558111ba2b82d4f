import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Gauge, type Registry } from 'prom-client';
import { ConfigError } from './errors.ts';

export interface HealthSource {
  /** The process is alive and its loops are not wedged. */
  isLive(): boolean;
  /** Why the process is not live, for the /livez body (optional). */
  livenessProblem?(): string | null;
  /** The service owns its partitions' state and can do its job. */
  readiness(): { ready: boolean; detail: Record<string, unknown> };
}

/**
 * /metrics, /livez and /readyz on the admin port. Bind it to loopback or a private network.
 * It starts before the service's dependencies are waited for: until `serve` hands it the service's
 * health, the process is live and not ready, and /readyz says what start-up waits for (so a
 * supervisor neither restarts a process that waits for its registry nor routes to it).
 */
export class AdminServer {
  readonly #server: Server;
  readonly #host: string;
  readonly #port: number;
  #started = false;
  #health: HealthSource;
  #waitingFor = 'start-up';

  constructor(options: { host: string; port: number; registry: Registry; health?: HealthSource }) {
    this.#host = options.host;
    this.#port = options.port;
    const { registry } = options;
    this.#health = options.health ?? {
      isLive: () => true,
      readiness: () => ({ ready: false, detail: { starting: true, waitingFor: this.#waitingFor } }),
    };
    // Readiness and liveness as metrics too, read at scrape time, so alerts can say for how long.
    const health = () => this.#health;
    new Gauge({ name: 'sto_ready', help: '1 when /readyz answers 200 (partitions owned and restored), else 0.', registers: [registry], collect() { this.set(health().readiness().ready ? 1 : 0); } });
    new Gauge({ name: 'sto_live', help: '1 when /livez answers 200, else 0.', registers: [registry], collect() { this.set(health().isLive() ? 1 : 0); } });
    this.#server = createServer((request, response) => {
      const health = this.#health;
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

  /** What start-up waits for, shown by /readyz until `serve` is called. */
  waitingFor(what: string): void {
    this.#waitingFor = what;
  }

  /** From now on /livez and /readyz answer from the service's own health. */
  serve(health: HealthSource): void {
    this.#health = health;
  }

  async start(): Promise<number> {
    try {
      await new Promise<void>((resolve, reject) => {
        this.#server.once('error', reject);
        this.#server.listen(this.#port, this.#host, () => resolve());
      });
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === 'EADDRINUSE' || code === 'EACCES') {
        const why = code === 'EADDRINUSE' ? 'is already in use (another instance or process listens there)' : 'may not be bound by this user';
        throw new ConfigError('STO_ADMIN_PORT', `port ${this.#port} on ${this.#host} ${why}: stop that process or set STO_ADMIN_PORT to a free port`);
      }
      if (code === 'EADDRNOTAVAIL') {
        throw new ConfigError('STO_ADMIN_HOST', `${this.#host} is not an address of this machine: set STO_ADMIN_HOST to one (127.0.0.1 by default)`);
      }
      throw error;
    }
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
