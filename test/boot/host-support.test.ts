import { describe, expect, it } from 'vitest';

import { REG_NAMES, type Regs, type Sregs } from '../../src/cpu-state.js';
import { movToCr0Value, shutdownExplanation } from '../../src/boot/host-support.js';
import { bootSegments } from '../../src/boot/profiles.js';

const regs = (over: Partial<Regs>): Regs => ({ ...(Object.fromEntries(REG_NAMES.map((n) => [n, 0n])) as Regs), ...over });
const sregs = (over: Partial<Sregs>): Sregs => ({ ...bootSegments('protected'), gdt: { base: 0n, limit: 0 }, idt: { base: 0n, limit: 0 }, cr0: 0x31n, cr2: 0n, cr3: 0n, cr4: 0n, cr8: 0n, efer: 0n, apic_base: 0n, ...over }) as Sregs;

describe('explaining a SHUTDOWN the host caused', () => {
  it('decodes mov reg, %cr0 (with prefixes and REX.B)', () => {
    expect(movToCr0Value(Uint8Array.of(0x0f, 0x22, 0xc0), regs({ rax: 5n }), false)).toBe(5n);
    expect(movToCr0Value(Uint8Array.of(0x0f, 0x22, 0xc3), regs({ rbx: 7n }), false)).toBe(7n);
    expect(movToCr0Value(Uint8Array.of(0x41, 0x0f, 0x22, 0xc0), regs({ r8: 9n }), true)).toBe(9n);
    expect(movToCr0Value(Uint8Array.of(0x0f, 0x22, 0xd8), regs({}), false)).toBeUndefined(); // %cr3
    expect(movToCr0Value(Uint8Array.of(0x0f, 0x20, 0xc0), regs({}), false)).toBeUndefined(); // from %cr0
  });

  it('names 32-bit and PAE paging on kvm_pvm, and stays quiet elsewhere', () => {
    const code = Uint8Array.of(0x0f, 0x22, 0xc0);
    const r = regs({ rax: 0x80000031n, rip: 0x100040n });
    expect(shutdownExplanation(r, sregs({}), code, 'kvm_pvm')).toBe(
      "guest shut down enabling 32-bit paging (mov to CR0 with PG=1 at RIP 0x100040), which this host's KVM (kvm_pvm) cannot run; paging works in long mode (--mode long)",
    );
    expect(shutdownExplanation(r, sregs({ cr4: 0x20n }), code, 'kvm_pvm')).toMatch(/enabling PAE paging/);
    expect(shutdownExplanation(r, sregs({}), code, 'kvm_intel')).toBeUndefined();
    expect(shutdownExplanation(regs({ rax: 0x31n }), sregs({}), code, 'kvm_pvm')).toBeUndefined(); // PG not set
    expect(shutdownExplanation(r, sregs({}), Uint8Array.of(0x0f, 0x0b), 'kvm_pvm')).toBeUndefined(); // ud2: a plain triple fault
    expect(shutdownExplanation(r, sregs({ efer: 0x100n }), code, 'kvm_pvm')).toBeUndefined(); // entering long mode: runs here
  });
});
