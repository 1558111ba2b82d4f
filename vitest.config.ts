import { defineConfig } from 'vitest/config';

// Three projects: `unit` (pure code, in-memory fakes, no network), `integration` (the real Kafka
// broker and schema registry started by infra/stack.sh) and `chaos` (faults on the real stack:
// each file starts a stack of its own, whose broker it kills or cuts off).
export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: 'unit',
          include: ['test/unit/**/*.test.ts'],
          environment: 'node',
          testTimeout: 20_000,
        },
      },
      {
        test: {
          name: 'integration',
          include: ['test/integration/**/*.test.ts'],
          exclude: ['test/integration/chaos/**'],
          environment: 'node',
          testTimeout: 180_000,
          hookTimeout: 180_000,
          globalSetup: ['test/integration/global-setup.ts'],
        },
      },
      {
        test: {
          name: 'chaos',
          include: ['test/integration/chaos/**/*.test.ts'],
          environment: 'node',
          testTimeout: 600_000,
          hookTimeout: 300_000,
        },
      },
    ],
  },
});
