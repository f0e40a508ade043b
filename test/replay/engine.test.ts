import { createHash } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

import { realModeState } from '../../src/boot/real-mode.js';
import { replayTrace } from '../../src/replay/engine.js';
import { EXIT } from '../../src/trace/exit-reasons.js';
import { TraceWriter } from '../../src/trace/writer.js';
import { regsToBytes } from '../../src/cpu-state.js';
import { sregsToBytes } from '../../src/kvm-structs.js';
import { readTrace } from '../../src/trace/reader.js';
import { vmtrace } from '../support/cli.js';
import { ROOT } from '../support/record.js';
import { rewriteTrace } from '../support/rewrite.js';

const dir = mkdtempSync(join(tmpdir(), 'vmtrace-replay-'));
const golden = (name: string) => join(ROOT, 'traces', name);

describe('vmtrace replay', () => {
  it('replays the tiny_kernel golden without KVM: Hello,world and all 13 exits matched', () => {
    const r = vmtrace(['replay', golden('tiny_kernel.vmtrace')], { env: { VMTRACE_KVM_DEVICE: '/nonexistent' } });
    expect(r.status).toBe(0);
    expect(r.stdout).toBe('Hello,world\n');
    expect(r.stderr).toMatch(/all 13 exits matched/);
  });

  it('names the exit whose recorded OUT byte was altered, field by field, exit 1', async () => {
    const bad = join(dir, 'out-byte.vmtrace');
    await rewriteTrace(golden('tiny_kernel.vmtrace'), bad, (rec, m) => {
      if (rec.seq === 4) m.ioData![0] = 0x21; // 'o' → '!'
    });
    const res = await replayTrace(bad);
    expect(res.ok).toBe(false);
    expect(res.matched).toBe(4);
    expect(res.divergence).toMatchObject({ kind: 'payload', index: 4 });
    expect(res.divergence!.fields).toEqual([{ field: 'io.data', expected: '21', actual: '6f' }]);
    expect(res.divergence!.history.at(-1)).toMatchObject({ at: '0000:0012', text: 'out 0xf1, al' });

    const cli = vmtrace(['replay', bad]);
    expect(cli.status).toBe(1);
    expect(cli.stderr).toMatch(/divergence \(payload\) at record #4, byte offset \d+ of/);
    expect(cli.stderr).toMatch(/io\.data\s+21\s+6f/);
    expect(cli.stderr).toMatch(/0000:0010\s+b06f\s+mov al, 0x6f/);
    const json = JSON.parse(vmtrace(['replay', '--json', bad]).stdout);
    expect(json).toMatchObject({ ok: false, matched: 4, divergence: { kind: 'payload', index: 4 } });
  });

  it('names the instruction after which a register was altered in a --step trace', async () => {
    const bad = join(dir, 'step-reg.vmtrace');
    await rewriteTrace(golden('tiny_kernel.step.vmtrace'), bad, (rec, m) => {
      if (rec.seq === 10) m.regs.rbx = 0x1234n;
    });
    const res = await replayTrace(bad);
    expect(res.divergence).toMatchObject({ kind: 'registers', index: 10 });
    expect(res.divergence!.registers).toEqual([{ field: 'rbx', expected: '0x1234', actual: '0x0' }]);
  });

  it('reports an instruction it does not implement as a divergence, not a crash', async () => {
    const path = join(dir, 'fpu.vmtrace');
    const t = await readTrace(golden('tiny_kernel.vmtrace'));
    const image = Uint8Array.from([0xd9, 0xe8, 0xf4]); // fld1; hlt
    const w = new TraceWriter(path);
    w.writeHeader({ ...t.header, guest: { ...t.header.guest, image, sha256: createHash('sha256').update(image).digest('hex') }, initialMemory: [{ address: 0, bytes: image, what: 'image' }] });
    const boot = realModeState({ cs: 0, ip: 0, sp: 0 }, t.header.boot.sregs);
    w.writeRecord({ kind: 'exit', reason: EXIT.HLT, timeNs: 1, runNs: 1, regsBytes: regsToBytes({ ...boot.regs, rip: 3n }) });
    await w.finish({ endReason: 'hlt', message: '', regsBytes: regsToBytes(boot.regs), sregsBytes: sregsToBytes(t.header.boot.sregs) });
    const res = await replayTrace(path);
    expect(res.divergence).toMatchObject({ kind: 'unsupported', index: 0 });
    expect(res.divergence!.message).toMatch(/unsupported instruction d9 e8 at 0000:0000/);
  });

  it('--no-exec reproduces the console from the recorded exits alone', () => {
    const r = vmtrace(['replay', '--no-exec', golden('echo.vmtrace')]);
    expect(r.status).toBe(0);
    expect(r.stdout).toBe('hello, vmtrace\n');
    expect(r.stderr).toMatch(/without executing the guest/);
  });

  it('replays a guest that ended through isa-debug-exit to the same exit status', () => {
    const r = vmtrace(['replay', '-q', golden('hello-64.vmtrace')], { env: { VMTRACE_KVM_DEVICE: '/nonexistent' } });
    expect(r.stderr).toMatch(/all \d+ exits matched .*exit device \(status 33\)/);
    expect(r.status).toBe(33);
  });

  it('stops at a recorded KVM emulation failure and says so', async () => {
    const res = await replayTrace(golden('enter_bound.step.vmtrace'));
    expect(res.ok).toBe(true);
    expect(res.note).toMatch(/KVM INTERNAL_ERROR at 0000:[0-9a-f]{4} \(enter /);
  });
});
