// Nondeterministic instructions (src/replay/x86/exec/nondet.ts): RDTSC, RDTSCP, RDMSR of the
// TSC, RDRAND and RDSEED take their results from the recording (CpuOptions.recordedState, the
// registers of a --step trace's record), or stop the run before executing; RDPID is computed.
import { describe, expect, test } from 'vitest';

import type { Regs } from '../../../src/cpu-state.js';
import { setup, zeroRegs } from './helpers.js';

const ORG = 0x7c00n;
const recorded = (r: Partial<Regs>) => ({ ...zeroRegs(), ...r });

describe('nondeterministic instructions', () => {
  test('without a recording, run() stops before RDTSC, names it and its address, and suggests --step', () => {
    const m = setup(new Uint8Array([0x90, 0x0f, 0x31, 0xf4]), { regs: { rax: 0x55n } });
    const r = m.cpu.run(100);
    expect(r.kind).toBe('nondeterministic');
    if (r.kind !== 'nondeterministic') return;
    expect(r.instruction).toBe('RDTSC');
    expect(r.at).toBe('0000:7c01');
    expect(r.message).toMatch(/^RDTSC at 0000:7c01: .*--step/);
    expect(m.regs().rip).toBe(ORG + 1n);
    expect(m.regs().rax).toBe(0x55n);
    expect(m.cpu.instructions).toBe(1);
  });

  test('RDTSC takes EDX:EAX from the recording, zero-extended', () => {
    const asked: string[] = [];
    const m = setup(new Uint8Array([0x0f, 0x31, 0xf4]), {
      regs: { rax: 0xffffffff_00000000n, rdx: 0x1_00000000n },
      recordedState: (name) => (asked.push(name), recorded({ rax: 0xdead_12345678n, rdx: 0xbeef_00000abcn })),
    });
    expect(m.cpu.step().kind).toBe('limit');
    expect(m.regs().rax).toBe(0x12345678n);
    expect(m.regs().rdx).toBe(0xabcn);
    expect(asked).toEqual(['RDTSC']);
    expect(m.cpu.recordedResults).toBe(1);
    expect(m.cpu.history(1)[0]!.text).toBe('rdtsc');
  });

  test('RDRAND/RDSEED: the register and CF from the recording, OF SF ZF AF PF cleared; 16-bit merges', () => {
    // push 0x8d5; popf (all six flags set); rdrand ax; rdseed ecx (66 prefix in 16-bit code); hlt
    const code = [0x68, 0xd5, 0x08, 0x9d, 0x0f, 0xc7, 0xf0, 0x66, 0x0f, 0xc7, 0xf9, 0xf4];
    const m = setup(new Uint8Array(code), {
      regs: { rax: 0x11112222n },
      recordedState: (name) => recorded(name === 'RDRAND' ? { rax: 0x9999abcdn, rflags: 0x3n } : { rcx: 0x7777_87654321n, rflags: 0x2n }),
    });
    m.cpu.step();
    m.cpu.step();
    m.cpu.step(); // rdrand ax
    expect(m.regs().rax).toBe(0x1111abcdn);
    expect(m.regs().rflags & 0x8d5n).toBe(1n);
    m.cpu.step(); // rdseed ecx
    expect(m.regs().rcx).toBe(0x87654321n);
    expect(m.regs().rflags & 0x8d5n).toBe(0n);
    expect(m.cpu.history(2).map((h) => h.text)).toEqual(['rdrand', 'rdseed']);
  });

  test('CPUID gates RDRAND, RDSEED, RDTSCP and RDPID (#UD without their bits), not RDTSC', () => {
    // a CPUID without any of them: leaf 0 and leaf 1 only
    const cpuid = [
      { function: 0, index: 0, flags: 0, eax: 1, ebx: 0x68747541, ecx: 0x444d4163, edx: 0x69746e65 },
      { function: 1, index: 0, flags: 0, eax: 0, ebx: 0, ecx: 0, edx: 0x10 },
    ];
    for (const bytes of [[0x0f, 0xc7, 0xf0], [0x0f, 0xc7, 0xf8], [0x0f, 0x01, 0xf9], [0xf3, 0x0f, 0xc7, 0xf8]]) {
      const m = setup(new Uint8Array([...bytes, 0xf4]), { cpuid, ivt: { 6: [0, 0x600] } });
      m.ram[0x600] = 0xf4;
      expect(m.cpu.run(10).kind, bytes.join(' ')).toBe('hlt');
      expect(m.regs().rip).toBe(0x601n);
    }
    const m = setup(new Uint8Array([0x0f, 0x31, 0xf4]), { cpuid });
    expect(m.cpu.run(10).kind).toBe('nondeterministic');
  });

  test('RDTSCP: EDX:EAX recorded, ECX = IA32_TSC_AUX; RDPID = IA32_TSC_AUX, no recording needed', () => {
    const m = setup(new Uint8Array([0x0f, 0x01, 0xf9, 0xf3, 0x0f, 0xc7, 0xfb, 0xf4]), {
      regs: { rcx: 0xffn, rbx: 0xffff_ffff_ffff_ffffn },
      recordedState: () => recorded({ rax: 5n, rdx: 6n, rcx: 0x999n }),
    });
    m.cpu.setMsr(0xc0000103, 0x42n);
    m.cpu.step();
    expect([m.regs().rax, m.regs().rdx, m.regs().rcx]).toEqual([5n, 6n, 0x42n]);
    expect(m.cpu.recordedResults).toBe(1);
    m.cpu.step();
    expect(m.regs().rbx).toBe(0x42n); // 32-bit destination outside 64-bit mode, zero-extended
    expect(m.cpu.recordedResults).toBe(1);
  });

  test('RDMSR of IA32_TSC is nondeterministic too', () => {
    // mov ecx, 0x10; rdmsr; hlt
    const code = [0x66, 0xb9, 0x10, 0, 0, 0, 0x0f, 0x32, 0xf4];
    const stop = setup(new Uint8Array(code)).cpu;
    stop.step();
    const r = stop.step();
    expect(r.kind === 'nondeterministic' && r.instruction).toBe('RDMSR IA32_TSC');
    const m = setup(new Uint8Array(code), { recordedState: () => recorded({ rax: 0x1_00000007n, rdx: 3n }) });
    m.cpu.step();
    m.cpu.step();
    expect([m.regs().rax, m.regs().rdx]).toEqual([7n, 3n]);
  });
});
