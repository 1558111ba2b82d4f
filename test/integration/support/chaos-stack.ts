import { spawn, spawnSync } from 'node:child_process';
import { openSync, closeSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { waitFor } from './wait.ts';

export { waitFor };

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));

export interface ChaosStackPorts {
  kafka: number;
  controller: number;
  registry: number;
  registryManagement: number;
}

/**
 * A stack of its own for one chaos test file (infra/stack.sh with its own name and ports), whose
 * broker the test may SIGKILL and start again on the same log directory. stack.sh formats a fresh
 * log directory on every start, so a restart after a crash launches the broker here, with the
 * configuration stack.sh wrote and the same java command line, and records its pid where stack.sh
 * looks for it (stop then also stops the restarted broker).
 */
export class ChaosStack {
  readonly name: string;
  readonly ports: ChaosStackPorts;
  readonly #run: string;
  readonly #logs: string;

  constructor(name: string, ports: ChaosStackPorts) {
    this.name = name;
    this.ports = ports;
    this.#run = join(ROOT, '.stack', `run-${name}`);
    this.#logs = join(ROOT, '.stack', `logs-${name}`);
  }

  get env(): Record<string, string> {
    return {
      STO_STACK_NAME: this.name,
      STO_STACK_KAFKA_PORT: String(this.ports.kafka),
      STO_STACK_CONTROLLER_PORT: String(this.ports.controller),
      STO_STACK_REGISTRY_PORT: String(this.ports.registry),
      STO_STACK_REGISTRY_MANAGEMENT_PORT: String(this.ports.registryManagement),
      // Two stacks of chaos files never run at once, but other work shares the machine.
      STO_STACK_KAFKA_HEAP: '512m',
    };
  }

  /** Connection settings for the test process and its children (direct to the broker). */
  get settings(): Record<string, string> {
    return {
      STO_KAFKA_BROKERS: `127.0.0.1:${this.ports.kafka}`,
      STO_SCHEMA_REGISTRY_URL: `http://127.0.0.1:${this.ports.registry}/apis/ccompat/v7`,
    };
  }

  #stackSh(command: 'start' | 'stop'): void {
    const result = spawnSync('bash', [join(ROOT, 'infra', 'stack.sh'), command], { env: { ...process.env, ...this.env }, encoding: 'utf8', timeout: 300_000 });
    if (result.status !== 0) throw new Error(`infra/stack.sh ${command} for chaos stack ${this.name} failed (${result.status ?? result.signal}): ${result.stderr.slice(-2_000)}`);
  }

  start(): void {
    this.#stackSh('start');
  }

  stop(): void {
    this.#stackSh('stop');
  }

  get kafkaPid(): number | null {
    try {
      const pid = Number(readFileSync(join(this.#run, 'kafka.pid'), 'utf8').trim());
      process.kill(pid, 0);
      return pid;
    } catch {
      return null;
    }
  }

  /** SIGKILL to the broker's process group: no shutdown, no flush beyond the page cache. */
  async killBroker(timeoutMs = 15_000): Promise<void> {
    const pid = this.kafkaPid;
    if (pid === null) throw new Error(`chaos stack ${this.name}: no running broker to kill`);
    try {
      process.kill(-pid, 'SIGKILL');
    } catch {
      process.kill(pid, 'SIGKILL');
    }
    await waitFor(async () => !alive(pid) && !(await portOpen(this.ports.kafka)), timeoutMs, `broker pid ${pid} gone after SIGKILL`);
  }

  /** SIGTERM to the broker (a clean stop), e.g. before changing its listeners. */
  async stopBroker(timeoutMs = 60_000): Promise<void> {
    const pid = this.kafkaPid;
    if (pid === null) return;
    process.kill(-pid, 'SIGTERM');
    await waitFor(async () => !alive(pid) && !(await portOpen(this.ports.kafka)), timeoutMs, `broker pid ${pid} stopped after SIGTERM`);
  }

  /**
   * Adds a second listener: clients that bootstrap through `advertisedPort` (a proxy in front of
   * `port`) are told to connect to `advertisedPort` for every broker connection, while the broker
   * itself and the test harness keep the direct listener.
   */
  addProxiedListener(port: number, advertisedPort: number): void {
    const file = join(this.#run, 'server.properties');
    const lines = readFileSync(file, 'utf8')
      .split('\n')
      .filter((line) => line !== '')
      .map((line) => {
        if (line.startsWith('listeners=')) return `listeners=PLAINTEXT://127.0.0.1:${this.ports.kafka},CONTROLLER://127.0.0.1:${this.ports.controller},PROXIED://127.0.0.1:${port}`;
        if (line.startsWith('advertised.listeners=')) return `advertised.listeners=PLAINTEXT://127.0.0.1:${this.ports.kafka},PROXIED://127.0.0.1:${advertisedPort}`;
        if (line.startsWith('listener.security.protocol.map=')) return 'listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT,PROXIED:PLAINTEXT';
        return line;
      });
    writeFileSync(file, `${lines.join('\n')}\n`);
  }

  /** Starts the broker again on its existing log directory (after killBroker or stopBroker). */
  async startBroker(timeoutMs = 120_000): Promise<void> {
    if (this.kafkaPid !== null) throw new Error(`chaos stack ${this.name}: the broker is still running`);
    const log = join(this.#logs, 'kafka.log');
    writeFileSync(log, '');
    const out = openSync(join(this.#logs, 'kafka.out'), 'a');
    const heap = this.env.STO_STACK_KAFKA_HEAP!;
    const child = spawn(
      'java',
      ['-Xms256m', `-Xmx${heap}`, '-XX:+UseG1GC', '-XX:MaxGCPauseMillis=20', '-Djava.awt.headless=true', `-Dlog4j.configuration=file:${join(this.#run, 'log4j.properties')}`, '-cp', `${join(ROOT, '.stack', 'kafka', 'lib')}/*`, 'kafka.Kafka', join(this.#run, 'server.properties')],
      { detached: true, stdio: ['ignore', out, out] },
    );
    closeSync(out);
    child.unref();
    writeFileSync(join(this.#run, 'kafka.pid'), `${child.pid}\n`);
    await waitFor(
      async () => {
        if (child.exitCode !== null) throw new Error(`the restarted broker exited with ${child.exitCode}; see .stack/logs-${this.name}/kafka.out`);
        return (await portOpen(this.ports.kafka)) && existsSync(log) && readFileSync(log, 'utf8').includes('Kafka Server started');
      },
      timeoutMs,
      'restarted broker logs "Kafka Server started"',
    );
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

export function portOpen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port });
    socket.setTimeout(1_000);
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('timeout', () => {
      socket.destroy();
      resolve(false);
    });
    socket.once('error', () => resolve(false));
  });
}

