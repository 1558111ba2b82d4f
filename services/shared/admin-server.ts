import { createHash, timingSafeEqual } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { createServer, type IncomingHttpHeaders, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Gauge, type Registry } from 'prom-client';
import { ConfigError, errorMessage } from './errors.ts';

/** A GET request to a mounted read-only route. */
export interface JsonRequest {
  path: string;
  query: URLSearchParams;
  headers: IncomingHttpHeaders;
}

export interface JsonResponse {
  status: number;
  body: unknown;
  headers?: Record<string, string>;
}

export type JsonRoute = (request: JsonRequest) => Promise<JsonResponse>;

export interface HealthSource {
  /** The process is alive and its loops are not wedged. */
  isLive(): boolean;
  /** Why the process is not live, for the /livez body (optional). */
  livenessProblem?(): string | null;
  /** The service owns its partitions' state and can do its job. */
  readiness(): { ready: boolean; detail: Record<string, unknown> };
}

/**
 * /metrics, /livez and /readyz on the admin port, and the read-only JSON routes a service mounts
 * (with `apiToken`, those require `Authorization: Bearer <token>`; the probes and metrics stay
 * open for supervisors and scrapers). Bind it to loopback or a private network.
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
  readonly #routes: { prefix: string; route: JsonRoute }[] = [];
  readonly #pages = new Map<string, { file: string; contentType: string }>();
  readonly #tokenDigest: Buffer | null;

  constructor(options: { host: string; port: number; registry: Registry; health?: HealthSource; apiToken?: string | null }) {
    this.#host = options.host;
    this.#port = options.port;
    this.#tokenDigest = options.apiToken ? sha256(options.apiToken) : null;
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
        this.#serveMounted(path ?? '/', request.url ?? '/', request.headers, response);
      }
    });
  }

  /** Serves `route` for every GET path that starts with `prefix` (a read-only API). */
  mount(prefix: string, route: JsonRoute): void {
    this.#routes.push({ prefix, route });
  }

  /** Serves a static file (read at each request, no build step) at `path`. Open: it holds no data. */
  page(path: string, file: string, contentType = 'text/html; charset=utf-8'): void {
    this.#pages.set(path, { file, contentType });
  }

  #serveMounted(path: string, url: string, headers: IncomingHttpHeaders, response: ServerResponse): void {
    const page = this.#pages.get(path);
    if (page) {
      readFile(page.file).then(
        (body) => response.writeHead(200, { 'content-type': page.contentType, 'cache-control': 'no-store' }).end(body),
        (error: unknown) => response.writeHead(500).end(errorMessage(error)),
      );
      return;
    }
    const mounted = this.#routes.find(({ prefix }) => path.startsWith(prefix));
    if (!mounted) {
      response.writeHead(404).end();
      return;
    }
    const json = (answer: JsonResponse) => response.writeHead(answer.status, { 'content-type': 'application/json', 'cache-control': 'no-store', ...answer.headers }).end(JSON.stringify(answer.body));
    if (!this.#authorized(headers.authorization)) {
      json({ status: 401, headers: { 'www-authenticate': 'Bearer' }, body: { error: 'this route needs Authorization: Bearer <STO_ADMIN_TOKEN>' } });
      return;
    }
    const query = new URL(url, 'http://admin').searchParams;
    mounted.route({ path, query, headers }).then(json, (error: unknown) => json({ status: 500, body: { error: errorMessage(error) } }));
  }

  #authorized(header: string | undefined): boolean {
    if (!this.#tokenDigest) return true;
    const match = /^Bearer (.+)$/.exec(header ?? '');
    // Compared as digests in constant time: the answer's timing says nothing about the token.
    return match !== null && timingSafeEqual(sha256(match[1]!), this.#tokenDigest);
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

function sha256(text: string): Buffer {
  return createHash('sha256').update(text, 'utf8').digest();
}
