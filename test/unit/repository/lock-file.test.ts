import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';

type LockEntry = { optionalDependencies?: Record<string, string> };
type Lock = { packages: Record<string, LockEntry> };

/**
 * Optional dependencies that the lock file has no entry for. npm writes a lock file with only the
 * current platform's optional packages in some versions; on another platform (or a fresh clone)
 * `npm install` then rewrites the file and `npm ci` refuses it.
 */
export function missingOptionalPackages(lock: Lock): string[] {
  const missing: string[] = [];
  for (const [path, entry] of Object.entries(lock.packages)) {
    for (const name of Object.keys(entry.optionalDependencies ?? {})) {
      // Node's resolution: the package's own node_modules, then each enclosing one, then the root.
      const candidates: string[] = [];
      let base = path;
      while (true) {
        candidates.push(`${base === '' ? '' : `${base}/`}node_modules/${name}`);
        const cut = base.lastIndexOf('/node_modules/');
        if (base === '') break;
        base = cut < 0 ? '' : base.slice(0, cut);
      }
      if (!candidates.some((candidate) => candidate in lock.packages)) missing.push(`${path || '(root)'} -> ${name}`);
    }
  }
  return missing;
}

describe('package-lock.json', () => {
  it('a lock file without an optional package is caught (the check can fail)', () => {
    const lock: Lock = {
      packages: {
        '': {},
        'node_modules/rollup': { optionalDependencies: { '@rollup/rollup-linux-x64-gnu': '4.0.0', '@rollup/rollup-darwin-arm64': '4.0.0' } },
        'node_modules/@rollup/rollup-linux-x64-gnu': {},
      },
    };
    expect(missingOptionalPackages(lock)).toEqual(['node_modules/rollup -> @rollup/rollup-darwin-arm64']);
  });

  it('holds the optional packages of every platform', () => {
    const lock = JSON.parse(readFileSync(new URL('../../../package-lock.json', import.meta.url), 'utf8')) as Lock;
    expect(missingOptionalPackages(lock)).toEqual([]);
  });
});
