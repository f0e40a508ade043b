import { describe, expect, test } from 'vitest';
import { setup } from './helpers.js';

function withUdHandler(code: number[]) {
  const m = setup(new Uint8Array([...code, 0xf4]), { ivt: { 6: [0, 0x600] } });
  m.ram[0x600] = 0xf4;
  return m;
}

describe('unsupported vs invalid', () => {
  test('an x87 instruction (d9 e8 fld1) is reported unsupported, state unchanged', () => {
    const m = setup(new Uint8Array([0x90, 0xd9, 0xe8, 0xf4]));
    const before = m.cpu.getRegs();
    const r = m.cpu.run(10);
    expect(r.kind).toBe('unsupported');
    if (r.kind !== 'unsupported') return;
    expect([...r.bytes]).toEqual([0xd9, 0xe8]);
    expect(r.at).toBe('0000:7c01');
    expect(r.message).toMatch(/^unsupported instruction d9 e8 at 0000:7c01/);
    const after = m.cpu.getRegs();
    expect(after).toEqual({ ...before, rip: 0x7c01n });
    expect(m.cpu.instructions).toBe(1);
    // asking again gives the same answer
    expect(m.cpu.run(10).kind).toBe('unsupported');
  });

  test('SSE, three-byte opcodes are unsupported, rdtsc/rdtscp nondeterministic (with the right length)', () => {
    const cases: Array<[number[], number]> = [
      [[0x0f, 0x28, 0xc1], 3], // movaps xmm0, xmm1
      [[0x66, 0x0f, 0x70, 0xc1, 0x05], 5], // pshufd
      [[0x0f, 0x31], 2], // rdtsc
      [[0x0f, 0x01, 0xf9], 3], // rdtscp
      [[0x66, 0x0f, 0x38, 0x00, 0xc1], 5], // pshufb
      [[0x66, 0x0f, 0x3a, 0x0f, 0xc1, 0x08], 6], // palignr
      [[0xdd, 0x87, 0x34, 0x12], 4], // fld qword [bx+0x1234]
      [[0x0f, 0x34], 2], // sysenter
    ];
    for (const [bytes, len] of cases) {
      const m = setup(new Uint8Array([...bytes, 0xf4]));
      const r = m.cpu.run(10);
      // without a recording to take their results from, RDTSC/RDTSCP stop the run (nondet.test.ts)
      expect(r.kind, bytes.join(',')).toBe(bytes[0] === 0x0f && (bytes[1] === 0x31 || bytes[1] === 0x01) ? 'nondeterministic' : 'unsupported');
      if (r.kind === 'unsupported' || r.kind === 'nondeterministic') expect(r.bytes.length).toBe(len);
      expect(m.regs().rip).toBe(0x7c00n);
    }
  });

  test('setting CR0.PE enters (16-bit) protected mode; the segment caches stay until reloaded', () => {
    // mov eax, cr0; or al, 1; mov cr0, eax; hlt
    const m = setup(new Uint8Array([0x0f, 0x20, 0xc0, 0x0c, 0x01, 0x0f, 0x22, 0xc0, 0xf4]));
    expect(m.cpu.run(10).kind).toBe('hlt');
    expect(m.cpu.getSregs().cr0 & 1n).toBe(1n);
    expect(m.cpu.getSregs().cs.selector).toBe(0);
    expect(m.regs().rip).toBe(0x7c09n);
  });

  test('a state in virtual-8086 mode is refused by run()', () => {
    const m = setup(new Uint8Array([0x90]));
    const s = m.cpu.getSregs();
    s.cr0 |= 1n;
    m.cpu.setState({ ...m.cpu.getRegs(), rflags: 0x20002n }, s);
    const r = m.cpu.run(10);
    expect(r.kind).toBe('unsupported');
    if (r.kind === 'unsupported') expect(r.message).toMatch(/virtual-8086/);
  });

  test('ud2 (0f 0b) and invalid encodings raise #UD through the IVT', () => {
    for (const code of [
      [0x0f, 0x0b], // ud2
      [0x0f, 0xff, 0xc0], // ud0
      [0x0f, 0xb9, 0xc0], // ud1
      [0x8d, 0xc0], // lea with a register operand
      [0xc4, 0xc0], // les with a register operand
      [0x8e, 0xc8], // mov cs, ax
      [0x8e, 0xf0], // mov sreg6, ax
      [0xfe, 0xd0], // grp4 /2
      [0xff, 0xf8], // grp5 /7
      [0x0f, 0x00, 0xc0], // sldt: protected mode only
      [0x63, 0xc0], // arpl: protected mode only
      [0x0f, 0x04],
      [0x0f, 0xc7, 0xc8], // cmpxchg8b with a register operand
    ]) {
      const m = withUdHandler(code);
      const r = m.cpu.run(10);
      expect(r.kind, code.map((b) => b.toString(16)).join(' ')).toBe('hlt');
      expect(m.regs().rip).toBe(0x601n);
      expect(m.w(0x7000 - 6)).toBe(0x7c00); // #UD is a fault: IP of the instruction
    }
  });

  test('lock: allowed on read-modify-write with memory destination, #UD otherwise', () => {
    let m = withUdHandler([0xf0, 0x01, 0x07]); // lock add [bx], ax
    expect(m.cpu.run(10).kind).toBe('hlt');
    expect(m.regs().rip).toBe(0x7c04n);
    for (const code of [
      [0xf0, 0x01, 0xc0], // lock add ax, ax (register destination)
      [0xf0, 0x90], // lock nop
      [0xf0, 0x8b, 0x07], // lock mov ax, [bx]
      [0xf0, 0x39, 0x07], // lock cmp [bx], ax
      [0xf0, 0xd9, 0xe8], // lock fld1: #UD, not unsupported
    ]) {
      m = withUdHandler(code);
      expect(m.cpu.run(10).kind, code.join(',')).toBe('hlt');
      expect(m.regs().rip).toBe(0x601n);
    }
  });

  test('#UD with the vector pointing at code that continues', () => {
    const m = setup(new Uint8Array([0x0f, 0x0b, 0xf4]), { ivt: { 6: [0, 0x600] } });
    // handler: skip the 2-byte ud2 by editing the return IP, then iret
    m.ram.set([0x89, 0xe5, 0x83, 0x46, 0x00, 0x02, 0xcf], 0x600); // mov bp,sp; add word [bp+0],2; iret
    expect(m.cpu.run(100).kind).toBe('hlt');
    expect(m.regs().rip).toBe(0x7c03n);
  });

  test('executing outside RAM is reported as unsupported', () => {
    const ram = new Uint8Array(0x10000);
    const m = setup(new Uint8Array([0xea, 0x00, 0x00, 0x00, 0x20]), { ram: [{ base: 0, bytes: ram }] }); // jmp far 2000:0000
    expect(m.cpu.run(1).kind).toBe('limit');
    const r = m.cpu.run(1);
    expect(r.kind).toBe('unsupported');
    if (r.kind === 'unsupported') {
      expect(r.at).toBe('2000:0000');
      expect(r.message).toMatch(/non-RAM/);
    }
  });

  test('an exception thrown by the sink propagates with RIP left at the instruction', () => {
    const m = setup(new Uint8Array([0x90, 0xe4, 0x60, 0xf4]));
    m.sink.ioIn = () => { throw new Error('diverged'); };
    expect(() => m.cpu.run(10)).toThrow('diverged');
    expect(m.regs().rip).toBe(0x7c01n);
  });

  test('Cpu.interrupt delivers a vector through the IVT now', () => {
    const m = setup(new Uint8Array([0x90, 0xf4]), { ivt: { 8: [0, 0x600] } });
    m.ram[0x600] = 0xf4;
    expect(m.cpu.interrupt(8)).toBe(true);
    expect(m.regs().rip).toBe(0x600n);
    expect(m.w(0x7000 - 6)).toBe(0x7c00);
    expect(m.cpu.run(10).kind).toBe('hlt');
  });
});

