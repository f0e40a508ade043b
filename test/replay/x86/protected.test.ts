// 32-bit protected mode: segment loads from the GDT/LDT with their checks and error codes, IDT
// delivery (interrupt/trap gates, error codes, privilege changes through the TSS), IRET, CPL 3,
// the I/O permission bitmap, mode switches by far jumps, double and triple faults, and the
// system instructions.

import { describe, expect, test } from 'vitest';
import { FLAGS, noAssembler, setup } from './helpers.js';
import { CODE, GDT, IDT, LDT, SEL, STACK0, asmSym, pm, writeDesc } from './modes.js';

/**
 * Handlers that record (vector, error code) at [ESI] and resume at EDI: the frame is
 * error code (for these vectors), EIP, CS, EFLAGS.
 */
const RECORDERS = `
rec_gp: pushl $13
  jmp rec_common
rec_np: pushl $11
  jmp rec_common
rec_ss: pushl $12
  jmp rec_common
rec_common:
  popl %ss:(%esi)
  popl %ss:4(%esi)
  add $8, %esi
  add $12, %esp
  jmp *%edi
`;
const REC_GATES = { 11: 'rec_np', 12: 'rec_ss', 13: 'rec_gp' };

describe.skipIf(noAssembler)('32-bit protected mode', () => {
  test('the recorder\'s flat protected-mode state runs 32-bit code (ALU, stack, calls, 16-bit operands)', () => {
    const m = pm(`
      mov $0x200000, %ebx
      movl $0xdeadbeef, (%ebx)
      mov (%ebx), %eax
      call f
      movw $0x1234, %cx
      addw $0x1111, %cx
      hlt
    f: push %eax
      not %eax
      mov %eax, %edx
      pop %eax
      ret`);
    expect(m.run().kind).toBe('hlt');
    const r = m.regs();
    expect(r.rax).toBe(0xdeadbeefn);
    expect(r.rdx).toBe(0x21524110n);
    expect(r.rcx).toBe(0x2345n);
    expect(r.rsp).toBe(BigInt(STACK0));
    expect(m.u32(0x200000)).toBe(0xdeadbeef);
  });

  test('loading a data segment from the GDT fills the cache and sets the accessed bit', () => {
    const m = pm(`
      mov $${SEL.limited}, %ax
      mov %ax, %ds
      movl $0x12345678, 0x10
      mov $${SEL.unaccessed}, %ax
      mov %ax, %es
      mov $0x0c, %ax       # LDT selector, after lldt
      hlt`);
    expect(m.ram[GDT + SEL.unaccessed + 5]! & 1).toBe(0);
    expect(m.run().kind).toBe('hlt');
    const s = m.sregs();
    expect(s.ds).toMatchObject({ selector: SEL.limited, base: 0x200000n, limit: 0xfff, type: 3, s: 1, present: 1, db: 1, g: 0, unusable: 0 });
    expect(m.u32(0x200010)).toBe(0x12345678);
    expect(s.es.type).toBe(3);
    expect(m.ram[GDT + SEL.unaccessed + 5]! & 1).toBe(1);
  });

  test('segment checks: limit #GP(0), #NP(sel), #GP(sel), #SS(0), read-only and execute-only segments', () => {
    const m = pm(`
      mov $0x5000, %esi
      mov $1f, %edi
      mov $${SEL.limited}, %ax
      mov %ax, %ds
      mov 0xffe, %eax          # dword at 0xffe crosses the limit 0xfff: #GP(0)
    1: mov $${SEL.data32}, %ax
      mov %ax, %ds
      mov $1f, %edi
      mov $${SEL.absent}, %ax
      mov %ax, %es             # not present: #NP(0x68)
    1: mov $1f, %edi
      mov $0x100, %ax
      mov %ax, %fs             # beyond the GDT limit: #GP(0x100)
    1: mov $1f, %edi
      mov $${SEL.execonly}, %ax
      mov %ax, %gs             # execute-only code into GS: #GP(0x78)
    1: mov $1f, %edi
      mov $${SEL.readonly}, %ax
      mov %ax, %ss             # read-only data into SS: #GP(0x60)
    1: mov $1f, %edi
      xor %eax, %eax
      mov %ax, %ss             # null SS: #GP(0)
    1: mov $1f, %edi
      mov $${SEL.readonly}, %ax
      mov %ax, %ds
      movl $1, 0x100           # write to a read-only segment: #GP(0)
    1: mov $${SEL.data32}, %ax
      mov %ax, %ds
      mov $1f, %edi
      xor %eax, %eax
      mov %ax, %fs
      mov %fs:0, %eax          # null segment: #GP(0)
    1: mov $1f, %edi
      mov $${SEL.data16}, %ax
      mov %ax, %ss
      mov $0xfff0, %esp
      mov 0x20(%esp), %eax     # beyond the 64 KiB stack limit: #SS(0)
    1: mov $${SEL.data32}, %ax
      mov %ax, %ss
      mov $${STACK0}, %esp
      hlt
    ${RECORDERS}`, { gates: REC_GATES });
    expect(m.run().kind).toBe('hlt');
    const got: number[][] = [];
    for (let a = 0x5000; a < 0x5000 + 9 * 8; a += 8) got.push([m.u32(a), m.u32(a + 4)]);
    expect(got).toEqual([[13, 0], [11, 0x68], [13, 0x100], [13, 0x78], [13, 0x60], [13, 0], [13, 0], [13, 0], [12, 0]]);
  });

  test('expand-down data segment: offsets at or below the limit fault', () => {
    const m = pm(`
      mov $0x5000, %esi
      mov $${SEL.expdown}, %ax
      mov %ax, %es
      movl $7, %es:0x2000       # above the limit 0xfff: fine
      mov $1f, %edi
      movl $7, %es:0x800        # at/below the limit: #GP(0)
    1: hlt
    ${RECORDERS}`, { gates: REC_GATES });
    expect(m.run().kind).toBe('hlt');
    expect(m.u32(0x2000)).toBe(7);
    expect([m.u32(0x5000), m.u32(0x5004)]).toEqual([13, 0]);
    expect(m.u32(0x5008)).toBe(0);
  });

  test('INT n through interrupt and trap gates; IRET restores EFLAGS; #DE/#UD/#BP/#OF return addresses', () => {
    const m = pm(`
      sti
      int $0x40
    r40: mov %ebx, %ecx        # IF as seen in the interrupt-gate handler
      int $0x41
    r41: mov %ebx, %edx
      xor %eax, %eax
      div %eax                 # #DE: a fault, the saved EIP is the div
    de_at:
      ud2
    ud_at:
      int3
    bp_after:
      mov $0x7fffffff, %eax
      add $1, %eax
      into
    of_after:
      hlt
    h40: pushf
      pop %ebx
      and $0x200, %ebx
      iret
    h41: pushf
      pop %ebx
      and $0x200, %ebx
      iret
    hde: mov (%esp), %eax
      mov %eax, 0x5000
      addl $2, (%esp)
      iret
    hud: mov (%esp), %eax
      mov %eax, 0x5004
      addl $2, (%esp)
      iret
    hbp: mov (%esp), %eax
      mov %eax, 0x5008
      iret
    hof: mov (%esp), %eax
      mov %eax, 0x500c
      iret`, { gates: { 0x40: 'h40', 0x41: { label: 'h41', type: 0xf }, 0: 'hde', 6: 'hud', 3: 'hbp', 4: 'hof' } });
    expect(m.run().kind).toBe('hlt');
    const r = m.regs();
    expect(r.rcx).toBe(0n); // interrupt gate: IF cleared
    expect(r.rdx).toBe(0x200n); // trap gate: IF kept
    expect(Number(r.rflags) & FLAGS.IF).toBe(FLAGS.IF); // restored by IRET
    expect(m.u32(0x5000)).toBe(m.sym.de_at! - 2);
    expect(m.u32(0x5004)).toBe(m.sym.ud_at! - 2);
    expect(m.u32(0x5008)).toBe(m.sym.bp_after);
    expect(m.u32(0x500c)).toBe(m.sym.of_after);
    expect(r.rsp).toBe(BigInt(STACK0));
  });

  test('INT n with a gate DPL below CPL raises #GP(vector*8+2); a not-present gate #NP(vector*8+2)', () => {
    const m = pm(`
      push $${SEL.udata32}
      push $0x80000
      pushf
      push $${SEL.ucode32}
      push $user
      iret
    user:
      mov $${SEL.udata32}, %ax
      mov %ax, %ds
      mov $0x5000, %esi
      mov $1f, %edi
      int $0x40                # gate DPL 0 at CPL 3
    1: mov $1f, %edi
      int $0x42                # DPL 3 but not present
    1: mov $1f, %edi
      hlt                      # privileged at CPL 3: #GP(0)
    1: mov $0x99, %ebx
      int $0x43                # DPL 3, present: to ring 0
    rec_gp: pushl $13
      jmp rec
    rec_np: pushl $11
    rec:
      popl (%esi)
      popl 4(%esi)
      add $8, %esi
      add $20, %esp            # EIP CS EFLAGS ESP SS (ring 3 -> 0)
      push $${SEL.udata32}
      push $0x80000
      pushf
      push $${SEL.ucode32}
      push %edi
      iret
    done: hlt`, {
      gates: { 13: 'rec_gp', 11: 'rec_np', 0x40: 'done', 0x43: { label: 'done', dpl: 3 } },
      prepare: (ram) => {
        const at = IDT + 0x42 * 8; // DPL 3, not present
        ram[at + 2] = SEL.code32;
        ram[at + 5] = 0x0e | (3 << 5);
      },
    });
    expect(m.run().kind).toBe('hlt');
    expect(m.regs().rbx).toBe(0x99n);
    expect([m.u32(0x5000), m.u32(0x5004), m.u32(0x5008), m.u32(0x500c), m.u32(0x5010), m.u32(0x5014)])
      .toEqual([13, 0x40 * 8 + 2, 11, 0x42 * 8 + 2, 13, 0]);
    expect(m.sregs().cs.selector).toBe(SEL.code32);
  });

  test('CPL 3: IRET to ring 3, INT 0x80 switches to the TSS stack, IRET back, privileged instructions #GP(0)', () => {
    const m = pm(`
      push $${SEL.udata32}
      push $0x80000
      pushf
      push $${SEL.ucode32}
      push $user
      iret
    user:
      mov $${SEL.udata32}, %ax   # IRET to ring 3 nulled DS (DPL 0 < CPL 3)
      mov %ax, %ds
      mov $1, %eax
      mov %esp, %ebp
      int $0x80
      mov %eax, %ebx
      mov %cs, %ecx
      hlt                      # #GP(0): CPL 3
    sys:
      mov %esp, 0x5000         # frame on the ring-0 stack
      mov 12(%esp), %edx
      mov %edx, 0x5004         # user ESP
      mov 16(%esp), %edx
      mov %edx, 0x5008         # user SS
      mov %ss, %edx
      mov %edx, 0x500c
      add $1, %eax
      iret
    gp:
      pop %edx                 # error code
      mov (%esp), %esi         # faulting EIP
      mov 4(%esp), %edi        # faulting CS
      hlt`, { gates: { 0x80: { label: 'sys', dpl: 3 }, 13: 'gp' } });
    expect(m.run().kind).toBe('hlt');
    const r = m.regs();
    expect(m.u32(0x5000)).toBe(STACK0 - 20);
    expect(m.u32(0x5004)).toBe(0x80000);
    expect(m.u32(0x5008)).toBe(SEL.udata32);
    expect(m.u32(0x500c)).toBe(SEL.data32);
    expect(r.rbx).toBe(2n);
    expect(r.rcx).toBe(BigInt(SEL.ucode32));
    expect(r.rdx).toBe(0n);
    expect(r.rdi).toBe(BigInt(SEL.ucode32));
    expect(Number(r.rsi)).toBe(m.sym.user! + 19); // the hlt
    expect(m.sregs().ds.selector).toBe(SEL.udata32);
    expect(m.sregs().cs.selector).toBe(SEL.code32);
    expect(m.sregs().ss.selector).toBe(SEL.data32);
  });

  test('CPL 3 I/O: the TSS permission bitmap allows or refuses each port (#GP(0)); CLI with IOPL 0 faults', () => {
    const m = pm(`
      push $${SEL.udata32}
      push $0x80000
      pushf
      push $${SEL.ucode32}
      push $user
      iret
    user:
      mov $0x10, %al
      out %al, $0x70           # bitmap bit clear: allowed
      mov $1, %ebx
      out %al, $0x80           # bit set: #GP(0)
      mov $2, %ebx
      hlt
    gp:
      pop %edx
      mov (%esp), %esi
      hlt`, { gates: { 13: 'gp' }, prepare: (ram) => { ram[0x4000 + 0x68 + (0x80 >> 3)] = 1; } });
    expect(m.run().kind).toBe('exit');
    expect(m.sink.log).toEqual([{ kind: 'out', addr: 0x70, size: 1, value: 0x10 }]);
    expect(m.run().kind).toBe('hlt');
    expect(m.regs().rbx).toBe(1n);
    expect(m.regs().rdx).toBe(0n);
    expect(m.sink.log.length).toBe(1);
  });

  test('far JMP to a 16-bit code segment and back changes the code size', () => {
    const m = pm(`
      ljmp $${SEL.code16}, $(c16 - ${CODE})
    .code16
    c16:
      mov $0x1234, %ax
      mov $0x89abcdef, %ebx    # 66-prefixed in 16-bit code
      ljmpl $${SEL.code32}, $c32
    .code32
    c32:
      mov $5, %ecx
      hlt`, { prepare: (ram) => writeDesc(ram, GDT + SEL.code16, { type: 0xb, base: CODE, limit: 0xffff, db: 0, g: 0 }) });
    expect(m.cpu.step().kind).toBe('limit');
    expect(m.sregs().cs).toMatchObject({ selector: SEL.code16, base: BigInt(CODE), db: 0 });
    expect(m.cpu.peek().text).toBe('mov ax, 0x1234');
    expect(m.run().kind).toBe('hlt');
    const r = m.regs();
    expect([r.rax, r.rbx, r.rcx]).toEqual([0x1234n, 0x89abcdefn, 5n]);
    expect(m.sregs().cs.selector).toBe(SEL.code32);
  });

  test('far CALL/RET and LCALL through memory stay at CPL 0', () => {
    const m = pm(`
      lcall $${SEL.code32}, $far1
      mov $ptr, %ebx
      lcall *(%ebx)
      hlt
    far1: mov $1, %ecx
      lret
    far2: mov $2, %edx
      lret
    ptr: .long far2
      .word ${SEL.code32}`);
    expect(m.run().kind).toBe('hlt');
    expect([m.regs().rcx, m.regs().rdx, m.regs().rsp]).toEqual([1n, 2n, BigInt(STACK0)]);
  });

  test('#GP while delivering #GP through a not-present gate escalates to #DF (error code 0)', () => {
    const m = pm(`
      mov $0x100, %ax
      mov %ax, %ds             # #GP(0x100), but gate 13 is not present: #NP -> #DF
      hlt
    df: pop %eax
      mov $0xdf, %ebx
      hlt`, { gates: { 8: 'df' } });
    expect(m.run().kind).toBe('hlt');
    expect(m.regs().rax).toBe(0n);
    expect(m.regs().rbx).toBe(0xdfn);
  });

  test('a fault while delivering #DF is a triple fault: the SHUTDOWN exit', () => {
    const m = pm(`
      mov $0x100, %ax
      mov %ax, %ds
      hlt`);
    const r = m.run();
    expect(r.kind).toBe('shutdown');
    if (r.kind === 'shutdown') expect(r.reason).toMatch(/#GP -> #NP -> #DF|triple/);
    expect(m.run().kind).toBe('shutdown');
  });

  test('LGDT/LIDT/SGDT/SIDT, LTR/STR, LLDT/SLDT and an LDT data segment', () => {
    const m = pm(`
      sgdt 0x5000
      sidt 0x5010
      str %ax
      mov %eax, 0x5020
      mov $${SEL.ldt}, %ax
      lldt %ax
      sldt %bx
      mov $0x0c, %ax           # LDT entry 1
      mov %ax, %fs
      movl $0xfeed, %fs:4
      movw $0x2f, 0x5030
      movl $0x1000, 0x5032
      lidt 0x5030
      sidt 0x5040
      hlt`);
    expect(m.run().kind).toBe('hlt');
    expect(m.ram[0x5000]).toBe(0xff);
    expect(m.u32(0x5002)).toBe(GDT);
    expect(m.u32(0x5012)).toBe(IDT);
    expect(m.u32(0x5020) & 0xffff).toBe(SEL.tss);
    expect(m.regs().rbx & 0xffffn).toBe(BigInt(SEL.ldt));
    expect(m.sregs().ldt).toMatchObject({ selector: SEL.ldt, base: BigInt(LDT), limit: 0xff, type: 2, s: 0 });
    expect(m.sregs().fs.base).toBe(0x300000n);
    expect(m.u32(0x300004)).toBe(0xfeed);
    expect(m.sregs().idt).toEqual({ base: 0x1000n, limit: 0x2f });
    expect(m.ram[0x5040]).toBe(0x2f);
  });

  test('LAR/LSL/VERR/VERW and ARPL', () => {
    const m = pm(`
      mov $${SEL.limited}, %ecx
      lar %ecx, %eax
      setz %bl
      lsl %ecx, %edx
      mov $0x100, %ecx
      lsl %ecx, %esi           # beyond the GDT: ZF = 0, ESI unchanged
      setz %bh
      mov $${SEL.readonly}, %ecx
      verr %cx
      setz 0x5000
      verw %cx
      setz 0x5001
      mov $${SEL.execonly}, %ecx
      verr %cx
      setz 0x5002
      mov $0x10, %ax
      mov $0x13, %cx
      arpl %cx, %ax
      setz 0x5003
      mov %eax, 0x5004
      hlt`, { regs: { rsi: 0x77n } });
    expect(m.run().kind).toBe('hlt');
    const r = m.regs();
    expect(r.rax & 0xffffn).toBe(0x13n); // arpl raised the RPL
    expect(Number(r.rbx) & 0xff).toBe(1);
    expect((Number(r.rbx) >> 8) & 0xff).toBe(0);
    expect(r.rdx).toBe(0xfffn);
    expect(r.rsi).toBe(0x77n);
    expect([m.ram[0x5000], m.ram[0x5001], m.ram[0x5002], m.ram[0x5003]]).toEqual([1, 0, 0, 1]);
  });

  test('LAR returns the access-rights bytes', () => {
    const m = pm(`
      mov $${SEL.limited}, %ecx
      lar %ecx, %eax
      hlt`);
    m.run();
    expect(m.regs().rax).toBe(0x00409300n); // P, DPL 0, S, type 3; D/B; G=0
  });

  test('entering protected mode from real mode: LGDT, MOV CR0, far JMP to 32-bit code', () => {
    const { bytes, sym } = asmSym(`
      .code16
      cli
      lgdtl gdtr
      mov %cr0, %eax
      or $1, %eax
      mov %eax, %cr0
      ljmpl $0x08, $pm32
    .code32
    pm32:
      mov $0x10, %ax
      mov %ax, %ds
      mov %ax, %ss
      mov $0x90000, %esp
      push $0xabcd
      pop %ebx
      movl $0x11223344, 0x200000
      hlt
    .align 8
    gdt: .quad 0
      .quad 0x00cf9b000000ffff
      .quad 0x00cf93000000ffff
    gdtr: .word 23
      .long gdt`, 0x7c00);
    const m = setup(bytes, { ram: [{ base: 0, bytes: new Uint8Array(0x400000) }] });
    expect(m.cpu.run(1000).kind).toBe('hlt');
    expect(m.regs().rbx).toBe(0xabcdn);
    const s = m.cpu.getSregs();
    expect(s.cs).toMatchObject({ selector: 8, base: 0n, limit: 0xffffffff, db: 1, g: 1, type: 0xb });
    expect(s.ss).toMatchObject({ selector: 0x10, limit: 0xffffffff, db: 1 });
    expect(s.gdt).toEqual({ base: BigInt(sym.gdt!), limit: 23 });
    expect(new DataView(m.ram.buffer).getUint32(0x200000, true)).toBe(0x11223344);
  });
});
