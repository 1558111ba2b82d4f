import { ConfigError } from '../errors.ts';
import { redactUrl } from './redact-url.ts';

export type Env = Readonly<Record<string, string | undefined>>;

/**
 * Reads typed values out of an environment map, collecting every problem so that start-up
 * reports all bad variables at once, each with its value and what is allowed.
 */
export class EnvReader {
  readonly #env: Env;
  readonly #problems: string[] = [];

  constructor(env: Env) {
    this.#env = env;
  }

  #raw(name: string): string | undefined {
    const value = this.#env[name];
    return value === undefined || value.trim() === '' ? undefined : value.trim();
  }

  #fail<T>(name: string, value: string, allowed: string, fallback: T): T {
    this.#problems.push(`${name}=${JSON.stringify(value)} is invalid: expected ${allowed}`);
    return fallback;
  }

  string(name: string, fallback: string): string {
    return this.#raw(name) ?? fallback;
  }

  optionalString(name: string): string | null {
    return this.#raw(name) ?? null;
  }

  requiredString(name: string, allowed: string): string {
    const value = this.#raw(name);
    if (value === undefined) {
      this.#problems.push(`${name} is required: expected ${allowed}`);
      return '';
    }
    return value;
  }

  integer(name: string, fallback: number, min: number, max: number): number {
    const value = this.#raw(name);
    if (value === undefined) return fallback;
    const parsed = Number(value);
    if (!/^-?\d+$/.test(value) || !Number.isSafeInteger(parsed) || parsed < min || parsed > max) {
      return this.#fail(name, value, `an integer in [${min}, ${max}]`, fallback);
    }
    return parsed;
  }

  number(name: string, fallback: number, min: number, max: number): number {
    const value = this.#raw(name);
    if (value === undefined) return fallback;
    const parsed = Number(value);
    if (!Number.isFinite(parsed) || parsed < min || parsed > max) {
      return this.#fail(name, value, `a number in [${min}, ${max}]`, fallback);
    }
    return parsed;
  }

  boolean(name: string, fallback: boolean): boolean {
    const value = this.#raw(name);
    if (value === undefined) return fallback;
    if (/^(true|1|yes)$/i.test(value)) return true;
    if (/^(false|0|no)$/i.test(value)) return false;
    return this.#fail(name, value, 'true or false', fallback);
  }

  oneOf<T extends string>(name: string, fallback: T, allowed: readonly T[]): T {
    const value = this.#raw(name);
    if (value === undefined) return fallback;
    const match = allowed.find((candidate) => candidate.toLowerCase() === value.toLowerCase());
    return match ?? this.#fail(name, value, `one of ${allowed.join(', ')}`, fallback);
  }

  /** Comma-separated host:port list. */
  hostPorts(name: string, fallback: string): string[] {
    const value = this.#raw(name) ?? fallback;
    const items = value.split(',').map((item) => item.trim()).filter(Boolean);
    const bad = items.filter((item) => !/^[A-Za-z0-9._-]+:\d{1,5}$/.test(item) && !/^\[[0-9a-fA-F:]+\]:\d{1,5}$/.test(item));
    if (items.length === 0 || bad.length > 0) {
      return this.#fail(name, value, 'a comma-separated list of host:port', fallback.split(','));
    }
    return items;
  }

  url(name: string, fallback: string): string {
    const value = this.#raw(name) ?? fallback;
    try {
      const parsed = new URL(value);
      if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') throw new Error('protocol');
      return value.replace(/\/+$/, '');
    } catch {
      // A URL may carry credentials: the error shows it without them.
      return this.#fail(name, redactUrl(value), 'an http(s) URL', fallback);
    }
  }

  /** Adds a cross-field problem found after reading. */
  problem(name: string, message: string): void {
    this.#problems.push(`${name}: ${message}`);
  }

  /** Throws one ConfigError naming every bad variable, or returns the frozen value. */
  done<T extends object>(value: T): Readonly<T> {
    if (this.#problems.length > 0) {
      const first = this.#problems[0] ?? '';
      const variable = first.split(/[=: ]/)[0] ?? 'environment';
      throw new ConfigError(variable, `invalid configuration:\n  - ${this.#problems.join('\n  - ')}`);
    }
    return deepFreeze(value);
  }
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const inner of Object.values(value as object)) deepFreeze(inner);
  }
  return value;
}
