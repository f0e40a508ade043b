// BOUND (0x62) — KVM on kvm_pvm cannot emulate it in real mode (the recording ends with an
// emulation failure), so it is checked here against the SDM instead of a golden trace.
import { describe, expect, test } from 'vitest';

import { noAssembler, run16 } from './helpers.js';

describe.skipIf(noAssembler !== null)('bound', () => {
  test('an index inside the bounds continues; one outside raises #BR (vector 5) through the IVT', () => {
    const m = run16(`
      movw $br_handler, 5*4
      movw $0, 5*4+2
      movw $10, 0x6000       # lower bound
      movw $20, 0x6002       # upper bound
      mov $15, %ax
      bound %ax, 0x6000      # in range: no fault
      mov $1, %cx
      mov $25, %ax
      bound %ax, 0x6000      # above: #BR, the saved IP points at this bound
      mov $2, %cx            # skipped: the handler resumes past it
      hlt
    br_handler:
      mov %sp, %bp
      mov (%bp), %dx         # saved IP
      movw $done, (%bp)
      iret
    done:
      mov $3, %bx
      hlt`);
    const r = m.regs();
    expect(r.rcx).toBe(1n);
    expect(r.rbx).toBe(3n);
    // The saved IP is the faulting BOUND itself (a fault, not a trap).
    expect(m.ram[Number(r.rdx)]).toBe(0x62);
  });
});
