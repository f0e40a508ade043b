// REP string instructions step by step, as KVM's instruction emulator executes them on the
// recording hosts (arch/x86/kvm/emulate.c): one step = one emulation. Register expectations
// are the ones observed in single-step traces (docs/exit-semantics.md).

import { describe, expect, test } from 'vitest';
import type { RunResult } from '../../../src/replay/x86/index.js';
import { FLAGS, asm, noAssembler, realModeSregs, setup } from './helpers.js';

const RF = 0x10000;

interface Snap {
  r: RunResult['kind'] | 'exit:io' | 'exit:mmio';
  rip: number;
  rcx: number;
  rsi?: number;
  rdi?: number;
  rf: boolean;
}

/** One step, summarised. */
function stepSnap(m: ReturnType<typeof setup>, withSi = false, withDi = false): Snap {
  const res = m.cpu.step();
  const r = m.regs();
  const s: Snap = {
    r: res.kind === 'exit' ? `exit:${res.exit}` : res.kind,
    rip: Number(r.rip),
    rcx: Number(r.rcx),
    rf: (Number(r.rflags) & RF) !== 0,
  };
  if (withSi) s.rsi = Number(r.rsi);
  if (withDi) s.rdi = Number(r.rdi);
  return s;
}

describe.skipIf(noAssembler)('REP string instructions: KVM emulator steps', () => {
  test('rep outsb, CX=3: an IO step per iteration (RIP stays, RF set, also at CX=0), then a finishing step', () => {
    // 7c00 mov si; 7c03 mov dx; 7c06 mov cx; 7c09 rep outsb; 7c0b hlt
    const m = setup(asm('mov $0x1000, %si\nmov $0x3f8, %dx\nmov $3, %cx\nrep outsb\nhlt'));
    m.ram.set([0x41, 0x42, 0x43], 0x1000);
    expect(m.cpu.run(3).kind).toBe('limit');
    expect(stepSnap(m, true)).toEqual({ r: 'exit:io', rip: 0x7c09, rcx: 2, rsi: 0x1001, rf: true });
    expect(stepSnap(m, true)).toEqual({ r: 'exit:io', rip: 0x7c09, rcx: 1, rsi: 0x1002, rf: true });
    expect(stepSnap(m, true)).toEqual({ r: 'exit:io', rip: 0x7c09, rcx: 0, rsi: 0x1003, rf: true });
    expect(m.sink.log.map((l) => [l.kind, l.addr, l.size, l.value])).toEqual([
      ['out', 0x3f8, 1, 0x41], ['out', 0x3f8, 1, 0x42], ['out', 0x3f8, 1, 0x43],
    ]);
    expect(stepSnap(m, true)).toEqual({ r: 'limit', rip: 0x7c0b, rcx: 0, rsi: 0x1003, rf: false });
    expect(m.sink.log.length).toBe(3); // the finishing step does no IO
    expect(m.cpu.instructions).toBe(7); // 3 movs + 3 IO steps + 1 finishing step
    expect(m.cpu.step().kind).toBe('hlt');
  });

  test('rep outsb under run(): each run() ends at an IO step; the finishing step runs on', () => {
    const m = setup(asm('mov $0x1000, %si\nmov $0x3f8, %dx\nmov $3, %cx\nrep outsb\nhlt'));
    for (let k = 0; k < 3; k++) expect(m.cpu.run(100)).toEqual({ kind: 'exit', exit: 'io' });
    expect(m.regs().rip).toBe(0x7c09n);
    expect(m.cpu.run(100).kind).toBe('hlt');
    expect(m.regs().rip).toBe(0x7c0cn);
  });

  test('outsb/insb without REP complete normally (RIP past, RF clear)', () => {
    const m = setup(asm('mov $0x1000, %si\nmov $0x2000, %di\nmov $0x80, %dx\noutsb\ninsb\nhlt'));
    m.sink.ports.set(0x80, [0x99]);
    m.cpu.run(3);
    expect(stepSnap(m, true)).toEqual({ r: 'exit:io', rip: 0x7c0a, rcx: 0, rsi: 0x1001, rf: false });
    expect(stepSnap(m, false, true)).toEqual({ r: 'exit:io', rip: 0x7c0b, rcx: 0, rdi: 0x2001, rf: false });
    expect(m.ram[0x2000]).toBe(0x99);
  });

  test('rep insb, CX=2: one IO step reading ahead both bytes (RCX 0, RIP stays, RF set), then a finishing step', () => {
    // 7c00 mov di; 7c03 mov dx; 7c06 mov cx; 7c09 rep insb; 7c0b hlt
    const m = setup(asm('mov $0x2000, %di\nmov $0x60, %dx\nmov $2, %cx\nrep insb\nhlt'));
    m.sink.ports.set(0x60, [0x11, 0x22]);
    m.cpu.run(3);
    expect(stepSnap(m, false, true)).toEqual({ r: 'exit:io', rip: 0x7c09, rcx: 0, rdi: 0x2002, rf: true });
    expect(m.sink.log.map((l) => [l.kind, l.addr, l.size])).toEqual([['in', 0x60, 1], ['in', 0x60, 1]]);
    expect([m.ram[0x2000], m.ram[0x2001]]).toEqual([0x11, 0x22]);
    expect(stepSnap(m, false, true)).toEqual({ r: 'limit', rip: 0x7c0b, rcx: 0, rdi: 0x2002, rf: false });
    expect(m.sink.log.length).toBe(2);
    expect(m.cpu.step().kind).toBe('hlt');
  });

  test('rep insb/insw read-ahead is bounded by the page room of the DI register (in bytes), like pio_in_emulated', () => {
    // insb at DI=0xffe, CX=5: 2 bytes to the page end, then the remaining 3
    let m = setup(asm('mov $0xffe, %di\nmov $0x60, %dx\nmov $5, %cx\nrep insb\nhlt'));
    m.cpu.run(3);
    expect(stepSnap(m, false, true)).toEqual({ r: 'exit:io', rip: 0x7c09, rcx: 3, rdi: 0x1000, rf: true });
    expect(m.sink.log.length).toBe(2);
    expect(stepSnap(m, false, true)).toEqual({ r: 'exit:io', rip: 0x7c09, rcx: 0, rdi: 0x1003, rf: true });
    expect(m.sink.log.length).toBe(5);
    expect(stepSnap(m, false, true)).toEqual({ r: 'limit', rip: 0x7c0b, rcx: 0, rdi: 0x1003, rf: false });

    // insw at DI=0xffe, CX=3: in_page = 2 (bytes) so KVM reads 2 words (crossing the page)
    m = setup(asm('mov $0xffe, %di\nmov $0x60, %dx\nmov $3, %cx\nrep insw\nhlt'));
    m.sink.ports.set(0x60, [0x1111, 0x2222, 0x3333]);
    m.cpu.run(3);
    expect(stepSnap(m, false, true)).toEqual({ r: 'exit:io', rip: 0x7c09, rcx: 1, rdi: 0x1002, rf: true });
    expect(m.sink.log.map((l) => l.size)).toEqual([2, 2]);
    expect(stepSnap(m, false, true)).toEqual({ r: 'exit:io', rip: 0x7c09, rcx: 0, rdi: 0x1004, rf: true });
    expect([m.w(0xffe), m.w(0x1000), m.w(0x1002)]).toEqual([0x1111, 0x2222, 0x3333]);

    // the register, not the linear address: ES base 0x1008, DI = 0xff0 -> 16 bytes of room
    m = setup(asm('mov $0x100, %ax\nmov %ax, %es\nmov $0xff0, %di\nmov $0x60, %dx\nmov $20, %cx\nrep insb\nhlt'));
    m.cpu.run(5);
    expect(stepSnap(m, false, true)).toEqual({ r: 'exit:io', rip: 0x7c0e, rcx: 4, rdi: 0x1000, rf: true });
    expect(m.sink.log.length).toBe(16);
  });

  test('rep insb with DF=1: the room is offset_in_page(DI) bytes, 0 meaning 1', () => {
    // 7c00 std; 7c01 mov di; 7c04 mov dx; 7c07 mov cx; 7c0a rep insb; 7c0c cld; hlt
    const m = setup(asm('std\nmov $0x1003, %di\nmov $0x60, %dx\nmov $10, %cx\nrep insb\ncld\nhlt'));
    m.cpu.run(4);
    expect(stepSnap(m, false, true)).toEqual({ r: 'exit:io', rip: 0x7c0a, rcx: 7, rdi: 0x1000, rf: true });
    expect(stepSnap(m, false, true)).toEqual({ r: 'exit:io', rip: 0x7c0a, rcx: 6, rdi: 0x0fff, rf: true });
    expect(stepSnap(m, false, true)).toEqual({ r: 'exit:io', rip: 0x7c0a, rcx: 0, rdi: 0x0ff9, rf: true });
    expect(m.sink.log.length).toBe(10);
    expect(stepSnap(m, false, true)).toEqual({ r: 'limit', rip: 0x7c0c, rcx: 0, rdi: 0x0ff9, rf: false });
  });

  test('rep movsb, CX=5: one step does all iterations (RCX 0, RIP stays, RF set), a second one completes', () => {
    // 7c00 mov si; 7c03 mov di; 7c06 mov cx; 7c09 rep movsb; 7c0b hlt
    const m = setup(asm('mov $0x1000, %si\nmov $0x2000, %di\nmov $5, %cx\nrep movsb\nhlt'));
    m.ram.set([1, 2, 3, 4, 5], 0x1000);
    m.cpu.run(3);
    expect(stepSnap(m, true, true)).toEqual({ r: 'limit', rip: 0x7c09, rcx: 0, rsi: 0x1005, rdi: 0x2005, rf: true });
    expect([...m.ram.subarray(0x2000, 0x2005)]).toEqual([1, 2, 3, 4, 5]);
    expect(stepSnap(m, true, true)).toEqual({ r: 'limit', rip: 0x7c0b, rcx: 0, rsi: 0x1005, rdi: 0x2005, rf: false });
    expect(m.cpu.instructions).toBe(5);
    expect(m.cpu.step().kind).toBe('hlt');
  });

  test('rep stosb, CX=3: same two steps', () => {
    const m = setup(asm('mov $0x2000, %di\nmov $0x5a, %al\nmov $3, %cx\nrep stosb\nhlt'));
    m.cpu.run(3);
    expect(stepSnap(m, false, true)).toEqual({ r: 'limit', rip: 0x7c08, rcx: 0, rdi: 0x2003, rf: true });
    expect(stepSnap(m, false, true)).toEqual({ r: 'limit', rip: 0x7c0a, rcx: 0, rdi: 0x2003, rf: false });
    expect([...m.ram.subarray(0x2000, 0x2004)]).toEqual([0x5a, 0x5a, 0x5a, 0]);
  });

  test('a step ends whenever (RCX & 0x3ff) becomes 0: CX=0x500 takes 256, 1024 iterations, then completes', () => {
    const m = setup(asm('mov $0x2000, %di\nmov $0x500, %cx\nrep stosb\nhlt'));
    m.cpu.run(2);
    expect(stepSnap(m, false, true)).toEqual({ r: 'limit', rip: 0x7c06, rcx: 0x400, rdi: 0x2100, rf: true });
    expect(stepSnap(m, false, true)).toEqual({ r: 'limit', rip: 0x7c06, rcx: 0, rdi: 0x2500, rf: true });
    expect(stepSnap(m, false, true)).toEqual({ r: 'limit', rip: 0x7c08, rcx: 0, rdi: 0x2500, rf: false });
  });

  test('repe cmpsb ending on a difference completes in the same step; ending on CX=0 takes a finishing step', () => {
    // 7c00 mov si; 7c03 mov di; 7c06 mov cx; 7c09 repe cmpsb; 7c0b hlt
    let m = setup(asm('mov $0x1000, %si\nmov $0x2000, %di\nmov $10, %cx\nrepe cmpsb\nhlt'));
    m.ram.set([1, 2, 3, 4], 0x1000);
    m.ram.set([1, 2, 9, 4], 0x2000);
    m.cpu.run(3);
    expect(stepSnap(m, true, true)).toEqual({ r: 'limit', rip: 0x7c0b, rcx: 7, rsi: 0x1003, rdi: 0x2003, rf: false });
    expect(Number(m.regs().rflags) & FLAGS.ZF).toBe(0);

    m = setup(asm('mov $0x1000, %si\nmov $0x2000, %di\nmov $3, %cx\nrepe cmpsb\nhlt'));
    m.ram.set([1, 2, 3], 0x1000);
    m.ram.set([1, 2, 3], 0x2000);
    m.cpu.run(3);
    expect(stepSnap(m, true, true)).toEqual({ r: 'limit', rip: 0x7c09, rcx: 0, rsi: 0x1003, rdi: 0x2003, rf: true });
    expect(stepSnap(m, true, true)).toEqual({ r: 'limit', rip: 0x7c0b, rcx: 0, rsi: 0x1003, rdi: 0x2003, rf: false });

    // the last iteration both exhausts CX and ends on ZF: completed (RIP past) at once
    m = setup(asm('mov $0x1000, %si\nmov $0x2000, %di\nmov $3, %cx\nrepe cmpsb\nhlt'));
    m.ram.set([1, 2, 3], 0x1000);
    m.ram.set([1, 2, 4], 0x2000);
    m.cpu.run(3);
    expect(stepSnap(m, true, true)).toEqual({ r: 'limit', rip: 0x7c0b, rcx: 0, rsi: 0x1003, rdi: 0x2003, rf: false });
  });

  test('repne scasb finding the byte completes in one step', () => {
    // 7c00 mov di; 7c03 mov al; 7c05 mov cx; 7c08 repne scasb; 7c0a hlt
    const m = setup(asm('mov $0x2000, %di\nmov $0x33, %al\nmov $10, %cx\nrepne scasb\nhlt'));
    m.ram[0x2004] = 0x33;
    m.cpu.run(3);
    expect(stepSnap(m, false, true)).toEqual({ r: 'limit', rip: 0x7c0a, rcx: 5, rdi: 0x2005, rf: false });
  });

  test('rep movsb into MMIO: every MMIO iteration is a step with RIP at the instruction, then a finishing step', () => {
    const ram = new Uint8Array(0x100000);
    // 7c00 mov ax; 7c03 mov es; 7c05 mov di; 7c08 mov si; 7c0b mov cx; 7c0e rep movsb; 7c10 hlt
    const m = setup(asm('mov $0xffff, %ax\nmov %ax, %es\nmov $0x10, %di\nmov $0x1000, %si\nmov $2, %cx\nrep movsb\nhlt'), { ram: [{ base: 0, bytes: ram }] });
    m.ram.set([0x5a, 0xa5], 0x1000);
    m.cpu.run(5);
    expect(stepSnap(m)).toEqual({ r: 'exit:mmio', rip: 0x7c0e, rcx: 1, rf: true });
    expect(stepSnap(m)).toEqual({ r: 'exit:mmio', rip: 0x7c0e, rcx: 0, rf: true });
    expect(m.sink.log).toEqual([
      { kind: 'mmioWrite', addr: 0x100000, size: 1, value: 0x5an },
      { kind: 'mmioWrite', addr: 0x100001, size: 1, value: 0xa5n },
    ]);
    expect(stepSnap(m)).toEqual({ r: 'limit', rip: 0x7c10, rcx: 0, rf: false });
    expect(m.cpu.run(10).kind).toBe('hlt');
  });

  // RAM = [0, 0x10000): the destination/source crosses the end of RAM (docs/exit-semantics.md,
  // "String IO at the end of RAM"); ES/DS base 0xf000.
  const ram64k = () => ({ ram: [{ base: 0, bytes: new Uint8Array(0x10000) }] });
  const logOf = (m: ReturnType<typeof setup>) => m.sink.log.map((l) => `${l.kind} ${l.addr.toString(16)} ${l.size}${l.kind.startsWith('mmio') ? ` ${l.value.toString(16)}` : ''}`);

  test('rep insb DF=0 across the end of RAM: the batch is written as one block, its MMIO part in 8-byte writes', () => {
    // 7c00 mov ax; 7c03 mov es; 7c05 mov di; 7c08 mov dx; 7c0b mov cx; 7c0e rep insb; 7c10 hlt
    const m = setup(asm('mov $0x0f00, %ax\nmov %ax, %es\nmov $0x0ff4, %di\nmov $0x60, %dx\nmov $0x20, %cx\nrep insb\nhlt'), ram64k());
    m.sink.ports.set(0x60, Array.from({ length: 0x20 }, (_, k) => k + 1));
    m.cpu.run(5);
    expect(stepSnap(m, false, true)).toEqual({ r: 'exit:io', rip: 0x7c0e, rcx: 0x14, rdi: 0x1000, rf: true });
    expect(stepSnap(m, false, true)).toEqual({ r: 'exit:io', rip: 0x7c0e, rcx: 0, rdi: 0x1014, rf: true });
    expect(logOf(m).slice(12)).toEqual([
      ...Array(20).fill('in 60 1'),
      'mmioWrite 10000 8 14131211100f0e0d', 'mmioWrite 10008 8 1c1b1a1918171615', 'mmioWrite 10010 4 201f1e1d',
    ]);
    expect([...m.ram.subarray(0xfff4, 0x10000)]).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);
  });

  test('rep insw DF=1 from above RAM: the first item that is MMIO ends the step, the rest of the batch is dropped', () => {
    // 7c00 mov ax; 7c03 mov es; 7c05 std; 7c06 mov di; 7c09 mov dx; 7c0c mov cx; 7c0f rep insw
    const m = setup(asm('mov $0x0f00, %ax\nmov %ax, %es\nstd\nmov $0x1003, %di\nmov $0x60, %dx\nmov $4, %cx\nrep insw\nhlt'), ram64k());
    m.sink.ports.set(0x60, [0x1111, 0x2222, 0x3333, 0x4444, 0x5555, 0x6666]);
    m.cpu.run(6);
    // room offset_in_page(DI) = 3 words read ahead; the first (at 0x10003) is MMIO
    expect(stepSnap(m, false, true)).toEqual({ r: 'exit:io', rip: 0x7c0f, rcx: 3, rdi: 0x1001, rf: true });
    expect(logOf(m)).toEqual(['in 60 2', 'in 60 2', 'in 60 2', 'mmioWrite 10003 2 1111']);
    // 0x10001: room 1; the word is MMIO again
    expect(stepSnap(m, false, true)).toEqual({ r: 'exit:io', rip: 0x7c0f, rcx: 2, rdi: 0x0fff, rf: true });
    expect(logOf(m).slice(4)).toEqual(['in 60 2', 'mmioWrite 10001 2 4444']);
    // 0xffff: half RAM, half MMIO (a 1-byte MMIO write), then the batch's second word is dropped
    expect(stepSnap(m, false, true)).toEqual({ r: 'exit:io', rip: 0x7c0f, rcx: 1, rdi: 0x0ffd, rf: true });
    expect(logOf(m).slice(6)).toEqual(['in 60 2', 'in 60 2', 'mmioWrite 10000 1 55']);
    expect(m.ram[0xffff]).toBe(0x55);
  });

  test('rep outsl from the end of RAM: a dword half in RAM reads its other half with one MMIO read', () => {
    // 7c00 mov ax; 7c03 mov ds; 7c05 mov si; 7c08 mov dx; 7c0b mov cx; 7c0e rep outsl
    const m = setup(asm('mov $0x0f00, %ax\nmov %ax, %ds\nmov $0x0ffe, %si\nmov $0x80, %dx\nmov $2, %cx\nrep outsl\nhlt'), ram64k());
    m.ram.set([0x11, 0x22], 0xfffe);
    m.cpu.run(5);
    expect(stepSnap(m, true)).toEqual({ r: 'exit:io', rip: 0x7c0e, rcx: 1, rsi: 0x1002, rf: true });
    expect(stepSnap(m, true)).toEqual({ r: 'exit:io', rip: 0x7c0e, rcx: 0, rsi: 0x1006, rf: true });
    expect(m.sink.log.map((l) => [l.kind, l.addr, l.size])).toEqual([
      ['mmioRead', 0x10000, 2], ['out', 0x80, 4], ['mmioRead', 0x10002, 4], ['out', 0x80, 4],
    ]);
  });

  test('an access crossing an MMIO page boundary is one MMIO access per page', () => {
    const m = setup(asm('mov $0x0f00, %ax\nmov %ax, %es\nmov $0x1ffe, %di\nmov $0x11223344, %eax\nmov %eax, %es:(%di)\nmov %es:(%di), %ebx\nhlt'), ram64k());
    expect(m.cpu.run(10)).toEqual({ kind: 'exit', exit: 'mmio' });
    expect(m.cpu.run(10)).toEqual({ kind: 'exit', exit: 'mmio' });
    expect(logOf(m)).toEqual(['mmioWrite 10ffe 2 3344', 'mmioWrite 11000 2 1122', 'mmioRead 10ffe 2 0', 'mmioRead 11000 2 0']);
  });

  test('rep with CX=0 is a single step that completes it', () => {
    const m = setup(asm('xor %cx, %cx\nrep movsb\nhlt'));
    m.cpu.run(1);
    expect(stepSnap(m)).toEqual({ r: 'limit', rip: 0x7c04, rcx: 0, rf: false });
  });

  test('RF is cleared by any other instruction that completes', () => {
    const m = setup(asm('nop\nhlt'), { regs: { rflags: BigInt(2 | RF) } });
    expect(stepSnap(m)).toEqual({ r: 'limit', rip: 0x7c01, rcx: 0, rf: false });
  });

  test('an unsupported instruction leaves RF as it was', () => {
    const m = setup(new Uint8Array([0xd9, 0xe8]), { regs: { rflags: BigInt(2 | RF) } });
    expect(m.cpu.step().kind).toBe('unsupported');
    expect(Number(m.regs().rflags) & RF).toBe(RF);
  });

  test('KVM string_registers_quirk: GenuineIntel guest, 32-bit address size, ECX=0 clears the upper halves', () => {
    const intel = [{ function: 0, index: 0, flags: 0, eax: 0xd, ebx: 0x756e6547, ecx: 0x6c65746e, edx: 0x49656e69 }];
    const code = asm('addr32 rep movsb\nhlt');
    const regs = { rcx: 0xaaaa00000000n, rsi: 0xbbbb00001000n, rdi: 0xcccc00002000n };
    let m = setup(code, { cpuid: intel, regs, sregs: realModeSregs() });
    m.cpu.step();
    expect([m.regs().rcx, m.regs().rsi, m.regs().rdi, m.regs().rip]).toEqual([0n, 0x1000n, 0x2000n, 0x7c03n]);
    m = setup(code, { regs }); // AMD (no CPUID): unchanged
    m.cpu.step();
    expect([m.regs().rcx, m.regs().rsi, m.regs().rdi]).toEqual([0xaaaa00000000n, 0xbbbb00001000n, 0xcccc00002000n]);
  });
});
