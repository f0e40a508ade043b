#!/usr/bin/env node
// bench:startup — how long `vmtrace --version`, `--help` and a subcommand's `--help` take to
// start, and how many modules they load, against `node -e 0` measured in the same run (and
// against loading every subcommand's module, as every command line did before subcommands were
// loaded lazily). Each case runs R times, interleaved with the others, in a fresh process; the
// table shows the median wall time. Modules: the distinct file: modules Node's ES loader stores
// (NODE_DEBUG=esm), the vmtrace ones and those of its dependencies.
//
//   node bench/startup.mjs [--runs R]
//
// Uses ../dist (build first: npx tsc -p .).
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const CLI = join(ROOT, 'dist', 'cli.js');
const args = process.argv.slice(2);
const RUNS = args.includes('--runs') ? Number(args[args.indexOf('--runs') + 1]) : 15;

if (!existsSync(CLI)) {
  process.stderr.write('bench:startup: dist/ is not built: run npx tsc -p . first\n');
  process.exit(1);
}

const COMMANDS = ['record', 'replay', 'show', 'inspect', 'diff', 'verify', 'test'];
const everyCommand = COMMANDS.map((c) => `await import(${JSON.stringify(pathToFileURL(join(ROOT, 'dist', 'cli', `${c}-command.js`)).href)});`).join('');
const cases = [
  { label: 'node -e 0', argv: ['-e', '0'], baseline: true },
  { label: 'every subcommand module (before)', argv: ['--input-type=module', '-e', everyCommand] },
  { label: 'vmtrace --version', argv: [CLI, '--version'] },
  { label: 'vmtrace --help', argv: [CLI, '--help'] },
  { label: 'vmtrace inspect --help', argv: [CLI, 'inspect', '--help'] },
  { label: 'vmtrace replay --help', argv: [CLI, 'replay', '--help'] },
].map((c) => ({ ...c, ms: [] }));

function modules(argv) {
  const r = spawnSync(process.execPath, argv, { encoding: 'utf8', env: { ...process.env, NODE_DEBUG: 'esm' } });
  return new Set([...r.stderr.matchAll(/Storing (file:\S+) /g)].map((m) => m[1])).size;
}

for (let i = 0; i < RUNS; i++) {
  for (const c of cases) {
    const t0 = performance.now();
    const r = spawnSync(process.execPath, c.argv, { stdio: ['ignore', 'ignore', 'pipe'] });
    if (r.status !== 0) throw new Error(`${c.label} failed: ${r.stderr}`);
    c.ms.push(performance.now() - t0);
  }
}
const median = (xs) => [...xs].sort((x, y) => x - y)[xs.length >> 1];
const base = median(cases[0].ms);
const f = (x, w) => String(x).padStart(w);
console.log(`vmtrace startup — median of ${RUNS} runs each, interleaved, in fresh processes (Node ${process.version})`);
console.log('');
console.log(`${'command'.padEnd(36)}${f('ms', 8)}${f('× node -e 0', 13)}${f('modules', 9)}`);
for (const c of cases) {
  const ms = median(c.ms);
  console.log(`${c.label.padEnd(36)}${f(ms.toFixed(0), 8)}${f(c.baseline ? 'baseline' : (ms / base).toFixed(2) + '×', 13)}${f(modules(c.argv), 9)}`);
}
