import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, openSync, closeSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { waitFor } from './chaos-stack.ts';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const VERSION = '2.12.0';
const BIN_DIR = join(ROOT, '.stack', `toxiproxy-${VERSION}`);
const BINARY = join(BIN_DIR, 'server');

/** Builds the Toxiproxy server with `go install` into .stack/ (ignored by git), once. */
export function installToxiproxy(): string {
  if (existsSync(BINARY)) return BINARY;
  mkdirSync(BIN_DIR, { recursive: true });
  const result = spawnSync('go', ['install', `github.com/Shopify/toxiproxy/v2/cmd/server@v${VERSION}`], {
    env: { ...process.env, GOBIN: BIN_DIR },
    encoding: 'utf8',
    timeout: 600_000,
  });
  if (result.error) throw new Error(`cannot build Toxiproxy ${VERSION}: is Go installed? (${result.error.message})`);
  if (result.status !== 0 || !existsSync(BINARY)) throw new Error(`go install of Toxiproxy ${VERSION} failed: ${result.stderr.slice(-2_000)}`);
  return BINARY;
}

export type Toxic =
  | { type: 'latency'; attributes: { latency: number; jitter: number } }
  | { type: 'bandwidth'; attributes: { rate: number } }
  | { type: 'timeout'; attributes: { timeout: number } };

/**
 * A Toxiproxy server of the test's own (its API on `apiPort`) with one TCP proxy. Cutting
 * disables the proxy (every connection through it is closed and new ones are refused); toxics
 * add latency, a bandwidth limit or a black hole to both directions.
 */
export class Toxiproxy {
  readonly #apiPort: number;
  #server: ChildProcess | null = null;

  constructor(apiPort: number) {
    this.#apiPort = apiPort;
  }

  async start(logPath: string): Promise<void> {
    const binary = installToxiproxy();
    const out = openSync(logPath, 'a');
    this.#server = spawn(binary, ['-host', '127.0.0.1', '-port', String(this.#apiPort)], { stdio: ['ignore', out, out] });
    closeSync(out);
    await waitFor(async () => (await this.#call('GET', '/version').catch(() => null)) !== null, 30_000, `Toxiproxy API on port ${this.#apiPort}`);
  }

  async stop(): Promise<void> {
    const server = this.#server;
    this.#server = null;
    if (!server || server.exitCode !== null) return;
    const exited = new Promise((resolve) => server.once('exit', resolve));
    server.kill('SIGTERM');
    const timer = setTimeout(() => server.kill('SIGKILL'), 5_000);
    await exited;
    clearTimeout(timer);
  }

  async #call(method: string, path: string, body?: unknown): Promise<unknown> {
    const response = await fetch(`http://127.0.0.1:${this.#apiPort}${path}`, {
      method,
      headers: body === undefined ? {} : { 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(10_000),
    });
    const text = await response.text();
    if (!response.ok) throw new Error(`Toxiproxy ${method} ${path}: ${response.status} ${text}`);
    return text === '' ? null : JSON.parse(text);
  }

  async createProxy(name: string, listenPort: number, upstreamPort: number): Promise<void> {
    await this.#call('POST', '/proxies', { name, listen: `127.0.0.1:${listenPort}`, upstream: `127.0.0.1:${upstreamPort}`, enabled: true });
  }

  async setEnabled(name: string, enabled: boolean): Promise<void> {
    await this.#call('POST', `/proxies/${name}`, { enabled });
  }

  /** The same toxic on both directions (named `<label>-up` and `<label>-down`). */
  async addToxic(proxy: string, label: string, toxic: Toxic): Promise<void> {
    for (const stream of ['upstream', 'downstream']) {
      await this.#call('POST', `/proxies/${proxy}/toxics`, { name: `${label}-${stream}`, type: toxic.type, stream, toxicity: 1, attributes: toxic.attributes });
    }
  }

  async removeToxic(proxy: string, label: string): Promise<void> {
    for (const stream of ['upstream', 'downstream']) await this.#call('DELETE', `/proxies/${proxy}/toxics/${label}-${stream}`);
  }
}
