// vmtrace show TRACE N and vmtrace replay TRACE --to N, as a user runs them (dist/cli.js).
import { spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { readTrace } from '../../src/trace/reader.js';
import { CLI, type CliResult } from '../support/cli.js';
import { ROOT } from '../support/record.js';
import { rewriteTrace } from '../support/rewrite.js';

let work: string;
let cache: string;
beforeAll(() => {
  work = mkdtempSync(join(tmpdir(), 'vmtrace-show-cli-'));
  cache = join(work, 'cache');
});
afterAll(() => rmSync(work, { recursive: true, force: true }));

/** Runs vmtrace with the cache in the work directory (as `user`, a uid, when given). */
function run(args: string[], opts: { env?: NodeJS.ProcessEnv; uid?: number } = {}): CliResult {
  const env: NodeJS.ProcessEnv = { ...process.env, XDG_CACHE_HOME: cache, ...opts.env };
  delete env.VMTRACE_CACHE_DIR;
  const r = spawnSync(process.execPath, [CLI, ...args], { cwd: work, env, encoding: 'utf8', timeout: 60_000, ...(opts.uid !== undefined ? { uid: opts.uid, gid: opts.uid } : {}) });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

function copyOf(name: string, dir = work): string {
  mkdirSync(dir, { recursive: true });
  const file = join(dir, name);
  copyFileSync(join(ROOT, 'traces', name), file);
  return file;
}

const hex = (v: bigint) => `0x${v.toString(16)}`;

describe('vmtrace show', () => {
  it('prints the state after record N, building the index on the first run only', () => {
    const file = copyOf('tiny_kernel.vmtrace');
    const first = run(['show', file, '5']);
    expect(first.status).toBe(0);
    expect(first.stderr).toMatch(/^vmtrace: no snapshot index yet: building .*tiny_kernel\.vmtrace\.vmtidx \(replays the whole trace once\)\n$/);
    expect(first.stdout).toMatch(/^record 5 of 13 \(exit IO out 0xf1 1 2c ",", byte offset \d+\) after 12 instructions, mode real\nregisters:\n {2}eax 0x0000002c {2}ebx /);
    expect(first.stdout).toMatch(/\n {4}0000:0016 {2}e6f1 {2}out 0xf1, al\n => 0000:0018 {2}b077 {2}mov al, 0x77\n/);
    expect(first.stdout).toMatch(/\nsegments:\n {2}cs {2}0x0000 {2}base 0x00000000 {2}limit 0x0000ffff {2}type b \(code, readable, accessed\)/);
    expect(first.stdout).toMatch(/\nsystem:\n {2}cr0 0x60000010 \[ET NW CD\]/);
    const second = run(['show', file, '5']);
    expect(second).toEqual({ ...first, stderr: '' });
  });

  it('replay --to N prints the same', () => {
    const file = copyOf('hello-64.vmtrace');
    for (const extra of [[], ['--json'], ['--mem', '0x100000:40']]) {
      const show = run(['show', file, '20', ...extra]);
      const to = run(['replay', file, '--to', '20', ...extra]);
      expect(show.status).toBe(0);
      expect(to).toEqual({ ...show, stderr: to.stderr });
    }
  });

  it('--json: the registers are the record\'s, in a stable schema', async () => {
    for (const name of ['hello-64.vmtrace', 'sieve-32.vmtrace', 'grp_alu.step.vmtrace']) {
      const file = copyOf(name);
      const { records } = await readTrace(file);
      for (const n of [0, Math.floor(records.length / 2), records.length - 1]) {
        const r = run(['show', '--json', file, String(n)]);
        expect(r.status).toBe(0);
        const j = JSON.parse(r.stdout);
        expect(j).toMatchObject({ schema: 'vmtrace-show/1', reached: true, record: { index: n, of: records.length, offset: records[n]!.offset } });
        const rec = records[n]!;
        for (const [k, v] of Object.entries(rec.regs)) expect(j.regs[k], `${name} #${n} ${k}`).toBe(hex(v));
        expect(j.segments.cs).toMatchObject({ selector: hex(BigInt(rec.sregs.cs.selector)), base: hex(rec.sregs.cs.base), l: rec.sregs.cs.l });
        expect(j.control.cr0).toBe(hex(rec.sregs.cr0));
        expect(j.width).toBe(name.endsWith('64.vmtrace') ? 64 : 32);
        expect(Object.keys(j)).toEqual(['schema', 'trace', 'reached', 'record', 'position', 'mode', 'width', 'regs', 'rflags', 'segments', 'gdtr', 'idtr', 'control', 'controlFlags', 'msrs', 'code', 'memory']);
      }
    }
  });

  it('--mem dumps linear memory, --phys physical memory', () => {
    const file = copyOf('tiny_kernel.vmtrace', join(work, 'mem'));
    const lin = run(['show', file, '2', '--mem', '0:20']);
    expect(lin.status).toBe(0);
    // the image is loaded at 0: mov al, 'H'; out 0xf1, al; …
    expect(lin.stdout).toMatch(/\nmemory \(linear 0x0, 20 bytes\):\n {2}0x00000000 {2}b0 48 e6 f1 b0 65 e6 f1 {2}b0 6c e6 f1 b0 6c e6 f1 {2}\|\.H\.\.\.e\.\.\.l\.\.\.l\.\.\|\n {2}0x00000010 {2}b0 6f e6 f1 +\|\.o\.\. {12}\|\n$/);
    const phys = run(['show', file, '2', '--mem', '0:20', '--phys']);
    expect(phys.stdout).toBe(lin.stdout.replace('memory (linear', 'memory (physical'));
    // past RAM (1 MiB): nothing there
    const j = JSON.parse(run(['show', '--json', file, '2', '--mem', '0xffff8:16', '--phys']).stdout);
    expect(j.memory).toEqual([{ address: '0xffff8', length: 16, space: 'physical', ranges: [{ address: '0xffff8', length: 8, bytes: '0000000000000000' }, { address: '0x100000', length: 8, bytes: null }] }]);
  });

  it('refuses a record past the end and a bad --mem in one line (exit 2)', () => {
    const file = copyOf('tiny_kernel.vmtrace', join(work, 'bad'));
    const cases: Array<[string[], RegExp]> = [
      [['show', file, '13'], /^vmtrace: .*tiny_kernel\.vmtrace has 13 records \(0 to 12\): there is no record 13\n$/],
      [['replay', file, '--to', '99'], /there is no record 99\n$/],
      [['show', file, '-1'], /^vmtrace: N: '-1' is negative; expected a record index/],
      [['show', file, '1', '--mem', '0x10'], /^vmtrace: --mem: '0x10' is not ADDR:LEN \(examples: 0x7c00:64, 0x100000:4K\)\n$/],
      [['show', file, '1', '--mem', 'zz:4'], /^vmtrace: --mem ADDR: 'zz' is not an integer/],
      [['show', file, '1', '--mem', '0:0'], /^vmtrace: --mem LEN: '0' is too small/],
      [['show', file, '1', '--mem', '0:2M'], /^vmtrace: --mem LEN: '2M' is more than the 1 MiB maximum/],
      [['show', file, '1', '--phys'], /^vmtrace: --phys: give the range to dump with --mem ADDR:LEN\n$/],
      [['replay', file, '--mem', '0:4'], /^vmtrace: --mem: only with --to N\n$/],
      [['replay', file, '--to', '1', '--no-exec'], /^vmtrace: --to: not with --no-exec\n$/],
      [['show', join(work, 'missing.vmtrace'), '1'], /^vmtrace: .*missing\.vmtrace: byte offset 0: no such file\n$/],
      [['show', join(ROOT, 'guests', 'count.S'), '1'], /^vmtrace: .*count\.S: byte offset 0: not a vmtrace trace \(wrong magic bytes\)\n$/],
    ];
    for (const [args, message] of cases) {
      const r = run(args);
      expect(r.status, args.join(' ')).toBe(2);
      expect(r.stderr.replace(/^vmtrace: no snapshot index yet: .*\n/, ''), args.join(' ')).toMatch(message);
      expect(r.stdout).toBe('');
    }
  });

  it('reports a divergence before record N (exit 1)', async () => {
    const file = join(work, 'diverges.vmtrace');
    // record 4 says the guest wrote another byte
    await rewriteTrace(join(ROOT, 'traces', 'tiny_kernel.vmtrace'), file, (_rec, m, i) => {
      if (i === 4) m.ioData = Uint8Array.of(0x21);
    });
    expect(run(['show', file, '3']).status).toBe(0);
    const r = run(['show', file, '8']);
    expect(r.status).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(/^divergence \(payload\) at record #4, byte offset \d+ of .*diverges\.vmtrace\n/);
    expect(r.stderr).toMatch(/\nvmtrace: record 8 not reached: replay diverged at record #4: exit #4: the guest did OUT port 0xf1/);
    const j = run(['show', '--json', file, '8']);
    expect(j.status).toBe(1);
    expect(JSON.parse(j.stdout)).toMatchObject({ schema: 'vmtrace-show/1', reached: false, record: { index: 8, of: 13 }, divergence: { kind: 'payload', index: 4 } });
  });

  it('keeps the index in $XDG_CACHE_HOME/vmtrace when the trace\'s directory is not writable', () => {
    const dir = join(work, 'readonly');
    const file = copyOf('sieve-32.vmtrace', dir);
    const own = join(work, 'own-cache');
    mkdirSync(own);
    // root writes anywhere: run as nobody then, for whom the directory is read-only
    const uid = process.getuid?.() === 0 ? 65534 : undefined;
    chmodSync(work, 0o755);
    chmodSync(own, 0o777);
    chmodSync(dir, 0o555);
    try {
      const first = run(['show', file, '40'], { uid, env: { XDG_CACHE_HOME: own } });
      expect(first.stderr).toMatch(/^vmtrace: no snapshot index yet: building .*own-cache\/vmtrace\/index-sieve-32\.vmtrace-[0-9a-f]{32}\.vmtidx/);
      expect(first.status).toBe(0);
      expect(existsSync(`${file}.vmtidx`)).toBe(false);
      expect(readdirSync(join(own, 'vmtrace'))).toEqual([expect.stringMatching(/^index-sieve-32\.vmtrace-[0-9a-f]{32}\.vmtidx$/)]);
      const second = run(['show', file, '40'], { uid, env: { XDG_CACHE_HOME: own } });
      expect(second).toEqual({ ...first, stderr: '' });

      // nowhere to keep it: a temporary one, removed afterwards
      const tmp = join(work, 'tmp');
      const readonlyCache = join(work, 'readonly-cache');
      mkdirSync(tmp);
      mkdirSync(readonlyCache);
      chmodSync(tmp, 0o777);
      chmodSync(readonlyCache, 0o555);
      const third = run(['show', file, '40'], { uid, env: { XDG_CACHE_HOME: readonlyCache, TMPDIR: tmp } });
      expect(third.stderr).toMatch(/^vmtrace: no snapshot index yet: building a temporary one \(.*permission denied \(EACCES\).*\) \(replays the whole trace once\)\n$/);
      expect(third.stdout).toBe(first.stdout);
      expect(readdirSync(tmp)).toEqual([]);
    } finally {
      chmodSync(dir, 0o755);
    }
  });
});
