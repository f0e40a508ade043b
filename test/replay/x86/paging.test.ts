// Paging: 4-level tables with 4 KiB, 2 MiB and 1 GiB pages (long mode), 32-bit paging with
// 4 MiB pages, PAE; accessed/dirty bits, #PF error codes and CR2, and a TLB that never hides
// a page-table change from the guest.

import { describe, expect, test } from 'vitest';
import { noAssembler } from './helpers.js';
import { PML4, PT_FREE, SEL, lm, pm, pte } from './modes.js';

const PDPT2 = PT_FREE;
const PD2 = PT_FREE + 0x1000;
const PT = PT_FREE + 0x2000;
const HI = 0xffff800000000000n;

/** Kernel-half mappings at 0xffff8000_00000000 (PML4 entry 256). */
function highTables(ram: Uint8Array): void {
  pte(ram, PML4 + 256 * 8, PDPT2, 0x3);
  pte(ram, PDPT2, PD2, 0x3);
  pte(ram, PDPT2 + 8, 0, 0x83); // 1 GiB page: +0x40000000 -> phys 0
  pte(ram, PD2, PT, 0x3);
  pte(ram, PD2 + 8, 0x400000, 0x83); // 2 MiB page: +0x200000 -> phys 0x400000
  pte(ram, PT + 1 * 8, 0x300000, 0x3); // 4 KiB, writable
  pte(ram, PT + 2 * 8, 0x301000, 0x1); // read-only
  // PT[3]: not present
  pte(ram, PT + 4 * 8, 0x302000, 0x3, true); // NX
  pte(ram, PT + 6 * 8, 0x303000 + 2 ** 50, 0x3); // reserved physical-address bit (MAXPHYADDR 48)
}

const PF64 = `
pf: pop %r15
  mov %cr2, %r14
  mov %r15, (%r13)
  mov %r14, 8(%r13)
  add $16, %r13
  add $40, %rsp
  jmp *%rdi
`;

describe.skipIf(noAssembler)('paging', () => {
  test('4-level: 4 KiB, 2 MiB and 1 GiB pages in the kernel half; accessed and dirty bits', () => {
    const m = lm(`
      movabs $0xffff800000001000, %rax
      movq $0x1111, 8(%rax)
      movabs $0xffff800000200000, %rbx
      movq $0x2222, 8(%rbx)
      movabs $0xffff800040500000, %rcx
      mov (%rcx), %rdx
      hlt`, { prepare: (ram) => { highTables(ram); new DataView(ram.buffer).setUint32(0x500000, 0x3333, true); } });
    expect(m.run().kind).toBe('hlt');
    expect(m.u64(0x300008)).toBe(0x1111n);
    expect(m.u64(0x400008)).toBe(0x2222n);
    expect(m.regs().rdx).toBe(0x3333n);
    const A = 0x20n, D = 0x40n;
    expect(m.u64(PML4 + 256 * 8) & A).toBe(A);
    expect(m.u64(PDPT2) & A).toBe(A);
    expect(m.u64(PT + 8) & (A | D)).toBe(A | D);
    expect(m.u64(PD2 + 8) & (A | D)).toBe(A | D);
    expect(m.u64(PDPT2 + 8) & (A | D)).toBe(A); // read only: no dirty bit
    expect(m.u64(PT + 2 * 8) & A).toBe(0n); // not used
  });

  test('#PF error codes and CR2: not present (read, write), write protect, NX fetch, reserved bit', () => {
    const m = lm(`
      mov $0x5000, %r13
      lea 1f(%rip), %rdi
      movabs $0xffff800000003000, %rax
      mov (%rax), %rbx                 # not present, read: 0
    1: lea 1f(%rip), %rdi
      movq $1, 8(%rax)                 # not present, write: 2
    1: lea 1f(%rip), %rdi
      movabs $0xffff800000002000, %rax
      mov (%rax), %rbx                 # read-only page: reading is fine
      movq $1, (%rax)                  # write with CR0.WP: P|W = 3
    1: lea 1f(%rip), %rdi
      movabs $0xffff800000004010, %rax
      jmp *%rax                        # NX: P|I/D = 0x11
    1: lea 1f(%rip), %rdi
      movabs $0xffff800000006000, %rax
      mov (%rax), %rbx                 # reserved bit: P|RSVD = 9
    1: hlt
    ${PF64}`, {
      gates: { 14: 'pf' },
      sregs: (s) => { s.cr0 |= 0x10000n; s.efer |= 0x800n; },
      prepare: highTables,
    });
    expect(m.run().kind).toBe('hlt');
    const got: bigint[][] = [];
    for (let k = 0; k < 5; k++) got.push([m.u64(0x5000 + k * 16), m.u64(0x5008 + k * 16)]);
    expect(got).toEqual([
      [0n, HI + 0x3000n],
      [2n, HI + 0x3008n],
      [3n, HI + 0x2000n],
      [0x11n, HI + 0x4010n],
      [9n, HI + 0x6000n],
    ]);
    expect(m.sregs().cr2).toBe(HI + 0x6000n);
  });

  test('a user-mode access to a supervisor page is #PF with U set', () => {
    const m = lm(`
      push $${SEL.udata32}
      push $0x80000
      pushf
      push $${SEL.ucode64}
      lea user(%rip), %rax
      push %rax
      iretq
    user:
      mov 0x600000, %rax       # supervisor page
      hlt
    pf: pop %r15
      mov %cr2, %r14
      hlt`, {
      gates: { 14: 'pf' },
      prepare: (ram) => { for (let k = 0; k < 2; k++) pte(ram, 0x12000 + k * 8, k * 0x200000, 0x87); },
    });
    expect(m.run().kind).toBe('hlt');
    expect(m.regs().r15).toBe(5n); // P | U (read)
    expect(m.regs().r14).toBe(0x600000n);
  });

  test('page-table changes take effect at once (no stale TLB entry), INVLPG and MOV CR3 too', () => {
    const m = lm(`
      movabs $0xffff800000001000, %rax
      mov (%rax), %rbx                 # phys 0x300000
      movabs $${PT + 8}, %rcx
      movl $0x301003, (%rcx)           # remap to phys 0x301000, no INVLPG
      mov (%rax), %rdx
      movl $0x302003, (%rcx)
      invlpg (%rax)
      mov (%rax), %rsi
      mov %cr3, %r8
      mov %r8, %cr3
      mov (%rax), %rdi
      hlt`, {
      prepare: (ram) => {
        highTables(ram);
        const v = new DataView(ram.buffer);
        v.setUint32(0x300000, 0xa, true);
        v.setUint32(0x301000, 0xb, true);
        v.setUint32(0x302000, 0xc, true);
      },
    });
    expect(m.run().kind).toBe('hlt');
    const r = m.regs();
    expect([r.rbx, r.rdx, r.rsi, r.rdi]).toEqual([0xan, 0xbn, 0xcn, 0xcn]);
  });

  test('code in the kernel half: RIP above 4 GiB, RIP-relative data, calls; history shows full RIPs without side effects', () => {
    const m = lm(`
      movabs $0xffff800000000000 + high, %rax
      jmp *%rax
    high:
      lea 0(%rip), %rbx
      mov val(%rip), %rcx
      call f
      hlt
    f: ret
    .align 8
    val: .quad 0x1234`, {
      prepare: (ram) => {
        pte(ram, PML4 + 256 * 8, PDPT2, 0x3);
        pte(ram, PDPT2, PD2, 0x3);
        pte(ram, PD2, 0, 0x83);
      },
    });
    expect(m.run().kind).toBe('hlt');
    const r = m.regs();
    expect(r.rbx).toBe(HI + BigInt(m.sym.high! + 7));
    expect(r.rcx).toBe(0x1234n);
    expect(r.rip).toBe(HI + BigInt(m.sym.f!));
    const before = m.u64(PD2);
    const h = m.cpu.history(4);
    expect(h.at(-1)!.at).toBe(`0028:ffff8000${(m.sym.f! - 1).toString(16).padStart(8, '0')}`);
    expect(h.at(-1)!.text).toBe('hlt');
    expect(m.u64(PD2)).toBe(before);
  });

  test('32-bit paging with a 4 MiB page and 4 KiB pages; #PF with CR2 in protected mode', () => {
    const m = pm(`
      mov $0x10, %eax
      mov %eax, %cr4                   # PSE
      mov $0x20000, %eax
      mov %eax, %cr3
      mov %cr0, %eax
      or $0x80010000, %eax             # PG | WP
      mov %eax, %cr0
      movl $0x77, 0x400010             # -> phys 0x300010
      mov 0x401004, %ebx               # read-only page, phys 0x301004
      mov $1f, %edi
      movl $1, 0x401000                # write: #PF(3)
    1: mov $1f, %edi
      mov 0x800000, %eax               # no PDE: #PF(0)
    1: hlt
    pf: pop %eax
      mov %cr2, %ecx
      mov %eax, 0x5000(,%esi,8)
      mov %ecx, 0x5004(,%esi,8)
      inc %esi
      add $12, %esp
      jmp *%edi`, {
      gates: { 14: 'pf' },
      prepare: (ram) => {
        const v = new DataView(ram.buffer);
        v.setUint32(0x20000, 0x00000083, true); // 4 MiB identity page (code, stacks, tables)
        v.setUint32(0x20004, 0x21003, true); // 0x400000 -> page table
        v.setUint32(0x21000, 0x300003, true);
        v.setUint32(0x21004, 0x301001, true);
        v.setUint32(0x301004, 0x99, true);
      },
    });
    expect(m.run().kind).toBe('hlt');
    expect(m.u32(0x300010)).toBe(0x77);
    expect(m.regs().rbx).toBe(0x99n);
    expect([m.u32(0x5000), m.u32(0x5004), m.u32(0x5008), m.u32(0x500c)]).toEqual([3, 0x401000, 0, 0x800000]);
    expect(m.u32(0x21000) & 0x60).toBe(0x60); // accessed + dirty
    expect(m.u32(0x20000) & 0x60).toBe(0x60); // the 4 MiB page was written (stack)
  });

  test('PAE paging (32-bit code, 2 MiB and 4 KiB pages)', () => {
    const m = pm(`
      mov $0x20, %eax
      mov %eax, %cr4                   # PAE
      mov $0x20000, %eax
      mov %eax, %cr3
      mov %cr0, %eax
      or $0x80000000, %eax
      mov %eax, %cr0
      movl $0x55, 0x800010             # PD[4] -> page table -> phys 0x300000
      mov 0x800010, %ebx
      hlt`, {
      prepare: (ram) => {
        pte(ram, 0x20000, 0x21000, 0x1); // PDPTE 0
        for (let k = 0; k < 4; k++) pte(ram, 0x21000 + k * 8, k * 0x200000, 0x83);
        pte(ram, 0x21000 + 4 * 8, 0x22000, 0x3);
        pte(ram, 0x22000, 0x300000, 0x3);
      },
    });
    expect(m.run().kind).toBe('hlt');
    expect(m.u32(0x300010)).toBe(0x55);
    expect(m.regs().rbx).toBe(0x55n);
  });
});
