// Compiled blocks (blocks.ts, jit.ts): the same programs run with blocks compiled eagerly, with
// the default hotness threshold and interpreted must go through exactly the same states,
// whatever the run(n) budgets; self-modifying code, faults inside a block, breakpoints and
// RAM changed between runs must be seen as the interpreter sees them.

import { describe, expect, test } from 'vitest';
import { blocksMade, dropOverwrittenFlags } from '../../../src/replay/x86/blocks.js';
import { decode } from '../../../src/replay/x86/decoder.js';
import { Insn } from '../../../src/replay/x86/insn.js';
import { template } from '../../../src/replay/x86/jit.js';
import type { JitMode } from '../../../src/replay/x86/index.js';
import { asm, noAssembler, setup, type Machine, type SetupOptions } from './helpers.js';
import { lm } from './modes.js';

/**
 * Run `code` in all three modes with the same budgets (until the program halts); compare
 * results, registers, instruction counts, history, exits and RAM after every run.
 */
function differential(code: Uint8Array, budgets: number[], opts: SetupOptions = {}, prepare?: (m: Machine) => void): Machine[] {
  const modes: JitMode[] = ['off', 'eager', 'on'];
  const ms = modes.map((jit) => {
    const m = setup(code, { ...opts, jit });
    prepare?.(m);
    return m;
  });
  for (let k = 0; k < budgets.length; k++) {
    const results = ms.map((m) => m.cpu.run(budgets[k]!));
    const states = ms.map((m) => ({ regs: m.cpu.getRegs(), n: m.cpu.instructions, history: m.cpu.history(256) }));
    for (let j = 1; j < ms.length; j++) {
      expect({ mode: modes[j], run: k, result: results[j] }).toEqual({ mode: modes[j], run: k, result: results[0] });
      expect({ mode: modes[j], run: k, ...states[j] }).toEqual({ mode: modes[j], run: k, ...states[0] });
    }
    if (results[0]!.kind === 'hlt') break;
  }
  for (let j = 1; j < ms.length; j++) {
    expect(ms[j]!.sink.log).toEqual(ms[0]!.sink.log);
    expect(Buffer.compare(ms[j]!.ram, ms[0]!.ram)).toBe(0);
  }
  return ms;
}

/** differential() for long-mode source (modes.ts: the long-mode boot state), RAM compared by the caller. */
function differentialLong(src: string, runs: number[]) {
  const modes: JitMode[] = ['off', 'eager', 'on'];
  const ms = modes.map((jit) => lm(src, { jit }));
  for (const n of runs) {
    const r = ms.map((m) => m.run(n));
    const states = ms.map((m) => ({ regs: m.regs(), n: m.cpu.instructions, history: m.cpu.history(256) }));
    for (let j = 1; j < ms.length; j++) {
      expect({ mode: modes[j], result: r[j] }).toEqual({ mode: modes[j], result: r[0] });
      expect({ mode: modes[j], ...states[j] }).toEqual({ mode: modes[j], ...states[0] });
    }
    if (r[0]!.kind === 'hlt') break;
  }
  return ms;
}

const budgets = (seed: number, n: number): number[] =>
  Array.from({ length: n }, (_, k) => [1, 7, 13, 64, 333, 1000][(seed + k * 5) % 6]!);

describe.skipIf(noAssembler)('compiled blocks', () => {
  test('a CRC loop with memory operands, stack calls and IO: same states under every budget', () => {
    const code = asm(`
      mov $0x1000, %si
      mov $200, %cx
      mov $0xffffffff, %eax
    1: xor %edx, %edx
      movb (%si), %dl
      xor %edx, %eax
      mov $8, %bx
    2: shr $1, %eax
      jnc 3f
      xor $0xedb88320, %eax
    3: dec %bx
      jnz 2b
      call 4f
      inc %si
      loop 1b
      mov $0x500, %dx
      out %eax, %dx
      hlt
    4: push %ax
      addw $3, (0x2000)
      imul $7, %ax, %ax
      pop %ax
      ret`);
    const ms = differential(code, [...budgets(1, 60), 1e6, 10], {}, (m) => m.ram.set(new Uint8Array(200).map((_, k) => k * 31), 0x1000));
    expect(ms[1]!.cpu.compiledBlocks).toBeGreaterThan(3);
    expect(ms[2]!.cpu.compiledBlocks).toBeGreaterThan(0);
    expect(ms[0]!.sink.log).toHaveLength(1);
  });

  test('inner loops run inside their block: two levels deep, with jumps forward inside and budgets ending mid-loop', () => {
    // one block from 1: to the final loop (no call, no other transfer): the 2: and 3: loops
    // are nested loops of its function, 4: a forward jump inside the innermost one
    const code = asm(`
      mov $40, %cx
      xor %ax, %ax
      xor %di, %di
    1: mov $5, %bx
      add %cx, %di
    2: mov $3, %dx
      inc %ax
    3: test $1, %ax
      jz 4f
      add %bx, %di
    4: rol $1, %di
      dec %dx
      jnz 3b
      adc %ax, %di
      dec %bx
      jnz 2b
      xor %ax, %di
      loop 1b
      mov $0x500, %dx
      out %ax, %dx
      hlt`);
    const ms = differential(code, [...budgets(7, 80), 1e6, 10]);
    expect(ms[0]!.cpu.instructions).toBeGreaterThan(3000);
    expect(ms[0]!.sink.log).toHaveLength(1);
  });

  test('self-modifying code: a store into the running block changes the next pass', () => {
    // the loop rewrites the immediate of its own `add $imm, %ax` every iteration
    const code = asm(`
      mov $300, %cx
      xor %ax, %ax
    1: add $1, %ax
      mov %cl, (1b + 2)
      loop 1b
      hlt`);
    const ms = differential(code, [...budgets(2, 40), 1e5]);
    // `add $imm8, %ax` (83 C0 ib): the first pass adds 1, each later one the previous CL, sign-extended
    let expected = 1;
    for (let cx = 300; cx >= 2; cx--) expected += ((cx & 0xff) << 24) >> 24;
    expected &= 0xffff;
    expect(Number(ms[1]!.cpu.getRegs().rax & 0xffffn)).toBe(expected);
  });

  test('a fault in the middle of a block leaves the state of the instructions before it', () => {
    // divide by a counter that reaches 0: #DE through the IVT to a handler that HLTs
    const code = asm(`
      mov $50, %bx
    1: mov $1000, %ax
      xor %dx, %dx
      add $1, %si
      div %bx
      add %ax, %di
      dec %bx
      jmp 1b
    .org 0x100
      hlt`);
    const ms = differential(code, [...budgets(3, 60), 1e5], { ivt: { 0: [0, 0x7d00] } });
    expect(ms[1]!.cpu.getRegs().rsi).toBe(51n);
    expect(ms[1]!.cpu.compiledBlocks).toBeGreaterThan(0);
  });

  test('registers kept in locals are in the register file at a fault, an exit and every budget end', () => {
    // 32-bit registers (cached in the block's locals) changed before a load that faults (#GP:
    // beyond the real-mode limit) and before an OUT; the #GP handler counts, moves ESI back and
    // resumes. SETO reads the OF that ROL left undefined: the read is logged with the history.
    const code = asm(`
      mov $0xffc0, %esi
    1: add $4, %esi
      lea 1(%esi,%esi,2), %edi
      xor %edi, %ebx
      rol $3, %ebx
      seto %dl
      mov (%esi), %eax
      add %eax, %ecx
      cmp $3, %ebp
      jb 1b
      mov $0x500, %dx
      out %eax, %dx
      add %ebx, %ecx
      hlt
    .org 0x100
      inc %ebp
      sub $0x40, %esi
      iret`);
    const ms = differential(code, [...budgets(5, 60), 1e5], { ivt: { 13: [0, 0x7d00] } });
    expect(ms[1]!.cpu.getRegs().rbp).toBe(3n);
    const uses = ms.map((m) => m.cpu.lastUndefinedUse);
    expect(uses[0]).toMatchObject({ flags: 0x800, usedAt: 0x7c17, setAt: 0x7c13 }); // SETO, ROL
    expect(uses[1]).toEqual(uses[0]);
    expect(uses[2]).toEqual(uses[0]);
    expect(ms[1]!.cpu.compiledBlocks).toBeGreaterThan(0);
    expect(ms[0]!.sink.log).toHaveLength(1);
  });

  test('an instruction that faults inside a looping block (whose history is written late) faults where the interpreter does', () => {
    // AAM 0 raises #DE every pass; the handler skips it. The block writes the history ring of
    // the pass before it (the fault's RIP is read from there).
    const code = asm(`
      mov $100, %cx
    1: inc %bx
      add %bx, %dx
      .byte 0xd4, 0x00
      dec %cx
      jnz 1b
      hlt
    .org 0x100
      inc %bp
      pop %si
      add $2, %si
      push %si
      iret`);
    const ms = differential(code, [...budgets(2, 60), 1e5], { ivt: { 0: [0, 0x7d00] } });
    expect(ms[1]!.cpu.getRegs().rbp).toBe(100n);
    expect(ms[2]!.cpu.compiledBlocks).toBeGreaterThan(0);
  });

  test('a read of an undefined flag inside a looping block is logged at its own address', () => {
    // register-only loop: nothing but the SETO makes the block write the history before its end
    const code = asm(`
      mov $200, %cx
    1: rol $3, %bx
      seto %dl
      add %dl, %al
      dec %cx
      jnz 1b
      hlt`);
    const ms = differential(code, [...budgets(4, 30), 1e5]);
    const uses = ms.map((m) => m.cpu.lastUndefinedUse);
    expect(uses[0]).toMatchObject({ flags: 0x800, usedAt: 0x7c06, setAt: 0x7c03 }); // SETO, ROL
    expect(uses[1]).toEqual(uses[0]);
    expect(uses[2]).toEqual(uses[0]);
  });

  test('long mode: 64-bit arithmetic, LEA, CMOV and memory operands in locals and blocks, as interpreted', () => {
    const src = `
      mov $0x200000, %rdi
      mov $300, %ecx
      movabs $0x123456789abcdef, %rax
    1: lea 8(%rax,%rax,2), %rdx
      lea 3(%rdx,%rdx,2), %esi
      add %rdx, %rax
      ror $7, %rax
      test $1, %esi
      cmovnz %rsi, %rbx
      mov %rax, (%rdi,%rcx,8)
      xor (%rdi,%rcx,8), %rbx
      dec %ecx
      jnz 1b
      hlt`;
    const ms = differentialLong(src, [...budgets(6, 40), 1e5]);
    expect(ms[0]!.cpu.instructions).toBeGreaterThan(3000);
    expect(Buffer.compare(ms[1]!.ram, ms[0]!.ram)).toBe(0);
    expect(ms[1]!.cpu.compiledBlocks).toBeGreaterThan(0);
  });

  test('long mode: 64-bit shifts and rotates by every kind of count (0, 1, 31, 32, 33, 63, CL), compiled, as interpreted', () => {
    // the count in CL walks 0..63 (so 0, 1, 31, 32, 33 and 63 come round); flags are read after each
    const src = `
      movabs $0x8123456789abcdef, %rax
      mov $500, %r8d
      xor %ecx, %ecx
    1: mov %rax, %rdx
      shl %cl, %rdx
      setc %bl
      seto %bh
      add %rdx, %r9
      mov %rax, %rdx
      shr %cl, %rdx
      adc %rdx, %r9
      mov %rax, %rdx
      sar %cl, %rdx
      sbb %rdx, %r10
      rol %cl, %rax
      setc %bl
      add %rbx, %r10
      ror $33, %r9
      rol $1, %r10
      shl $32, %rax
      sar $63, %rdx
      shr $31, %r9
      xor %r9, %rax
      xor %r10, %rax
      xor %rdx, %rax
      ror %cl, %r10
      adc $0, %r11
      add $13, %cl
      and $63, %cl
      dec %r8d
      jnz 1b
      hlt`;
    const ms = differentialLong(src, [...budgets(11, 40), 1e5]);
    expect(ms[0]!.cpu.instructions).toBeGreaterThan(10000);
    expect(ms[1]!.cpu.compiledBlocks).toBeGreaterThan(0);
  });

  test('undefined-flag bookkeeping is left out of a block only where a later instruction overwrites it unread', () => {
    // the model sets OF after SHR by more than 1: SETO right after it must see that (and log the
    // read); after the second SHR, ADD defines every flag before SETO reads OF
    const code = asm(`
      mov $200, %cx
      mov $0x12345, %esi
    1: shr $2, %eax
      seto %bl
      add %ebx, %edx
      shr $3, %esi
      add $0x777, %esi
      seto %bh
      add %ebx, %edi
      dec %cx
      jnz 1b
      hlt`);
    const ms = differential(code, [...budgets(7, 30), 1e5], { flagModel: { 'shr.4': 'o=1' } });
    expect(Number(ms[0]!.cpu.getRegs().rbx & 0xffn)).toBe(1);
    const uses = ms.map((m) => m.cpu.lastUndefinedUse);
    expect(uses[0]).toMatchObject({ flags: 0x800, setBy: 'shr' });
    expect(uses[1]).toEqual(uses[0]);
    expect(uses[2]).toEqual(uses[0]);
  });

  test('flags overwritten unread are not computed: 32- and 64-bit producers, then readers, as interpreted', () => {
    // each producer but the last before ADC, SETC and JNZ is overwritten before anything reads
    // its flags (dropOverwrittenFlags): only the results must be computed, exactly
    const src = `
      mov $500, %ecx
      movabs $0x8765432112345678, %rax
      mov $0x77, %ebx
    1: mov %rax, %rdx
      imul $7, %edx, %edx
      inc %r8d
      add $0x12345678, %rdx
      sub %rbx, %rdx
      shr $3, %rdx
      and $0xfff0fff, %edx
      xor %rax, %rdx
      adc %rdx, %rbx
      inc %rax
      add %rdx, %rax
      setc %sil
      add %rsi, %rdi
      inc %edi
      sub %ebx, %edi
      dec %ecx
      jnz 1b
      hlt`;
    const ms = differentialLong(src, [...budgets(9, 40), 1e5]);
    expect(ms[0]!.cpu.instructions).toBeGreaterThan(6000);
    expect(ms[1]!.cpu.compiledBlocks).toBeGreaterThan(0);
  });

  test('undefined marks overwritten on every path through a forward Jcc are left out; a read on one of them is logged as interpreted', () => {
    // TEST and XOR leave AF undefined; JZ (reading ZF only) skips XOR; DEC defines AF on both
    // paths. In the second loop LAHF reads AF right after TEST: that use is logged. The model
    // gives AF a value after XOR, which must not leak either.
    const code = asm(`
      mov $0x1234, %ax
      mov $300, %cx
    1: shr $1, %ax
      test $1, %ax
      jz 2f
      xor $0xa001, %ax
    2: dec %cx
      jnz 1b
      mov $200, %cx
    3: test %ax, %ax
      lahf
      add %ax, %bx
      inc %ax
      loop 3b
      hlt`);
    const flagModel = { 'xor.2': 'a=1' };
    differential(code, [...budgets(10, 30), 1e5], { flagModel });
    // in one run, so that the last use is a block's (small budgets interpret the ends of runs)
    const uses = (['off', 'eager', 'on'] as const).map((jit) => {
      const m = setup(code, { jit, flagModel });
      expect(m.cpu.run(1e5).kind).toBe('hlt');
      return m.cpu.lastUndefinedUse;
    });
    expect(uses[0]).toMatchObject({ flags: 0x10, setBy: 'test' });
    expect(uses[1]).toEqual(uses[0]);
    expect(uses[2]).toEqual(uses[0]);
  });

  test('a Jcc forward inside a block skips to its target there: both paths leave the same registers, memory and history', () => {
    // on the taken path EAX is changed but not yet stored when the store at 2: reads it
    const code = asm(`
      mov $100, %ecx
      mov $0x1000, %esi
    1: add $3, %eax
      inc %ebx
      test $1, %ebx
      jz 2f
      mov %edx, (%esi)
      add $5, %edx
    2: mov %eax, 4(%esi)
      add %ecx, 8(%esi)
      dec %ecx
      jnz 1b
      hlt`);
    const ms = differential(code, [...budgets(8, 30), 1e5]);
    expect(Number(ms[1]!.cpu.getRegs().rax)).toBe(300);
    expect(ms[1]!.cpu.compiledBlocks).toBeGreaterThan(0);
  });

  test('RAM changed between runs (a debugger write, a restore) is seen by a compiled block', () => {
    const code = asm(`
    1: add $1, %ax
      jmp 1b`);
    const ms = differential(code, [500], {});
    for (const m of ms) m.ram[0x7c00 + 2] = 5; // add $5, %ax from now on
    const before = ms.map((m) => m.cpu.getRegs().rax);
    for (const m of ms) m.cpu.run(100);
    ms.forEach((m, k) => expect(m.cpu.getRegs().rax - before[k]!).toBe(250n));
  });

  test('Cpus running the same code share its block functions, each with its own instructions and state', () => {
    // SHLD has no template: its block calls the executor with the instruction, which holds the
    // count. Programs differing only in that count compile to the same source and function.
    const program = (count: number) =>
      asm(`
      mov $300, %cx
    1: shld $${count}, %bx, %ax
      add %cx, %bx
      loop 1b
      hlt`);
    const shld = new Insn();
    expect(decode(Uint8Array.of(0x0f, 0xa4, 0xd8, 3), 4, 16, shld)).toBe(0);
    expect(template(shld, 0, 0x7c00)).toBeNull();
    const variants: Array<[number, bigint]> = [[3, 1n], [3, 1000n], [5, 1n]];
    const make = (jit: JitMode) => variants.map(([count, rbx]) => setup(program(count), { jit, regs: { rbx } }));
    /** Runs the machines in turns, all with the same budgets, until each has halted. */
    const runAll = (ms: Machine[]) => {
      const running = new Set(ms);
      for (let k = 0; running.size > 0 && k < 1000; k++) {
        for (const m of running) if (m.cpu.run(budgets(k, 1)[0]!).kind === 'hlt') running.delete(m);
      }
      expect(running.size).toBe(0);
    };
    const first = setup(program(3), { jit: 'eager', regs: { rbx: 1n } });
    runAll([first]);
    expect(first.cpu.compiledBlocks).toBeGreaterThan(0);
    const made = blocksMade();
    const reference = make('off');
    const others = make('eager');
    // in turns, so that a function bound to one Cpu's state would show in another's result
    runAll([...others, ...reference]);
    const now = blocksMade();
    expect(now.functions).toBe(made.functions); // no new function for the same code, nor for another count
    expect(now.compiled).toBeGreaterThan(made.compiled); // (the other count: other bytes, compiled to the same source)
    // the same bytes at the same place are not even compiled again
    const again = setup(program(3), { jit: 'eager', regs: { rbx: 7n } });
    runAll([again]);
    expect(again.cpu.compiledBlocks).toBeGreaterThan(0);
    expect(blocksMade()).toEqual(now);
    const againRef = setup(program(3), { jit: 'off', regs: { rbx: 7n } });
    runAll([againRef]);
    expect([again.cpu.getRegs(), again.cpu.instructions, again.cpu.history(256)]).toEqual([againRef.cpu.getRegs(), againRef.cpu.instructions, againRef.cpu.history(256)]);
    expect(others.every((m) => m.cpu.compiledBlocks > 0)).toBe(true);
    const state = (m: Machine) => ({ regs: m.cpu.getRegs(), n: m.cpu.instructions, history: m.cpu.history(8) });
    expect(state(first)).toEqual(state(reference[0]!));
    others.forEach((m, k) => expect(state(m)).toEqual(state(reference[k]!)));
    // the programs do differ: by the start (in BX) and by the count (in AX)
    const [r0, r1, r2] = reference.map((m) => m.cpu.getRegs());
    expect(r1!.rbx).not.toBe(r0!.rbx);
    expect(r2!.rax).not.toBe(r0!.rax);
  });

  test('blocks at the same address with other bytes are compiled for themselves', () => {
    // the immediates become constants of the block's code: a block reused for other bytes
    // would compute with the first program's
    const program = (a: number, b: number) => asm(`
      mov $200, %cx
    1: add $${a}, %ax
      imul $${b}, %ax, %bx
      xor %bx, %dx
      loop 1b
      hlt`);
    for (const [a, b] of [[1, 3], [1, 5], [7, 3], [1, 3]] as const) {
      const jit = setup(program(a, b), { jit: 'eager' });
      const ref = setup(program(a, b), { jit: 'off' });
      expect(jit.cpu.run(1e5).kind).toBe('hlt');
      expect(ref.cpu.run(1e5).kind).toBe('hlt');
      expect({ a, b, regs: jit.cpu.getRegs() }).toEqual({ a, b, regs: ref.cpu.getRegs() });
    }
  });

  test('breakpoints stop at the address inside a hot loop, exactly as interpreted', () => {
    const code = asm(`
      mov $100, %cx
    1: inc %ax
      add %ax, %bx
    2: dec %dx
      loop 1b
      hlt`);
    const ms = differential(code, [150]);
    for (const m of ms) m.cpu.setBreakpoints(new Set([0x7c00 + 7]));
    const r = ms.map((m) => m.cpu.run(1000));
    expect(r[1]).toEqual({ kind: 'breakpoint', address: 0x7c07 });
    expect(r[2]).toEqual(r[0]);
    expect(ms[1]!.cpu.getRegs()).toEqual(ms[0]!.cpu.getRegs());
  });
});

describe('templates', () => {
  // an executor silently falling back to a call would still be correct but slow: the common
  // ones must specialise
  const cases: Array<[string, number[], number]> = [
    ['add eax, ebx', [0x01, 0xd8], 32],
    ['sub eax, [ebx+4]', [0x2b, 0x43, 0x04], 32],
    ['cmp ax, 7', [0x83, 0xf8, 0x07], 16],
    ['xor edx, ebx', [0x31, 0xda], 32],
    ['and al, 0x0f', [0x24, 0x0f], 32],
    ['shr edx, 16', [0xc1, 0xea, 0x10], 32],
    ['rol ebx, 5', [0xc1, 0xc3, 0x05], 32],
    ['imul eax, eax, 0x41c64e6d', [0x69, 0xc0, 0x6d, 0x4e, 0xc6, 0x41], 32],
    ['mov [esp+8], ecx', [0x89, 0x4c, 0x24, 0x08], 32],
    ['movzx eax, byte [esi]', [0x0f, 0xb6, 0x06], 32],
    ['lea eax, [ebx+ecx*4+8]', [0x8d, 0x44, 0x8b, 0x08], 32],
    ['dec ecx', [0x49], 32],
    ['jnz -2', [0x75, 0xfe], 32],
    ['add rax, rbx', [0x48, 0x01, 0xd8], 64],
    ['mov rax, [rbx+8]', [0x48, 0x8b, 0x43, 0x08], 64],
    ['cmovz eax, ebx', [0x0f, 0x44, 0xc3], 64],
    ['mov eax, [rip+0x100]', [0x8b, 0x05, 0x00, 0x01, 0x00, 0x00], 64],
    ['add [rbx+rcx*8-8], rdx', [0x48, 0x01, 0x54, 0xcb, 0xf8], 64],
    ['lea eax, [rax+rbx*2+8]', [0x8d, 0x44, 0x58, 0x08], 64],
    ['lea rsi, [rip+0x100]', [0x48, 0x8d, 0x35, 0x00, 0x01, 0x00, 0x00], 64],
  ];
  test.each(cases)('%s has a template', (_name, bytes, bits) => {
    const i = new Insn();
    expect(decode(Uint8Array.from(bytes), bytes.length, bits, i)).toBe(0);
    const t = template(i, 0, 0x1000);
    expect(t).not.toBeNull();
    expect(() => new Function('c', 'fl', 'r32', 'r16', 'r8', 'I0', ...t!.scope.map(([n]) => n), t!.code)).not.toThrow();
  });

  test('a producer whose flags a later instruction defines before any read computes its result only', () => {
    const seq: Array<[number[], boolean]> = [
      [[0xc1, 0xea, 0x10], true], // shr edx, 16: AND below defines every flag
      [[0x8d, 0x44, 0x8b, 0x08], false], // lea eax, [ebx+ecx*4+8]: no flags
      [[0x24, 0x0f], true], // and al, 0x0f: XOR defines every flag
      [[0x31, 0xda], true], // xor edx, ebx: ADD defines every flag
      [[0x01, 0xd8], false], // add eax, ebx: CMOVZ reads ZF
      [[0x0f, 0x44, 0xc3], false], // cmovz eax, ebx
      [[0x83, 0xf8, 0x07], false], // cmp eax, 7: its CF is SBB's
      [[0x19, 0xd8], false], // sbb eax, ebx: a flag reader
      [[0x29, 0xd8], false], // sub eax, ebx: DEC keeps CF
      [[0x49], false], // dec ecx: JNZ reads ZF
      [[0x75, 0xfe], false], // jnz
      [[0x69, 0xc0, 0x6d, 0x4e, 0xc6, 0x41], true], // imul eax, eax, 0x41c64e6d: INC's flags are dropped, ADD defines every flag
      [[0x41], true], // inc ecx: ADD defines every flag
      [[0x05, 0x39, 0x30, 0x00, 0x00], false], // add eax, 12345: SETC reads CF
      [[0x0f, 0x92, 0xc3], false], // setc bl
    ];
    let at = 0x1000;
    const temps = seq.map(([bytes], k) => {
      const i = new Insn();
      expect(decode(Uint8Array.from(bytes), bytes.length, 32, i)).toBe(0);
      at += i.len;
      return template(i, k, at, 0, false);
    });
    dropOverwrittenFlags(temps, new Map());
    seq.forEach(([, dropped], k) => {
      expect({ k, dropped: /\$DF_/.test(temps[k]!.code) }).toEqual({ k, dropped });
      if (dropped) expect(temps[k]!.code).not.toMatch(/\bfl\./);
    });
  });

  test('undefined-flag bookkeeping goes where every path through forward Jccs defines the flags again', () => {
    const seq: number[][] = [
      [0xd1, 0xe8], // shr eax, 1
      [0x85, 0xc0], // test eax, eax: AF undefined; ZF read by JZ
      [0x74, 0x05], // jz over the XOR
      [0x35, 0x20, 0x83, 0xb8, 0xed], // xor eax, 0xedb88320: AF undefined
      [0x49], // dec ecx: defines AF (not CF)
      [0x75, 0xf0], // jnz
    ];
    const temps = () => {
      let at = 0x1000;
      return seq.map((bytes, k) => {
        const i = new Insn();
        expect(decode(Uint8Array.from(bytes), bytes.length, 32, i)).toBe(0);
        at += i.len;
        return template(i, k, at, 0, false);
      });
    };
    const undef = (t: ReturnType<typeof temps>) => t.map((x) => /\bc\.undef(?:AF|Flags)\(/.test(x!.code));
    const skipping = temps();
    dropOverwrittenFlags(skipping, new Map([[2, 4]]));
    expect(undef(skipping)).toEqual([false, false, false, false, false, false]);
    expect(skipping[3]!.code).toMatch(/\bfl\.logic\(/); // (XOR's CF is DEC's: its flags stay)
    // a JZ that leaves the block: AF may be seen undefined there
    const leaving = temps();
    dropOverwrittenFlags(leaving, new Map());
    expect(undef(leaving)).toEqual([false, true, false, false, false, false]);
  });

  test('register-only arithmetic is pure, memory operands are not', () => {
    const reg = new Insn();
    decode(Uint8Array.of(0x01, 0xd8), 2, 32, reg);
    const mem = new Insn();
    decode(Uint8Array.of(0x2b, 0x43, 0x04), 3, 32, mem);
    expect(template(reg, 0, 0x1000)!.pure).toBe(true);
    expect(template(mem, 0, 0x1000)!.pure).toBe(false);
    const lea = new Insn();
    decode(Uint8Array.of(0x48, 0x8d, 0x44, 0x58, 0x08), 5, 64, lea); // lea rax, [rax+rbx*2+8]: arithmetic
    expect(template(lea, 0, 0x1000)!.pure).toBe(true);
  });
});
