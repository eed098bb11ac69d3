import { defineConfig } from 'vitest/config';

/** The hostile suites that talk to the server over sockets and HTTP only, run again against `serve --workers 2`. */
const HOSTILE_OVER_THE_WIRE = ['test/hostile/commands.test.ts', 'test/hostile/framing.test.ts', 'test/hostile/tenancy.test.ts', 'test/hostile/fallback.test.ts'];

export default defineConfig({
  test: {
    testTimeout: 20000,
    hookTimeout: 20000,
    pool: 'forks',
    projects: [
      { extends: true, test: { name: 'default', include: ['packages/*/test/**/*.test.ts', 'test/**/*.test.ts'] } },
      { extends: true, test: { name: 'hostile-workers', include: HOSTILE_OVER_THE_WIRE, env: { HOSTILE_WORKERS: '2' } } },
    ],
  },
});
