import { describe, expect, it } from 'vitest';

import { EXIT } from '../../src/trace/exit-reasons.js';
import { kvmAvailability, kvmTitle } from '../support/kvm.js';
import { recordGuest } from '../support/record.js';

const kvm = kvmAvailability();

describe.skipIf(!kvm.ok)(kvmTitle('vmtrace record under KVM'), () => {
  it('records tiny_kernel: 12 OUTs to 0xf1 spelling Hello,world, then HLT', async () => {
    const { result, console, trace } = await recordGuest('tiny_kernel.bin');
    expect(result.endReason).toBe('hlt');
    expect(console.text).toBe('Hello,world\n');
    const io = trace.records.filter((r) => r.reason === EXIT.IO);
    expect(io).toHaveLength(12);
    expect(trace.records).toHaveLength(13);
    expect(trace.records.at(-1)!.reasonName).toBe('HLT');
    expect(Buffer.from(io.flatMap((r) => [...r.io!.data])).toString()).toBe('Hello,world\n');
    for (const r of io) {
      expect(r.io).toMatchObject({ port: 0xf1, size: 1, direction: 'out', count: 1 });
      expect(Number(r.regs.rax & 0xffn)).toBe(r.io!.data[0]); // AL is the byte written
    }
    expect(trace.footer?.endReason).toBe('hlt');
    expect(trace.truncated).toBe(false);
    expect(trace.header.host.kvmApiVersion).toBe(12);
    expect(trace.header.guest.name).toBe('tiny_kernel.bin');
  });

  it('registers at an exit are those after the exiting instruction', async () => {
    const { trace } = await recordGuest('tiny_kernel.bin');
    // mov $c,%al (2 bytes) + out %al,$0xf1 (2 bytes) per character: RIP is 4 past the previous.
    trace.records.slice(0, 12).forEach((r, i) => expect(r.regs.rip).toBe(BigInt(4 * (i + 1))));
    expect(trace.records[12]!.regs.rip).toBe(49n); // past the HLT at 48
  });

  it('feeds --input to the echo guest and keeps what it fed in the trace', async () => {
    const input = Buffer.from('vmtrace!');
    const { result, console, trace } = await recordGuest('echo.bin', { input });
    expect(result.endReason).toBe('hlt');
    expect(console.text).toBe('vmtrace!');
    const ins = trace.records.filter((r) => r.io?.direction === 'in');
    expect(ins.map((r) => r.io!.data[0])).toEqual([...input, 0]);
    // The IN completed before the registers were read: AL holds the byte fed.
    for (const r of ins) expect(Number(r.regs.rax & 0xffn)).toBe(r.io!.data[0]);
  });

  it('records the MMIO guest: address, length, direction and data', async () => {
    const { console, trace } = await recordGuest('mmio.bin');
    const mmio = trace.records.filter((r) => r.reason === EXIT.MMIO).map((r) => r.mmio!);
    expect(mmio[0]).toMatchObject({ address: 0x100000, length: 1, write: true });
    expect([...mmio[0]!.data]).toEqual([0x5a]);
    expect(mmio[1]).toMatchObject({ address: 0x100004, length: 2, write: false });
    expect([...mmio[1]!.data]).toEqual([0xff, 0xff]); // unclaimed reads answer all ones
    expect(console.text).toBe('mmio\nff\n');
  });

  it('--step records one entry per instruction and ends like the plain run', async () => {
    const plain = await recordGuest('tiny_kernel.bin');
    const step = await recordGuest('tiny_kernel.bin', { singleStep: true });
    expect(step.result.endReason).toBe('hlt');
    expect(step.console.text).toBe(plain.console.text);
    // 12 × (mov, out) + hlt = 25 instructions: movs as steps, outs as IO exits, then HLT.
    expect(step.trace.records).toHaveLength(25);
    expect(step.trace.records.filter((r) => r.kind === 'step')).toHaveLength(12);
    expect(step.trace.header.semantics.singleStep).toBe(true);
    const rips = step.trace.records.map((r) => r.regs.rip);
    expect(rips).toEqual(Array.from({ length: 25 }, (_, i) => BigInt(2 * (i + 1) - (i === 24 ? 1 : 0))));
    expect(step.trace.records.at(-1)!.regs).toEqual(plain.trace.records.at(-1)!.regs);
  });

  it('stops at --max-exits with a complete trace', async () => {
    const { result, trace } = await recordGuest('tiny_kernel.bin', { maxExits: 5 });
    expect(result.endReason).toBe('max-exits');
    expect(trace.records).toHaveLength(5);
    expect(trace.footer?.endReason).toBe('max-exits');
  });
});
