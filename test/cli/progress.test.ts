// The progress line of long record/replay/test runs (src/cli/progress.ts): with a fake TTY and
// a fake clock, and that runs whose stderr is not a terminal print nothing extra.
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

import { Progress } from '../../src/cli/progress.js';
import { vmtrace } from '../support/cli.js';
import { ROOT } from '../support/record.js';

class FakeTty {
  isTTY = true;
  columns = 120;
  chunks: string[] = [];
  write(s: string): boolean {
    this.chunks.push(s);
    return true;
  }
  get text(): string {
    return this.chunks.join('');
  }
}

function setup(opts: { tty?: boolean; consoleTty?: boolean; columns?: number } = {}) {
  const stream = new FakeTty();
  stream.isTTY = opts.tty ?? true;
  if (opts.columns) stream.columns = opts.columns;
  const clock = { t: 0 };
  const p = new Progress('replaying x.vmtrace', { stream, console: { isTTY: opts.consoleTty ?? false }, now: () => clock.t, timer: false });
  return { stream, clock, p };
}

describe('Progress', () => {
  it('draws nothing during the first second, then one line at most every 250 ms: \\r, text, clear to end of line', () => {
    const { stream, clock, p } = setup();
    clock.t = 500;
    p.update({ records: 10, exits: 10, bytes: 5_000_000 });
    expect(stream.chunks).toEqual([]);
    clock.t = 1000;
    p.update({ records: 2000, exits: 2000, bytes: 1_234_567 });
    expect(stream.chunks).toEqual(['\rvmtrace: replaying x.vmtrace: 2,000 records, 2,000 exits/s, 1.2 MB read, 1.0 s\x1b[K']);
    clock.t = 1200;
    p.update({ records: 2100, exits: 2100 });
    expect(stream.chunks.length).toBe(1); // not due yet
    clock.t = 1250;
    p.update({ records: 2500, exits: 2000 });
    expect(stream.chunks.at(-1)).toBe('\rvmtrace: replaying x.vmtrace: 2,500 records (2,000 exits), 1,600 exits/s, 1.3 s\x1b[K');
  });

  it('erases the line before other output and at the end, and only when it is drawn', () => {
    const { stream, clock, p } = setup();
    p.clear();
    expect(stream.chunks).toEqual([]);
    clock.t = 2000;
    p.update({ records: 1 });
    p.clear();
    p.clear();
    expect(stream.chunks.slice(1)).toEqual(['\r\x1b[K']);
    clock.t = 3000;
    p.update({ records: 2 });
    p.stop();
    expect(stream.chunks.slice(2)).toEqual(['\rvmtrace: replaying x.vmtrace: 2 records, 1 records/s, 3.0 s\x1b[K', '\r\x1b[K']);
    clock.t = 4000;
    p.update({ records: 3 });
    expect(stream.chunks.length).toBe(4); // stopped: never again
  });

  it('is completely silent when the stream is not a TTY', () => {
    const { stream, clock, p } = setup({ tty: false });
    expect(p.enabled).toBe(false);
    for (clock.t = 0; clock.t < 10_000; clock.t += 100) {
      p.update({ records: clock.t });
      p.console(Buffer.from('x\n'));
      p.clear();
    }
    p.stop();
    expect(stream.chunks).toEqual([]);
  });

  it('VMTRACE_PROGRESS=0 turns it off on a TTY', () => {
    process.env.VMTRACE_PROGRESS = '0';
    try {
      expect(new Progress('x', { stream: new FakeTty(), timer: false }).enabled).toBe(false);
    } finally {
      delete process.env.VMTRACE_PROGRESS;
    }
  });

  it('with the console on the same terminal: erased before console output, redrawn only after 500 ms of quiet at a line start', () => {
    const { stream, clock, p } = setup({ consoleTty: true });
    clock.t = 1000;
    p.update({ records: 1 });
    expect(stream.chunks.length).toBe(1);
    p.console(Buffer.from('Loading'));
    expect(stream.chunks.at(-1)).toBe('\r\x1b[K'); // erased before the guest writes
    for (clock.t = 1000; clock.t <= 5000; clock.t += 250) p.update({ records: 2 });
    expect(stream.chunks.length).toBe(2); // the guest's line is unfinished: never drawn over it
    clock.t = 5000;
    p.console(Buffer.from('... done\n'));
    clock.t = 5250;
    p.update({ records: 3 });
    expect(stream.chunks.length).toBe(2); // quiet for 250 ms only
    clock.t = 5500;
    p.update({ records: 3 });
    expect(stream.chunks.length).toBe(3);
    expect(stream.chunks.at(-1)).toMatch(/^\rvmtrace: replaying x\.vmtrace: 3 records/);
  });

  it('without a shared terminal the console does not hold it back', () => {
    const { stream, clock, p } = setup({ consoleTty: false });
    clock.t = 1000;
    p.console(Buffer.from('partial'));
    p.update({ records: 1 });
    expect(stream.chunks.length).toBe(1);
  });

  it('fits the line into the terminal width', () => {
    const { stream, clock, p } = setup({ columns: 40 });
    clock.t = 1000;
    p.update({ records: 123456789, exits: 1, bytes: 1e9 });
    const line = stream.chunks[0]!.replace(/^\r/, '').replace(/\x1b\[K$/, '');
    expect(line.length).toBe(39);
    expect(line.endsWith('…')).toBe(true);
  });

  it('restart() starts a new item: erases, new label, counts and clock', () => {
    const { stream, clock, p } = setup();
    clock.t = 1000;
    p.update({ records: 5 });
    p.restart('tiny_kernel: replaying');
    expect(stream.chunks.at(-1)).toBe('\r\x1b[K');
    clock.t = 1500;
    p.update({ records: 1 });
    expect(stream.chunks.length).toBe(2); // its own first second
    clock.t = 2000;
    p.update({ records: 7 });
    expect(stream.chunks.at(-1)).toBe('\rvmtrace: tiny_kernel: replaying: 7 records, 7 records/s, 1.0 s\x1b[K');
  });
});

describe('without a TTY, the commands print nothing extra', () => {
  it('replay of a long golden (stderr is a pipe): just the verdict', () => {
    const r = vmtrace(['replay', '-q', join(ROOT, 'traces', 'bench-64.vmtrace')], { env: { VMTRACE_KVM_DEVICE: '/nonexistent' } });
    expect(r.status).toBe(0);
    expect(r.stderr).toMatch(/^vmtrace: all \d+ exits matched \([^\n]*\n$/);
    expect(r.stderr).not.toMatch(/\r|\x1b/);
  });

  it('vmtrace test (replay only): no carriage returns or escape sequences anywhere', () => {
    const r = vmtrace(['test', '--no-record', 'bench-64', 'compute']);
    expect(r.status).toBe(0);
    expect(r.stdout + r.stderr).not.toMatch(/\r|\x1b/);
    expect(r.stderr).toBe('');
  });
});
