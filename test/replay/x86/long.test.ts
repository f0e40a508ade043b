// 64-bit long mode: REX forms, 64-bit operands and immediates, RIP-relative addressing,
// 64-bit multiply/divide and the exchange instructions, IDT delivery with 16-byte gates, IST
// and the TSS RSP0, IRETQ, CPL 3, compatibility mode, MSRs, canonical-address faults, and the
// recorder's long-mode boot state.

import { describe, expect, test } from 'vitest';
import { FLAGS, noAssembler } from './helpers.js';
import { CODE, PD, SEL, STACK0, lm, pte } from './modes.js';

const { CF, ZF, OF, SF } = FLAGS;

describe.skipIf(noAssembler)('64-bit long mode', () => {
  test('the recorder\'s long-mode state runs; 32-bit writes zero-extend, 8/16-bit writes merge', () => {
    const m = lm(`
      movabs $0xffffffffffffffff, %rax
      mov $0x12345678, %eax
      movabs $0x1111111111111111, %rbx
      mov $0x22, %bl
      movabs $0x4444444444444444, %rcx
      mov $0x3333, %cx
      movabs $0x5555555555555555, %rdx
      mov $0x66, %dh
      mov $-1, %r10d
      movsxd %r10d, %r11
      mov $1, %r8
      mov %r8, %r15
      add %r15, %r15
      movabs $0x7777777777777777, %rsi
      mov $0x99, %sil
      movabs $0x8888888888888888, %rdi
      mov $0xaa, %dil
      mov $0x12, %r9b
      mov $0x3456, %r12w
      xchg %r8, %rax
      hlt`, { regs: { r9: 0xffffffffffffffffn, r12: 0xffffffffffffffffn } });
    expect(m.run().kind).toBe('hlt');
    const r = m.regs();
    expect(r.r8).toBe(0x12345678n);
    expect(r.rax).toBe(1n);
    expect(r.rbx).toBe(0x1111111111111122n);
    expect(r.rcx).toBe(0x4444444444443333n);
    expect(r.rdx).toBe(0x5555555555556655n);
    expect(r.r10).toBe(0xffffffffn);
    expect(r.r11).toBe(0xffffffffffffffffn);
    expect(r.r15).toBe(2n);
    expect(r.rsi).toBe(0x7777777777777799n);
    expect(r.rdi).toBe(0x88888888888888aan);
    expect(r.r9).toBe(0xffffffffffffff12n);
    expect(r.r12).toBe(0xffffffffffff3456n);
  });

  test('RIP-relative loads, stores and LEA; 64-bit ALU flags', () => {
    const m = lm(`
      mov data(%rip), %rax
      lea data(%rip), %rbx
      mov %rax, out(%rip)
      incq out(%rip)
      movabs $0x7fffffffffffffff, %rcx
      add $1, %rcx
      pushf
      pop %rdx
      movabs $0x8000000000000000, %rsi
      sub $1, %rsi
      pushf
      pop %rdi
      xor %r8, %r8
      sub $1, %r8
      pushf
      pop %r9
      hlt
    .align 8
    data: .quad 0x0123456789abcdef
    out: .quad 0`);
    expect(m.run().kind).toBe('hlt');
    const r = m.regs();
    expect(r.rax).toBe(0x0123456789abcdefn);
    expect(r.rbx).toBe(BigInt(m.sym.data!));
    expect(m.u64(m.sym.out!)).toBe(0x0123456789abcdf0n);
    expect(r.rcx).toBe(0x8000000000000000n);
    expect(Number(r.rdx) & (CF | ZF | OF | SF)).toBe(OF | SF);
    expect(r.rsi).toBe(0x7fffffffffffffffn);
    expect(Number(r.rdi) & (CF | ZF | OF | SF)).toBe(OF);
    expect(r.r8).toBe(0xffffffffffffffffn);
    expect(Number(r.r9) & (CF | ZF | OF | SF)).toBe(CF | SF);
  });

  test('64-bit MUL/IMUL/DIV/IDIV, and #DE through a 64-bit IDT gate', () => {
    const m = lm(`
      movabs $0xfedcba9876543210, %rax
      movabs $0x123456789, %rbx
      mul %rbx
      mov %rax, %r8
      mov %rdx, %r9
      movabs $-3, %rax
      mov $5, %rcx
      imul %rcx
      mov %rax, %r10
      mov %rdx, %r11
      movabs $0x100000000, %r12
      imul $0x7fffffff, %r12, %r13
      mov $3, %rdx
      mov $7, %rax
      mov $0x10, %rcx
      div %rcx                 # (3 << 64 | 7) / 16
      mov %rax, %r14
      mov %rdx, %r15
      movabs $-100, %rax
      cqo
      mov $7, %rcx
      idiv %rcx
      mov %rax, %rsi
      mov %rdx, %rdi
      xor %ecx, %ecx
      div %rcx                 # #DE
    de_at:
      hlt
    hde: mov (%rsp), %rbx
      hlt`, { gates: { 0: 'hde' } });
    expect(m.run().kind).toBe('hlt');
    const r = m.regs();
    const p = 0xfedcba9876543210n * 0x123456789n;
    expect(r.r8).toBe(p & 0xffffffffffffffffn);
    expect(r.r9).toBe(p >> 64n);
    expect(r.r10).toBe(BigInt.asUintN(64, -15n));
    expect(r.r11).toBe(0xffffffffffffffffn);
    expect(r.r13).toBe(0x7fffffff00000000n);
    expect(r.r14).toBe(((3n << 64n) | 7n) / 16n);
    expect(r.r15).toBe(7n);
    expect(r.rsi).toBe(BigInt.asUintN(64, -14n));
    expect(r.rdi).toBe(BigInt.asUintN(64, -2n));
    expect(r.rbx).toBe(BigInt(m.sym.de_at! - 3)); // the faulting div
  });

  test('CMPXCHG16B (match and mismatch), CMPXCHG/XADD/BSWAP/BT/BSF/BSR/POPCNT/LZCNT/TZCNT on 64 bits', () => {
    const m = lm(`
      lea slot(%rip), %rsi
      xor %eax, %eax
      xor %edx, %edx
      mov $0x11, %ebx
      mov $0x22, %ecx
      cmpxchg16b (%rsi)        # equal (0:0): stores 0x22:0x11, ZF=1
      setz %r8b
      cmpxchg16b (%rsi)        # not equal now: loads RDX:RAX, ZF=0
      setz %r9b
      mov %rax, %r10
      mov %rdx, %r11
      movabs $0x8000000000000001, %rax
      bswap %rax
      mov %rax, %r12
      movabs $0x0000010000000000, %rbx
      bsf %rbx, %r13
      bsr %rbx, %r14
      popcnt %r12, %r15
      lzcnt %rbx, %rbp
      tzcnt %rbx, %rdi
      bt $40, %rbx
      setc %cl
      hlt
    .align 16
    slot: .quad 0, 0`);
    expect(m.run().kind).toBe('hlt');
    const r = m.regs();
    expect(r.r8 & 0xffn).toBe(1n);
    expect(r.r9 & 0xffn).toBe(0n);
    expect([r.r10, r.r11]).toEqual([0x11n, 0x22n]);
    expect(m.u64(m.sym.slot!)).toBe(0x11n);
    expect(m.u64(m.sym.slot! + 8)).toBe(0x22n);
    expect(r.r12).toBe(0x0100000000000080n);
    expect([r.r13, r.r14, r.r15, r.rbp, r.rdi]).toEqual([40n, 40n, 2n, 23n, 40n]);
    expect(r.rcx & 0xffn).toBe(1n);
  });

  test('POPCNT/LZCNT/TZCNT/CMPXCHG16B follow the guest CPUID', () => {
    const cpuid = [
      { function: 0, index: 0, flags: 0, eax: 0xd, ebx: 0x68747541, ecx: 0x444d4163, edx: 0x69746e65 },
      { function: 1, index: 0, flags: 0, eax: 0, ebx: 0, ecx: 0, edx: 0 }, // no POPCNT, no CX16
      { function: 0x80000000, index: 0, flags: 0, eax: 0x80000008, ebx: 0, ecx: 0, edx: 0 },
      { function: 0x80000001, index: 0, flags: 0, eax: 0, ebx: 0, ecx: 0, edx: 0x20100000 }, // LM, NX; no ABM
    ];
    const m = lm(`
      mov $0x100, %rbx
      lzcnt %rbx, %rcx         # no LZCNT: BSR -> 8
      tzcnt %rbx, %rdx         # no BMI1: BSF -> 8
      popcnt %rbx, %rsi        # no POPCNT: #UD
      hlt
    ud: mov $0x66, %edi
      hlt`, { cpuid, gates: { 6: 'ud' } });
    expect(m.run().kind).toBe('hlt');
    expect([m.regs().rcx, m.regs().rdx, m.regs().rdi]).toEqual([8n, 8n, 0x66n]);
  });

  test('64-bit shifts, rotates and SHLD/SHRD', () => {
    const m = lm(`
      movabs $0x8000000180000001, %rax
      mov %rax, %rbx
      shl $33, %rbx
      mov %rax, %rcx
      shr $31, %rcx
      mov %rax, %rdx
      sar $63, %rdx
      mov %rax, %rsi
      rol $4, %rsi
      mov %rax, %rdi
      ror $1, %rdi
      mov %rax, %r8
      mov $0xff, %r9
      shld $8, %r9, %r8
      mov %rax, %r10
      shrd $4, %r9, %r10
      hlt`);
    expect(m.run().kind).toBe('hlt');
    const r = m.regs();
    const v = 0x8000000180000001n;
    const M = (1n << 64n) - 1n;
    expect(r.rbx).toBe((v << 33n) & M);
    expect(r.rcx).toBe(v >> 31n);
    expect(r.rdx).toBe(M);
    expect(r.rsi).toBe(((v << 4n) | (v >> 60n)) & M);
    expect(r.rdi).toBe(((v >> 1n) | (v << 63n)) & M);
    expect(r.r8).toBe(((v << 8n) | 0n) & M);
    expect(r.r10).toBe(((v >> 4n) | (0xffn << 60n)) & M);
  });

  test('PUSH/POP/CALL/RET/ENTER/LEAVE with 64-bit stack slots; 16-bit push with 66', () => {
    const m = lm(`
      movabs $0x1122334455667788, %rax
      push %rax
      pushq $-2
      pushw $0x1234
      pop %bx
      pop %rcx
      pop %rdx
      call f
      hlt
    f: enter $16, $0
      mov %rsp, %r8
      mov %rbp, %r9
      leave
      ret`);
    expect(m.run().kind).toBe('hlt');
    const r = m.regs();
    expect(r.rbx & 0xffffn).toBe(0x1234n);
    expect(r.rcx).toBe(0xfffffffffffffffen);
    expect(r.rdx).toBe(0x1122334455667788n);
    expect(r.r9).toBe(BigInt(STACK0 - 16));
    expect(r.r8).toBe(BigInt(STACK0 - 32));
    expect(r.rsp).toBe(BigInt(STACK0));
  });

  test('REP MOVSQ / STOSQ / LODSQ / SCASQ with 64-bit RSI/RDI/RCX, LOOP and JRCXZ', () => {
    const m = lm(`
      lea src(%rip), %rsi
      mov $0x300000, %rdi
      mov $3, %rcx
      rep movsq
      rep movsq                # the finishing step of the first one is a separate step
      movabs $0xa5a5a5a5a5a5a5a5, %rax
      mov $0x301000, %rdi
      mov $2, %ecx
      rep stosq
      mov $0x300008, %rsi
      lodsq
      mov %rax, %rbx
      mov $5, %rcx
    1: loop 1b
      jrcxz 2f
      mov $1, %r8
    2: hlt
    .align 8
    src: .quad 1, 2, 3`);
    expect(m.run().kind).toBe('hlt');
    expect([m.u64(0x300000), m.u64(0x300008), m.u64(0x300010)]).toEqual([1n, 2n, 3n]);
    expect([m.u64(0x301000), m.u64(0x301008), m.u64(0x301010)]).toEqual([0xa5a5a5a5a5a5a5a5n, 0xa5a5a5a5a5a5a5a5n, 0n]);
    expect(m.regs().rbx).toBe(2n);
    expect(m.regs().rsi).toBe(0x300010n);
    expect(m.regs().r8).toBe(0n);
  });

  test('IDT delivery with 16-byte gates: frame, IRETQ, IST stack, error code of #GP on a non-canonical address', () => {
    const m = lm(`
      sti
      int $0x20
      movabs $0x8000000000000000, %rax
      mov (%rax), %rbx         # non-canonical: #GP(0)
    gp_at:
      int $0x21                # IST 1
      hlt
    h20:
      mov %rsp, %r8
      mov (%rsp), %r9          # RIP
      mov 8(%rsp), %r10        # CS
      mov 16(%rsp), %r11       # RFLAGS
      mov 24(%rsp), %r12       # RSP
      mov 32(%rsp), %r13       # SS
      iretq
    h21:
      mov %rsp, %r14
      iretq
    hgp:
      pop %r15                 # error code
      mov (%rsp), %rsi
      addq $3, (%rsp)
      iretq`, { gates: { 0x20: 'h20', 0x21: { label: 'h21', ist: 1 }, 13: 'hgp' } });
    expect(m.run().kind).toBe('hlt');
    const r = m.regs();
    expect(r.r8).toBe(BigInt(STACK0 - 40));
    expect(r.r9).toBe(BigInt(CODE + 3));
    expect(r.r10).toBe(BigInt(SEL.code64));
    expect(Number(r.r11) & FLAGS.IF).toBe(FLAGS.IF);
    expect(r.r12).toBe(BigInt(STACK0));
    expect(r.r13).toBe(BigInt(SEL.data32));
    expect(r.r15).toBe(0n);
    expect(r.rsi).toBe(BigInt(m.sym.gp_at! - 3));
    expect(r.r14).toBe(BigInt(0x70000 - 40));
    expect(r.rsp).toBe(BigInt(STACK0));
    expect(Number(r.rflags) & FLAGS.IF).toBe(FLAGS.IF);
  });

  test('CPL 3 in long mode: IRETQ to ring 3, INT 0x80 switches to TSS.RSP0 with SS = null, privileged instruction #GP(0)', () => {
    const m = lm(`
      push $${SEL.udata32}
      push $0x80000
      pushf
      push $${SEL.ucode64}
      lea user(%rip), %rax
      push %rax
      iretq
    user:
      mov $1, %eax
      int $0x80
      mov %rax, %rbx
      mov %cs, %ecx
      cli                      # IOPL 0 at CPL 3: #GP(0)
    sys:
      mov %rsp, %r8
      mov 24(%rsp), %r9        # user RSP
      mov 32(%rsp), %r10       # user SS
      mov %ss, %r11
      add $1, %eax
      iretq
    gp:
      pop %r12
      mov 8(%rsp), %r13        # CS of the faulting code
      hlt`, {
      gates: { 0x80: { label: 'sys', dpl: 3 }, 13: 'gp' },
      prepare: (ram) => { for (let k = 0; k < 8; k++) pte(ram, PD + k * 8, k * 0x200000, 0x87); }, // user pages
    });
    expect(m.run().kind).toBe('hlt');
    const r = m.regs();
    expect(r.r8).toBe(BigInt(STACK0 - 40));
    expect(r.r9).toBe(0x80000n);
    expect(r.r10).toBe(BigInt(SEL.udata32));
    expect(r.r11).toBe(0n); // SS = null selector with RPL 0
    expect(r.rbx).toBe(2n);
    expect(r.rcx).toBe(BigInt(SEL.ucode64));
    expect(r.r12).toBe(0n);
    expect(r.r13).toBe(BigInt(SEL.ucode64));
  });

  test('SYSCALL/SYSRET: STAR selectors, LSTAR entry, RCX/R11, SFMASK, back to CPL 3', () => {
    const m = lm(`
      mov $0xc0000080, %ecx
      rdmsr
      or $1, %eax              # EFER.SCE
      wrmsr
      mov $0xc0000081, %ecx    # STAR: SYSCALL CS 0x28 (SS 0x30), SYSRET base 0x30 (CS 0x43, SS 0x3b)
      xor %eax, %eax
      mov $0x00300028, %edx
      wrmsr
      mov $0xc0000082, %ecx
      lea entry(%rip), %rax
      mov %rax, %rdx
      shr $32, %rdx
      wrmsr
      mov $0xc0000084, %ecx    # SFMASK: clear IF
      mov $0x200, %eax
      xor %edx, %edx
      wrmsr
      push $${SEL.udata32}
      push $0x80000
      pushq $0x202
      push $${SEL.ucode64}
      lea user(%rip), %rax
      push %rax
      iretq
    user:
      mov $5, %edi
      syscall
    back:
      mov %cs, %ebx
      hlt                      # CPL 3: #GP
    entry:
      mov %rcx, %r8
      mov %r11, %r9
      mov %cs, %r10
      pushf
      pop %r12
      add $1, %edi
      sysretq
    gp: mov %edi, %esi
      hlt`, {
      gates: { 13: 'gp' },
      prepare: (ram) => { for (let k = 0; k < 8; k++) pte(ram, PD + k * 8, k * 0x200000, 0x87); },
    });
    expect(m.run().kind).toBe('hlt');
    const r = m.regs();
    expect(r.r8).toBe(BigInt(m.sym.back!));
    expect(Number(r.r9) & 0x200).toBe(0x200);
    expect(r.r10).toBe(0x28n);
    expect(Number(r.r12) & 0x200).toBe(0);
    expect(r.rbx).toBe(0x43n);
    expect(r.rsi).toBe(6n);
  });

  test('compatibility mode: LRETQ to a 32-bit code segment, then a far JMP back to 64-bit code', () => {
    const m = lm(`
      push $${SEL.code32}
      lea compat(%rip), %rax
      push %rax
      lretq
    .code32
    compat:
      mov $0x12345678, %eax
      push %eax
      pop %ebx
      ljmp $${SEL.code64}, $back
    .code64
    back:
      movabs $0x1000000000, %rcx
      hlt`);
    expect(m.cpu.run(4).kind).toBe('limit');
    expect(m.sregs().cs).toMatchObject({ selector: SEL.code32, l: 0, db: 1 });
    expect(m.cpu.peek().text).toBe('mov eax, 0x12345678');
    expect(m.run().kind).toBe('hlt');
    expect(m.regs().rbx).toBe(0x12345678n);
    expect(m.regs().rcx).toBe(0x1000000000n);
    expect(m.sregs().cs.selector).toBe(SEL.code64);
  });

  test('RDMSR/WRMSR: EFER, FS/GS base with segment overrides, SWAPGS; unknown MSR #GP(0)', () => {
    const m = lm(`
      mov $0xc0000080, %ecx
      rdmsr
      mov %rax, %r8
      mov $0xc0000100, %ecx
      mov $0x300000, %eax
      xor %edx, %edx
      wrmsr
      movq $0x55, %fs:0x10
      mov $0xc0000102, %ecx    # KERNEL_GS_BASE
      mov $0x310000, %eax
      wrmsr
      swapgs
      movq $0x66, %gs:0x8
      mov $0x12345, %ecx
      rdmsr
      hlt
    gp: pop %r9
      mov $0x77, %r10
      hlt`, { gates: { 13: 'gp' } });
    expect(m.run().kind).toBe('hlt');
    const r = m.regs();
    expect(r.r8).toBe(0x500n);
    expect(m.u64(0x300010)).toBe(0x55n);
    expect(m.u64(0x310008)).toBe(0x66n);
    expect(m.sregs().fs.base).toBe(0x300000n);
    expect(m.sregs().gs.base).toBe(0x310000n);
    expect([r.r9, r.r10]).toEqual([0n, 0x77n]);
  });

  test('a non-canonical stack raises #SS(0); with no IDT entries the faults end in SHUTDOWN', () => {
    const m = lm(`
      movabs $0x0000800000000010, %rsp
      push %rax
      hlt`);
    const r = m.run();
    expect(r.kind).toBe('shutdown');
    if (r.kind === 'shutdown') expect(r.reason).toMatch(/#SS/);
  });

  test('enabling long mode from protected mode: CR4.PAE, EFER.LME, CR0.PG sets LMA; far JMP to a 64-bit segment', () => {
    const m = lm(`
    .code32
      mov %cr0, %eax
      and $0x7fffffff, %eax
      mov %eax, %cr0           # paging off (compatibility code): leaves long mode
      mov $0xc0000080, %ecx
      rdmsr
      mov %eax, %esi           # EFER: LME still set, LMA clear
      mov $${0x10000}, %eax
      mov %eax, %cr3
      mov %cr0, %eax
      or $0x80000000, %eax
      mov %eax, %cr0           # LME + PAE + PG: long mode active (compatibility mode)
      rdmsr
      mov %eax, %edi
      ljmp $${SEL.code64}, $lm64
    .code64
    lm64:
      movabs $0x123456789a, %rbx
      hlt`, {
      sregs: (s) => {
        // start in compatibility mode (long mode, 32-bit code segment)
        s.cs = { ...s.cs, selector: SEL.code32, l: 0, db: 1 };
      },
    });
    expect(m.run().kind).toBe('hlt');
    const r = m.regs();
    expect(r.rsi).toBe(0x100n);
    expect(r.rdi).toBe(0x500n);
    expect(r.rbx).toBe(0x123456789an);
    expect(m.sregs().efer).toBe(0x500n);
  });
});
