import { afterEach, describe, expect, it, vi } from 'vitest';
import { installSignalHandlers, stopOnce } from '../../../services/shared/lifecycle.ts';
import { createLogger } from '../../../services/shared/logger.ts';

const logger = createLogger('lifecycle-test', 'silent');
let remove: (() => void) | null = null;

afterEach(() => {
  remove?.();
  remove = null;
  vi.useRealTimers();
});

describe('signal handlers', () => {
  it('exits 0 after a graceful stop', async () => {
    const exit = vi.fn();
    remove = installSignalHandlers(async () => undefined, logger, exit, 1_000);
    process.emit('SIGTERM', 'SIGTERM');
    await vi.waitFor(() => expect(exit).toHaveBeenCalledWith(0));
  });

  it('exits 1 when the stop never finishes within the grace period (e.g. the broker is gone)', () => {
    vi.useFakeTimers();
    const exit = vi.fn();
    remove = installSignalHandlers(() => new Promise<void>(() => undefined), logger, exit, 5_000);
    process.emit('SIGTERM', 'SIGTERM');
    vi.advanceTimersByTime(4_999);
    expect(exit).not.toHaveBeenCalled();
    vi.advanceTimersByTime(1);
    expect(exit).toHaveBeenCalledWith(1);
  });

  it('exits 130 at once on a second signal', () => {
    const exit = vi.fn();
    remove = installSignalHandlers(() => new Promise<void>(() => undefined), logger, exit, 60_000);
    process.emit('SIGINT', 'SIGINT');
    process.emit('SIGINT', 'SIGINT');
    expect(exit).toHaveBeenCalledWith(130);
  });
});

describe('a service stop', () => {
  it('runs its steps in order, once, however often it is asked', async () => {
    const done: string[] = [];
    const step = (name: string) => async () => {
      await new Promise((resolve) => setTimeout(resolve, 1));
      done.push(name);
    };
    const stop = stopOnce([step('runner'), step('producer'), step('admin')], logger, 'stopped');
    await Promise.all([stop(), stop()]);
    await stop();
    expect(done).toEqual(['runner', 'producer', 'admin']);
  });
});
