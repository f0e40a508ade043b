// The built CLI loads a subcommand's module only when that subcommand runs, and its top-level
// help (which lists every subcommand without loading them) matches the commands' own definitions.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Help, type Command } from 'commander';
import { beforeAll, describe, expect, it } from 'vitest';

import { diffCommand } from '../../src/cli/diff-command.js';
import { inspectCommand } from '../../src/cli/inspect-command.js';
import { recordCommand } from '../../src/cli/record-command.js';
import { replayCommand } from '../../src/cli/replay-command.js';
import { showCommand } from '../../src/cli/show-command.js';
import { testCommand } from '../../src/cli/test-command.js';
import { verifyCommand } from '../../src/cli/verify-command.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const CLI = join(ROOT, 'dist/cli.js');

beforeAll(() => {
  if (!existsSync(CLI)) throw new Error(`${CLI} is missing: build first (npx tsc -p .)`);
});

/** The vmtrace modules (paths under dist/) an ES-module run of the CLI loaded, and its stdout. */
function run(...args: string[]): { modules: string[]; stdout: string; status: number | null } {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', env: { ...process.env, NODE_DEBUG: 'esm' } });
  const dist = `file://${join(ROOT, 'dist')}/`;
  const modules = [...r.stderr.matchAll(/Storing (\S+) /g)].map((m) => m[1]!).filter((u) => u.startsWith(dist)).map((u) => u.slice(dist.length));
  return { modules: [...new Set(modules)], stdout: r.stdout, status: r.status };
}

const heavy = (m: string) => /^(replay|record|inspect|trace)\//.test(m) || /^cli\/\w+-command\.js$/.test(m);

describe('lazy subcommands', () => {
  it('--version and --help load no subcommand and none of the replay, record, inspect or trace code', () => {
    for (const flag of ['--version', '--help']) {
      const r = run(flag);
      expect(r.status).toBe(0);
      expect(r.modules).toContain('cli/main.js'); // the counting sees modules at all
      expect(r.modules.filter(heavy)).toEqual([]);
    }
  });

  it('a subcommand loads its own module only', () => {
    const r = run('inspect', '--help');
    expect(r.status).toBe(0);
    expect(r.modules).toContain('cli/inspect-command.js');
    expect(r.modules.filter((m) => /^cli\/\w+-command\.js$/.test(m))).toEqual(['cli/inspect-command.js']);
    expect(run('help', 'diff').stdout).toContain('Usage: vmtrace diff [options] <a> <b>');
  });

  it('the top-level help lists every command as the command itself defines it', () => {
    const help = run('--help').stdout.replace(/\s+/g, ' ');
    const h = new Help();
    const commands: Command[] = [recordCommand(), replayCommand(), showCommand(), inspectCommand(), diffCommand(), verifyCommand(), testCommand()];
    for (const c of commands) expect(help).toContain(`${h.subcommandTerm(c)} ${c.description()}`.replace(/\s+/g, ' '));
  });
});
