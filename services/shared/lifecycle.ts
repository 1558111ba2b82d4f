import type { Logger } from './logger.ts';

/** How long a graceful stop may take before the process exits anyway (under Kubernetes' default 30 s grace). */
export const SHUTDOWN_GRACE_MS = 25_000;

/**
 * Installs SIGTERM/SIGINT handlers that run `stop` once; a second signal forces exit, and so
 * does a stop that has not finished within `graceMs` (e.g. the broker is gone and leaving the
 * group never completes). State needs no clean stop: store batches are atomic with their offsets.
 * Returns a function that removes the handlers.
 */
export function installSignalHandlers(stop: () => Promise<void>, logger: Logger, exit: (code: number) => void = process.exit, graceMs = SHUTDOWN_GRACE_MS): () => void {
  let stopping = false;
  const onSignal = (signal: NodeJS.Signals): void => {
    if (stopping) {
      logger.warn({ signal }, 'second signal: exiting now');
      exit(130);
      return;
    }
    stopping = true;
    logger.info({ signal }, 'shutting down');
    const force = setTimeout(() => {
      logger.error({ graceMs }, 'shutdown did not finish in time: exiting without it');
      exit(1);
    }, graceMs);
    force.unref();
    stop().then(
      () => {
        clearTimeout(force);
        exit(0);
      },
      (error: unknown) => {
        clearTimeout(force);
        logger.error({ err: error }, 'shutdown failed');
        exit(1);
      },
    );
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  return () => {
    process.off('SIGTERM', onSignal);
    process.off('SIGINT', onSignal);
  };
}

/** A fatal error after start-up: stop gracefully (bounded), then exit 1. */
export function exitAfter(stop: () => Promise<void>, logger: Logger, error: unknown, exit: (code: number) => void = process.exit): void {
  logger.fatal({ err: error }, 'fatal error: stopping');
  const force = setTimeout(() => exit(1), 30_000);
  force.unref();
  stop().finally(() => exit(1));
}

/** Prints a start-up failure in one clear line (no stack for configuration errors) and exits non-zero. */
export function exitOnStartupFailure(service: string, error: unknown): never {
  const code = (error as { code?: string }).code;
  const message = error instanceof Error ? error.message : String(error);
  process.stderr.write(`${service}: cannot start${code ? ` [${code}]` : ''}: ${message}\n`);
  process.exit(code === 'CONFIG_INVALID' ? 78 : 1);
}

/**
 * A service's stop: `steps` in order, once however often it is called (a signal and a fatal error
 * may both ask), then `stoppedMessage` logged.
 */
export function stopOnce(steps: ReadonlyArray<() => Promise<unknown>>, logger: Logger, stoppedMessage: string): () => Promise<void> {
  let stopping: Promise<void> | null = null;
  return () =>
    (stopping ??= (async () => {
      for (const step of steps) await step();
      logger.info(stoppedMessage);
    })());
}
