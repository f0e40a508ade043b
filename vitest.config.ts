import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // Recording tests share the machine's /dev/kvm and its two cores.
    fileParallelism: true,
    maxWorkers: 2,
  },
});
