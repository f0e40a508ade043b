#!/usr/bin/env node
// npm run bench: every benchmark in turn (each prints its own ratios against its baseline).
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
let failed = 0;
for (const name of ['record', 'replay', 'replay-exits', 'format', 'inspect', 'startup', 'show']) {
  process.stdout.write(`\n== bench:${name}\n`);
  const r = spawnSync(process.execPath, [join(here, `${name}.mjs`)], { stdio: 'inherit' });
  if (r.status !== 0) failed++;
}
process.exitCode = failed ? 1 : 0;
