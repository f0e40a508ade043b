// Undefined flags in replay: the header's flag model gives their values, flags still undefined
// at a record take the recording's values (counted, not a divergence), and a divergence that
// follows from reading one names the instruction that left it undefined.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

import { regsToBytes } from '../../src/cpu-state.js';
import { syntheticHeader } from '../../src/inspect/synthetic.js';
import { sregsToBytes } from '../../src/kvm-structs.js';
import { cpuFromHeader, replayTrace } from '../../src/replay/engine.js';
import type { ExitSink } from '../../src/replay/x86/index.js';
import { EXIT } from '../../src/trace/exit-reasons.js';
import type { TraceHeader } from '../../src/trace/format.js';
import { TraceWriter } from '../../src/trace/writer.js';
import { vmtrace } from '../support/cli.js';

const dir = mkdtempSync(join(tmpdir(), 'vmtrace-undef-'));

/**
 * "Records" `image` the way a host with flag model `hostFlags` would: the interpreter runs it
 * under that model and every OUT and the final HLT become records. The trace's own header says
 * `headerFlags` (what the recorder stored, or nothing).
 */
async function recordAs(name: string, image: number[], hostFlags: Record<string, string>, headerFlags?: Record<string, string>, flip = 0): Promise<string> {
  const base = syntheticHeader({ image: Uint8Array.from(image) });
  const host: TraceHeader = { ...base, hostModel: { flags: hostFlags, step: { joins: [] } } };
  const header: TraceHeader = headerFlags ? { ...base, hostModel: { flags: headerFlags, step: { joins: [] } } } : base;
  const outs: number[] = [];
  const sink: ExitSink = { ioIn: () => 0, ioOut: (_p, _s, v) => void outs.push(v), mmioRead: () => 0n, mmioWrite: () => {} };
  const cpu = cpuFromHeader(host, sink);
  const path = join(dir, name);
  const w = new TraceWriter(path);
  w.writeHeader(header);
  let t = 1000;
  for (;;) {
    const r = cpu.run(1000);
    const regs = cpu.getRegs();
    const recorded = { ...regs, rflags: regs.rflags ^ BigInt(flip) };
    t += 1000;
    if (r.kind === 'exit') {
      w.writeRecord({ kind: 'exit', reason: EXIT.IO, timeNs: t, runNs: 100, regsBytes: regsToBytes(recorded), io: { port: 0xf1, size: 1, out: true, count: 1, data: Uint8Array.of(outs.at(-1)!) } });
      continue;
    }
    expect(r.kind).toBe('hlt');
    w.writeRecord({ kind: 'exit', reason: EXIT.HLT, timeNs: t, runNs: 100, regsBytes: regsToBytes(recorded) });
    await w.finish({ endReason: 'hlt', message: 'guest halted (HLT)', regsBytes: regsToBytes(recorded), sregsBytes: sregsToBytes(cpu.getSregs()) });
    return path;
  }
}

// mov bx, 3; bsf ax, bx; out 0xf1, al; hlt — BSF leaves CF OF SF AF PF undefined
const BSF_OUT = [0xbb, 0x03, 0x00, 0x0f, 0xbc, 0xc3, 0xe6, 0xf1, 0xf4];
// mov bx, 3; bsf ax, bx; jp +2; mov al, 1; out 0xf1, al; hlt — the branch reads PF
const BSF_JP = [0xbb, 0x03, 0x00, 0x0f, 0xbc, 0xc3, 0x7a, 0x02, 0xb0, 0x01, 0xe6, 0xf1, 0xf4];

describe('undefined flags in replay', () => {
  it('follows the flag model stored in the trace header', async () => {
    // a host whose BSF sets PF from its result (0: PF=1); the header says so
    const path = await recordAs('model.vmtrace', BSF_OUT, { 'bsf.2': 'p=r' }, { 'bsf.2': 'p=r' });
    const r = await replayTrace(path);
    expect(r.ok).toBe(true);
    expect(r.undefinedFlags.adopted).toBe(0);
  });

  it('takes undefined flags that differ at a record from the recording, and counts them', async () => {
    // the same host, but the trace carries no model: PF differs at the OUT, where it is still undefined
    const path = await recordAs('adopt.vmtrace', BSF_OUT, { 'bsf.2': 'p=r' });
    const r = await replayTrace(path);
    expect(r.ok).toBe(true);
    expect(r.undefinedFlags).toEqual({ adopted: 1, first: { index: 0, flags: 'PF' } });
    const cli = vmtrace(['replay', path]);
    expect(cli.status).toBe(0);
    expect(cli.stderr).toMatch(/at 1 record\(s\), from #0 \(PF\), flags left undefined differed and were taken from the recording \(host-dependent\)/);
  });

  it('still reports a defined flag that differs', async () => {
    // ZF is defined by BSF: a recording with ZF flipped is a real divergence
    const path = await recordAs('zf.vmtrace', BSF_OUT, {}, undefined, 0x40);
    const r = await replayTrace(path);
    expect(r.ok).toBe(false);
    expect(r.divergence).toMatchObject({ kind: 'registers', index: 0 });
  });

  it('names the instruction that left a flag undefined when reading it led to a divergence', async () => {
    // the host's BSF set PF, so its JP jumped; replay's built-in guess (PF unchanged: 0) does not
    const path = await recordAs('consume.vmtrace', BSF_JP, { 'bsf.2': 'p=1' });
    const r = await replayTrace(path);
    expect(r.ok).toBe(false);
    expect(r.divergence!.undefinedUse).toEqual({ flags: 'PF', usedAt: '0x6', setAt: '0x3', setBy: 'bsf' });
    expect(r.divergence!.message).toMatch(/the guest last read PF at EIP 0x6, left undefined by bsf at EIP 0x3: host-dependent/);
  });
});
