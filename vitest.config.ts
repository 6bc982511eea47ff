import { createRequire } from 'node:module';
import swc from 'unplugin-swc';
import { defineConfig } from 'vitest/config';

const require = createRequire(import.meta.url);

/** The test files that run a second time on clustered engines: every flow of a sale, end to end. */
const CLUSTER_FILES = [
  'test/booking.test.ts',
  'test/payments.test.ts',
  'test/payment-expiry.test.ts',
  'test/notification-pipeline.test.ts',
];

export default defineConfig({
  // type-graphql and MikroORM read decorator metadata, which esbuild does not emit; SWC does.
  plugins: [
    swc.vite({
      jsc: {
        target: 'es2022',
        parser: { syntax: 'typescript', decorators: true },
        transform: { legacyDecorator: true, decoratorMetadata: true, useDefineForClassFields: false },
      },
    }),
  ],
  resolve: {
    // graphql ships CommonJS and ESM copies; Node (and so every dependency) loads the CommonJS one,
    // and `instanceof GraphQLError` only works if our sources load that same copy.
    alias: [{ find: /^graphql$/, replacement: require.resolve('graphql') }],
  },
  test: {
    projects: [
      {
        extends: true,
        test: {
          name: 'single',
          include: ['test/**/*.test.ts', 'src/**/*.test.ts', 'bench/**/*.test.ts', 'chaos/**/*.test.ts'],
        },
      },
      {
        // The booking, payment and notification flows again, on a Redis Cluster and a NATS cluster.
        extends: true,
        test: {
          name: 'cluster',
          include: CLUSTER_FILES,
          globalSetup: ['test/cluster-setup.ts'],
          setupFiles: ['test/support/on-cluster.ts'],
        },
      },
    ],
    globalSetup: ['test/global-setup.ts'],
    setupFiles: ['test/support/failure-logs.ts'],
    pool: 'forks',
    testTimeout: 30_000,
    hookTimeout: 60_000,
    // Each file brings its own database, key prefix and streams, so files can run side by side.
    fileParallelism: true,
    maxWorkers: 2,
  },
});
