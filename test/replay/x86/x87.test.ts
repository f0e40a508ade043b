// x87 control/status/tag words (src/replay/x86/exec/x87.ts): FNINIT, FNCLEX, FLDCW, FNSTCW,
// FNSTSW m16/AX, WAIT, and #NM under CR0.EM/TS (WAIT: MP and TS).
import { describe, expect, test } from 'vitest';

import { realModeSregs, setup } from './helpers.js';

const CR0_MP = 0x2n;
const CR0_EM = 0x4n;
const CR0_TS = 0x8n;

describe('x87 control and status words', () => {
  test('initial state is KVM\'s (FCW 0x037F, FSW 0, all tags empty); FNINIT restores it', () => {
    // fldcw [0x500]; fninit; fnstcw [0x502]; fnstsw [0x504]; fnstsw ax; hlt
    const code = [0xd9, 0x2e, 0x00, 0x05, 0xdb, 0xe3, 0xd9, 0x3e, 0x02, 0x05, 0xdd, 0x3e, 0x04, 0x05, 0xdf, 0xe0, 0xf4];
    const m = setup(new Uint8Array(code), { regs: { rax: 0xaaaan } });
    expect(m.cpu.x87).toEqual({ cw: 0x037f, sw: 0, tw: 0xffff });
    m.ram.set([0x7f, 0x02], 0x500);
    m.ram.fill(0xee, 0x502, 0x506);
    m.cpu.step();
    expect(m.cpu.x87.cw).toBe(0x027f);
    expect(m.runToHlt().kind).toBe('hlt');
    expect(m.w(0x502)).toBe(0x037f);
    expect(m.w(0x504)).toBe(0);
    expect(m.regs().rax).toBe(0n);
    expect(m.cpu.history(5).map((h) => h.text)).toEqual(['fninit', 'fnstcw word ptr [0x502]', 'fnstsw word ptr [0x504]', 'fnstsw ax', 'hlt']);
  });

  test('FLDCW keeps bits 12:8 and 5:0, reads bit 6 as 1 and bits 15:13, 7 as 0 (as measured on Zen 4)', () => {
    for (const [v, want] of [[0x0000, 0x0040], [0xffff, 0x1f7f], [0x1f3f, 0x1f7f], [0x0040, 0x0040]]) {
      const m = setup(new Uint8Array([0xd9, 0x2e, 0x00, 0x05, 0xd9, 0x3e, 0x02, 0x05, 0xf4]));
      m.ram.set([v! & 0xff, v! >> 8], 0x500);
      m.runToHlt();
      expect(m.w(0x502), v!.toString(16)).toBe(want);
    }
  });

  test('CR0.EM or CR0.TS: x87 instructions raise #NM (vector 7); WAIT only with MP and TS', () => {
    const cases: Array<[number[], bigint, boolean]> = [
      [[0xdb, 0xe3], CR0_TS, true],
      [[0xdb, 0xe3], CR0_EM, true],
      [[0xdf, 0xe0], CR0_TS, true],
      [[0xd9, 0x3e, 0x02, 0x05], CR0_EM, true],
      [[0xdb, 0xe3], CR0_MP, false],
      [[0x9b], CR0_TS, false],
      [[0x9b], CR0_EM, false],
      [[0x9b], CR0_MP | CR0_TS, true],
    ];
    for (const [bytes, cr0, nm] of cases) {
      const sregs = realModeSregs();
      const m = setup(new Uint8Array([...bytes, 0xf4]), { sregs: { ...sregs, cr0: sregs.cr0 | cr0 }, ivt: { 7: [0, 0x600] } });
      m.ram[0x600] = 0xf4;
      expect(m.runToHlt().kind).toBe('hlt');
      expect(m.regs().rip, `${bytes.map((b) => b.toString(16)).join(' ')} cr0 |= ${cr0}`).toBe(nm ? 0x601n : BigInt(0x7c00 + bytes.length + 1));
    }
  });

  test('FNCLEX clears the exception flags; other x87 instructions stay unsupported, by name', () => {
    const m = setup(new Uint8Array([0xdb, 0xe2, 0xd9, 0xe8, 0xf4]));
    expect(m.cpu.step().kind).toBe('limit');
    const r = m.cpu.step();
    expect(r.kind).toBe('unsupported');
    expect(r.kind === 'unsupported' && r.message).toMatch(/^unsupported instruction d9 e8 at 0000:7c02/);
  });
});
