// A few end-to-end checks of the built CLI (node dist/cli.js): output, exit codes, one-line errors.
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { CLI, HAVE_CLI, cli, synth, tempDir } from './helpers.js';

const tmp = tempDir();
afterAll(() => tmp.cleanup());

beforeAll(() => {
  if (!HAVE_CLI) throw new Error(`${CLI} is missing: build first (npx tsc -p .)`);
});

const a = await synth(tmp.path('a.vmtrace'), { exits: 200 });
const same = await synth(tmp.path('same.vmtrace'), { exits: 200, stepNs: 900 });
const other = await synth(tmp.path('other.vmtrace'), {
  exits: 200,
  mutate: (i, r) => {
    if (i === 42) r.io!.data = Uint8Array.of(0x21);
  },
});

describe('vmtrace inspect', () => {
  it('prints the summary, or JSON', () => {
    const r = cli('inspect', a);
    expect(r.status).toBe(0);
    expect(r.stdout).toContain('complete — guest halted (HLT) [hlt], 201 exits');
    expect(r.stdout).toMatch(/0xf1:out\s+156/);
    const j = cli('inspect', a, '--json');
    expect(j.status).toBe(0);
    const s = JSON.parse(j.stdout);
    expect(s.schema).toBe('vmtrace-inspect-summary/1');
    expect(s.stats.records).toBe(201);
    expect(s.trace.devices[0].base).toBe('0xf1');
  });

  it('lists filtered exits as text and NDJSON', () => {
    const r = cli('inspect', a, '--exits', '--reason', 'mmio,HLT', '--from', '100', '--limit', '3');
    expect(r.status).toBe(0);
    const lines = r.stdout.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^\s+#\s+time ms\s+reason/);
    expect(lines.slice(1).map((l) => l.trim().split(/\s+/)[0])).toEqual(['109', '120', '131']);
    // Filters imply --exits; --json gives one object per line.
    const j = cli('inspect', a, '--port', '0x60', '--limit', '2', '--json');
    const rows = j.stdout.trim().split('\n').map((l) => JSON.parse(l));
    expect(rows.map((x) => [x.index, x.io.port, x.io.direction])).toEqual([
      [6, '0x60', 'in'],
      [13, '0x60', 'in'],
    ]);
    expect(cli('inspect', a, '--addr', '0x100004', '--json').stdout.trim().split('\n')).toHaveLength(9);
  });

  it('streams a long listing to a slow reader whole, and stops quietly when the reader goes away', async () => {
    const long = await synth(tmp.path('long.vmtrace'), { exits: 60_000 });
    const whole = cli('inspect', long, '--exits').stdout;
    expect(whole.split('\n')).toHaveLength(60_003); // header, 60,001 rows, the final newline
    const run = (onData: (child: ReturnType<typeof spawn>, chunk: Buffer, got: Buffer[]) => void) =>
      new Promise<{ code: number | null; stderr: string; out: string }>((resolve) => {
        const child = spawn(process.execPath, [CLI, 'inspect', long, '--exits']);
        const got: Buffer[] = [];
        let stderr = '';
        child.stderr!.on('data', (d) => (stderr += d));
        child.stdout!.on('data', (d: Buffer) => onData(child, d, got));
        child.on('close', (code) => resolve({ code, stderr, out: Buffer.concat(got).toString('utf8') }));
      });
    // a reader that pauses after every chunk: the output waits for it, nothing is lost
    const slow = await run((child, d, got) => {
      got.push(d);
      child.stdout!.pause();
      setTimeout(() => child.stdout!.resume(), 2);
    });
    expect(slow).toEqual({ code: 0, stderr: '', out: whole });
    // `| head`: the reader closes the pipe after the first chunk
    const head = await run((child, d, got) => {
      if (!got.length) got.push(d);
      child.stdout!.destroy();
    });
    expect(head.code).toBe(0);
    expect(head.stderr).toBe('');
    expect(whole.startsWith(head.out)).toBe(true);
  });

  it('writes the console text raw', () => {
    const r = cli('inspect', a, '--console');
    expect(r.status).toBe(0);
    expect(r.stdout.length).toBe(156);
    expect(r.stdout.startsWith('Hello ')).toBe(true);
  });

  it('writes Perfetto and HTML files', () => {
    const r = cli('inspect', a, '--perfetto', tmp.path('t.json'), '--html', tmp.path('t.html'));
    expect(r.status).toBe(0);
    expect(r.stderr).toContain('t.json');
    expect(r.stderr).toContain('t.html');
  });

  it('fails with one line and exit code 2 on bad input', () => {
    const missing = cli('inspect', tmp.path('nope.vmtrace'));
    expect(missing.status).toBe(2);
    expect(missing.stderr).toMatch(/^vmtrace: .*nope\.vmtrace: byte offset 0: no such file\n$/);
    const junk = tmp.path('junk.vmtrace');
    writeFileSync(junk, 'this is not a trace at all');
    const bad = cli('inspect', junk);
    expect(bad.status).toBe(2);
    expect(bad.stderr).toMatch(/^vmtrace: .*junk\.vmtrace: byte offset 0: not a vmtrace trace \(wrong magic bytes\)\n$/);
    const reason = cli('inspect', a, '--reason', 'BOGUS');
    expect(reason.status).toBe(2);
    expect(reason.stderr.trim().split('\n')).toHaveLength(1);
    expect(reason.stderr).toContain("unknown exit reason 'BOGUS'");
    expect(cli('inspect', a, '--exits', '--console').status).toBe(2);
    expect(cli('inspect', a, '--limit', 'x').status).toBe(2);
  });
});

describe('vmtrace diff', () => {
  it('exits 0 for identical traces, 1 for different ones, 2 for bad files', () => {
    const ok = cli('diff', a, same);
    expect(ok.status).toBe(0);
    // Other host timings only: host-dependent, shown and counted, not a failure.
    expect(ok.stdout).toMatch(/^identical but for host-dependent differences \(201 exits\)/);
    const okJson = JSON.parse(cli('diff', a, same, '--json').stdout);
    expect(okJson).toMatchObject({ identical: true, behaviour: 0, hostDependent: 201, options: { exact: false } });
    const exact = cli('diff', a, same, '--exact', '--json');
    expect(exact.status).toBe(1);
    expect(JSON.parse(exact.stdout)).toMatchObject({ identical: false, hostDependent: 201, first: { index: 0, fields: expect.arrayContaining([expect.objectContaining({ kind: 'timestamps', class: 'host-dependent' })]) } });
    const diff = cli('diff', a, other);
    expect(diff.status).toBe(1);
    expect(diff.stdout).toContain('First divergence at record #42');
    const j = cli('diff', a, other, '--json');
    expect(j.status).toBe(1);
    const res = JSON.parse(j.stdout);
    expect(res).toMatchObject({ schema: 'vmtrace-diff/1', identical: false, first: { index: 42, where: 'record' } });
    expect(cli('diff', a, same, '--timestamps').status).toBe(1);
    const bad = cli('diff', a, tmp.path('missing.vmtrace'));
    expect(bad.status).toBe(2);
    expect(bad.stderr).toMatch(/^vmtrace: .*missing\.vmtrace: byte offset 0: no such file\n$/);
    expect(bad.stdout).toBe('');
  });
});
