import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

// The Python peer (test/interop/python/sto_peer.py) runs in a project-local virtualenv, .venv/,
// created on first use and filled from PyPI with the pinned requirements. When the venv already
// holds the pinned packages nothing is installed, so warm runs pay only Python's start-up.

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const VENV = `${ROOT}.venv`;
const VENV_PYTHON = `${VENV}/bin/python`;
const REQUIREMENTS = `${ROOT}test/interop/python/requirements.txt`;
const SCRIPT = `${ROOT}test/interop/python/sto_peer.py`;

interface RunResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

function run(command: string, args: string[], options: { input?: string; timeoutMs: number }): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd: ROOT, stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, PYTHONUNBUFFERED: '1' } });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${command} ${args.join(' ')} did not finish within ${options.timeoutMs} ms\n${stderr.slice(-2_000)}`));
    }, options.timeoutMs);
    child.on('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
    child.stdin.end(options.input ?? '');
  });
}

/** `name==version` pins of requirements.txt, extras dropped: {"confluent-kafka": "2.16.0", ...}. */
function pinnedVersions(): Record<string, string> {
  const pins: Record<string, string> = {};
  for (const line of readFileSync(REQUIREMENTS, 'utf8').split('\n')) {
    const match = /^\s*([A-Za-z0-9_.-]+)(\[[^\]]*\])?==([^\s#;]+)/.exec(line);
    if (match) pins[(match[1] as string).toLowerCase()] = match[3] as string;
  }
  return pins;
}

// Exits 0 when every pin is installed at its version and the Avro serde imports (its extras are there).
const CHECK_INSTALLED = `
import importlib.metadata as metadata, json, sys
pins = json.loads(sys.argv[1])
for name, wanted in pins.items():
    try:
        found = metadata.version(name)
    except metadata.PackageNotFoundError:
        found = None
    if found != wanted:
        sys.exit(f"{name}: {found} installed, {wanted} pinned")
import confluent_kafka.schema_registry.avro, fastavro
`;

const NETWORK_TROUBLE =
  /Failed to establish a new connection|Temporary failure in name resolution|Name or service not known|NewConnectionError|ConnectTimeout|Connection refused|Network is unreachable|Read timed out|ProxyError|SSLError|Could not fetch URL/i;

async function alreadyInstalled(): Promise<boolean> {
  if (!existsSync(VENV_PYTHON)) return false;
  const check = await run(VENV_PYTHON, ['-c', CHECK_INSTALLED, JSON.stringify(pinnedVersions())], { timeoutMs: 30_000 });
  return check.code === 0;
}

/**
 * Makes sure .venv/ has the pinned peer packages; creates and fills it when needed.
 * Throws one clear message when PyPI cannot be reached.
 */
export async function ensurePythonPeer(log: (message: string) => void = console.log): Promise<void> {
  if (await alreadyInstalled()) return;
  if (!existsSync(VENV_PYTHON)) {
    const python = process.env.PYTHON ?? 'python3';
    log(`interop: creating the Python virtualenv .venv/ with ${python}`);
    const created = await run(python, ['-m', 'venv', VENV], { timeoutMs: 120_000 }).catch((error: Error) => ({ code: -1, stdout: '', stderr: error.message }));
    if (created.code !== 0) {
      throw new Error(`interop: cannot create .venv/ with "${python} -m venv" (Python 3 with the venv module is required; set PYTHON to choose one): ${created.stderr.trim()}`);
    }
  }
  log(`interop: installing ${Object.entries(pinnedVersions()).map(([name, version]) => `${name}==${version}`).join(' ')} into .venv/ from PyPI`);
  const started = Date.now();
  const install = await run(
    VENV_PYTHON,
    ['-m', 'pip', 'install', '--disable-pip-version-check', '--no-input', '--timeout', '20', '--retries', '2', '-r', REQUIREMENTS],
    { timeoutMs: 600_000 },
  );
  if (install.code !== 0) {
    const output = `${install.stdout}\n${install.stderr}`;
    const tail = output.trim().split('\n').slice(-12).join('\n');
    if (NETWORK_TROUBLE.test(output)) {
      throw new Error(
        'interop: PyPI is unreachable, so the independent Python client (confluent-kafka, fastavro) cannot be installed.\n' +
          'Give this machine access to https://pypi.org (or set PIP_INDEX_URL to a mirror), or install ' +
          'test/interop/python/requirements.txt into .venv/ by hand, then run the tests again.\n' +
          `pip said:\n${tail}`,
      );
    }
    throw new Error(`interop: pip could not install test/interop/python/requirements.txt into .venv/:\n${tail}`);
  }
  if (!(await alreadyInstalled())) throw new Error('interop: pip finished but the pinned packages are still not importable from .venv/');
  log(`interop: Python peer installed in ${((Date.now() - started) / 1_000).toFixed(1)} s`);
}

/** Runs one command of sto_peer.py with `job` as its JSON input and returns its JSON answer. */
export async function runPeer<T>(command: 'produce' | 'consume' | 'versions', job: object = {}, timeoutMs = 90_000): Promise<T> {
  const result = await run(VENV_PYTHON, [SCRIPT, command], { input: JSON.stringify(job), timeoutMs });
  if (result.code !== 0) {
    throw new Error(`sto_peer.py ${command} exited with ${result.code}:\n${result.stderr.trim().split('\n').slice(-20).join('\n')}`);
  }
  try {
    return JSON.parse(result.stdout) as T;
  } catch {
    throw new Error(`sto_peer.py ${command} printed no JSON answer:\n${result.stdout.slice(0, 2_000)}\n${result.stderr.slice(-2_000)}`);
  }
}

/** Values as the peer's JSON carries them: Buffers as {"$bytes": base64}. */
export function toPeerJson(value: unknown): unknown {
  if (Buffer.isBuffer(value)) return { $bytes: value.toString('base64') };
  if (Array.isArray(value)) return value.map(toPeerJson);
  if (value && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value as Record<string, unknown>).map(([key, item]) => [key, toPeerJson(item)]));
  }
  return value;
}

export const SCHEMA_DIR = `${ROOT}schemas/`;
