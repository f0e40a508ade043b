#!/usr/bin/env node
// npm install hook: build the optional KVM addon. Failure is not fatal: replay and inspect
// work without it, and `vmtrace record` explains what is missing. `--required` (npm run
// build:addon) shows node-gyp's full output and fails instead. With npm's --foreground-scripts
// (`npm rebuild vmtrace --foreground-scripts` in a project that depends on vmtrace, where npm
// otherwise hides this script's output) node-gyp's output is shown too, and failure stays non-fatal.
// The hints name the command that works where this copy is (scripts/addon-hint.mjs).
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

import { addonBuildHint } from './addon-hint.mjs';

const warn = (msg) => process.stderr.write(`vmtrace: ${msg}\n`);
const hint = addonBuildHint(resolve(dirname(fileURLToPath(import.meta.url)), '..'));

if (process.platform !== 'linux') {
  warn(`skipping the KVM addon on ${process.platform} (recording needs Linux); replay and inspect work`);
  process.exit(0);
}
let nodeGyp;
try {
  nodeGyp = createRequire(import.meta.url).resolve('node-gyp/bin/node-gyp.js');
} catch {
  warn(`node-gyp is not installed; the KVM addon was not built (recording unavailable): reinstall, then run \`${hint}\``);
  process.exit(0);
}
// Build against the running Node's own headers when they are installed beside it (e.g.
// /usr/include/node): node-gyp would otherwise download them, which fails offline.
const args = [nodeGyp, 'rebuild'];
const nodeDir = resolve(dirname(process.execPath), '..');
if (!process.env.npm_config_nodedir && existsSync(join(nodeDir, 'include', 'node', 'node_api.h'))) args.push(`--nodedir=${nodeDir}`);
const required = process.argv.includes('--required');
const shown = required || process.env.npm_config_foreground_scripts === 'true';
const result = spawnSync(process.execPath, args, { stdio: ['ignore', shown ? 'inherit' : 'pipe', shown ? 'inherit' : 'pipe'], encoding: 'utf8' });
if (required && result.status !== 0) process.exit(1);
if (result.status !== 0) {
  const lines = `${result.stdout ?? ''}\n${result.stderr ?? ''}`.split('\n').map((l) => l.trim());
  // node-gyp's own summary ("`make` failed with exit code: 127", "Could not find any Python…")
  // says most; a compiler's first error line is the next best thing.
  const reason =
    lines.find((l) => l.startsWith('gyp ERR! stack Error:'))?.replace('gyp ERR! stack Error: ', '') ??
    lines.find((l) => / error:|not found|not installed|ENOENT/i.test(l)) ??
    (shown ? 'node-gyp failed, see above' : `see \`${hint}\` for details`);
  warn(`the KVM addon could not be built (${reason.slice(0, 200)}); recording is unavailable, replay and inspect work`);
  warn(`to build it later: install g++, make and python3, then run \`${hint}\``);
  process.exit(0);
}
process.stderr.write('vmtrace: built the KVM addon (build/Release/vmtrace_kvm.node)\n');
