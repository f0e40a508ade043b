#!/usr/bin/env node
// npm install hook: build the optional KVM addon. Failure is not fatal: replay and inspect
// work without it, and `vmtrace record` explains what is missing.
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';

const warn = (msg) => process.stderr.write(`vmtrace: ${msg}\n`);

if (process.platform !== 'linux') {
  warn(`skipping the KVM addon on ${process.platform} (recording needs Linux); replay and inspect work`);
  process.exit(0);
}
let nodeGyp;
try {
  nodeGyp = createRequire(import.meta.url).resolve('node-gyp/bin/node-gyp.js');
} catch {
  warn('node-gyp is not installed; the KVM addon was not built (recording unavailable)');
  process.exit(0);
}
const result = spawnSync(process.execPath, [nodeGyp, 'rebuild'], { stdio: ['ignore', 'pipe', 'pipe'], encoding: 'utf8' });
if (result.status !== 0) {
  const lines = `${result.stdout}\n${result.stderr}`.split('\n').map((l) => l.trim());
  // node-gyp's own summary ("`make` failed with exit code: 127", "Could not find any Python…")
  // says most; a compiler's first error line is the next best thing.
  const reason =
    lines.find((l) => l.startsWith('gyp ERR! stack Error:'))?.replace('gyp ERR! stack Error: ', '') ??
    lines.find((l) => / error:|not found|not installed|ENOENT/i.test(l)) ??
    'see `npm run build:addon` for details';
  warn(`the KVM addon could not be built (${reason.slice(0, 200)}); recording is unavailable, replay and inspect work`);
  warn('to build it later: install g++, make and python3, then run `npm run build:addon`');
  process.exit(0);
}
process.stderr.write('vmtrace: built the KVM addon (build/Release/vmtrace_kvm.node)\n');
