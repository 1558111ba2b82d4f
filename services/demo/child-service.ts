import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, readFileSync, type WriteStream } from 'node:fs';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

/**
 * A service (engine, delay) run as a child process with its own environment: started, probed on
 * its admin port, stopped gracefully or killed. Used by the demo and by crash tests.
 */
export class ChildService {
  readonly name: string;
  readonly adminPort: number;
  readonly #entry: string;
  readonly #env: Record<string, string>;
  readonly #logPath: string | null;
  #child: ChildProcess | null = null;
  #log: WriteStream | null = null;
  #exit: Promise<number | null> = Promise.resolve(null);

  constructor(options: { name: string; entry: string; env: Record<string, string>; adminPort: number; logPath?: string }) {
    this.name = options.name;
    this.#entry = options.entry;
    this.#env = options.env;
    this.adminPort = options.adminPort;
    this.#logPath = options.logPath ?? null;
  }

  start(): void {
    if (this.running) return;
    this.#log = this.#logPath ? createWriteStream(this.#logPath, { flags: 'a' }) : null;
    const child = spawn(process.execPath, ['--disable-warning=TimeoutNegativeWarning', this.#entry], {
      cwd: ROOT,
      env: { ...process.env, ...this.#env, STO_ADMIN_PORT: String(this.adminPort) },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const log = this.#log;
    child.stdout?.on('data', (chunk: Buffer) => log?.write(chunk));
    child.stderr?.on('data', (chunk: Buffer) => log?.write(chunk));
    this.#exit = new Promise((resolve) => child.once('exit', (code) => resolve(code)));
    this.#child = child;
  }

  /** Process id of the running child (null when not started or exited), e.g. to read its /proc status. */
  get pid(): number | null {
    return this.running ? (this.#child?.pid ?? null) : null;
  }

  get running(): boolean {
    return this.#child !== null && this.#child.exitCode === null && this.#child.signalCode === null;
  }

  async #get(path: string): Promise<{ status: number; body: string } | null> {
    try {
      const response = await fetch(`http://127.0.0.1:${this.adminPort}${path}`, { signal: AbortSignal.timeout(10_000) });
      return { status: response.status, body: await response.text() };
    } catch {
      return null;
    }
  }

  /** The last lines the child wrote, for an error message (empty without a log file). */
  #logTail(lines = 15): string {
    if (!this.#logPath) return '';
    try {
      const text = readFileSync(this.#logPath, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
      return `\nlast lines of ${this.#logPath}:\n${text}`;
    } catch {
      return '';
    }
  }

  async ready(): Promise<boolean> {
    return (await this.#get('/readyz'))?.status === 200;
  }

  async waitReady(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!(await this.ready())) {
      if (!this.running) throw new Error(`${this.name} exited (code ${this.#child?.exitCode}, signal ${this.#child?.signalCode}) before it was ready${this.#logPath ? ` (log: ${this.#logPath})` : ''}`);
      if (Date.now() > deadline) {
        const readyz = (await this.#get('/readyz'))?.body ?? 'no answer';
        throw new Error(`${this.name} not ready after ${timeoutMs} ms; /readyz: ${readyz}${this.#logTail()}`);
      }
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
  }

  /** Current value of a metric (sum over its label sets matching `labels`). */
  async metric(name: string, labels: Record<string, string> = {}): Promise<number> {
    let response = await this.#get('/metrics');
    for (let attempt = 0; !response && attempt < 3 && this.running; attempt++) response = await this.#get('/metrics');
    if (!response) return Number.NaN;
    let total = 0;
    for (const line of response.body.split('\n')) {
      if (!line.startsWith(name) || line.startsWith('#')) continue;
      const match = /^([a-zA-Z_:][\w:]*)(\{([^}]*)\})?\s+(\S+)$/.exec(line);
      if (!match || match[1] !== name) continue;
      const set = Object.fromEntries([...(match[3] ?? '').matchAll(/(\w+)="([^"]*)"/g)].map((m) => [m[1], m[2]]));
      if (Object.entries(labels).every(([key, value]) => set[key] === value)) total += Number(match[4]);
    }
    return total;
  }

  async metricsText(): Promise<string> {
    return (await this.#get('/metrics'))?.body ?? '';
  }

  /** SIGTERM and wait (graceful); SIGKILL after the grace period. */
  async stop(graceMs = 20_000): Promise<number | null> {
    if (!this.running) return this.#finish();
    this.#child?.kill('SIGTERM');
    const timer = setTimeout(() => this.#child?.kill('SIGKILL'), graceMs);
    const code = await this.#exit;
    clearTimeout(timer);
    await this.#finish();
    return code;
  }

  /** SIGKILL: a crash, no shutdown code runs. */
  async kill(): Promise<void> {
    if (this.running) this.#child?.kill('SIGKILL');
    await this.#exit;
    await this.#finish();
  }

  async #finish(): Promise<null> {
    const log = this.#log;
    this.#log = null;
    if (log) await new Promise<void>((resolve) => log.end(() => resolve()));
    return null;
  }

  static entry(service: 'engine' | 'delay' | 'outcomes'): string {
    return `services/${service}/main.ts`;
  }
}
