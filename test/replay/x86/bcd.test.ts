import { describe, expect, test } from 'vitest';
import { FLAGS, asm, noAssembler, run16, setup } from './helpers.js';

const { CF, AF, ZF, SF, OF, PF } = FLAGS;

function bcd(pre: string, op: string, flags = 0) {
  const m = run16(`mov $${flags | 2}, %dx\npush %dx\npopf\n${pre}\n${op}\npushf\npop %dx\nhlt`);
  const r = m.regs();
  return { ax: Number(r.rax & 0xffffn), al: Number(r.rax & 0xffn), flags: Number(r.rdx) & 0x8d5 };
}

describe.skipIf(noAssembler)('decimal adjust', () => {
  test('daa: SDM example 79 + 35 = 114', () => {
    // ADD AL,BL: AL=79h BL=35h -> AL=AEh, CF=0, AF=0; DAA -> AL=14h, CF=1, AF=1
    const r = bcd('mov $0x79, %al\nmov $0x35, %bl\nadd %bl, %al', 'daa');
    expect(r.al).toBe(0x14);
    expect(r.flags & (CF | AF)).toBe(CF | AF);
  });

  test('daa: more vectors', () => {
    expect(bcd('mov $0x09, %al\nadd $0x01, %al', 'daa')).toMatchObject({ al: 0x10 });
    expect(bcd('mov $0x99, %al\nadd $0x01, %al', 'daa').al).toBe(0x00);
    expect(bcd('mov $0x99, %al\nadd $0x01, %al', 'daa').flags & (CF | ZF)).toBe(CF | ZF);
    expect(bcd('mov $0x38, %al\nadd $0x29, %al', 'daa').al).toBe(0x67); // AF from the add
  });

  test('das: SDM example 35 - 47 = -12 (88, borrow)', () => {
    // SUB AL,BL: AL=35h BL=47h -> AL=EEh, CF=1, AF=1; DAS -> AL=88h, CF=1, AF=1
    const r = bcd('mov $0x35, %al\nmov $0x47, %bl\nsub %bl, %al', 'das');
    expect(r.al).toBe(0x88);
    expect(r.flags & (CF | AF | SF)).toBe(CF | AF | SF);
    expect(bcd('mov $0x42, %al\nsub $0x13, %al', 'das').al).toBe(0x29);
  });

  test('aaa / aas (SDM examples)', () => {
    // ADD AL,BL with AL=38h ('8'), BL=39h ('9') -> AL=71h, AF=1; AAA -> AX=0107h... AH += 1
    let r = bcd('mov $0x0038, %ax\nadd $0x39, %al', 'aaa');
    expect(r.ax).toBe(0x0107);
    expect(r.flags & (CF | AF)).toBe(CF | AF);
    r = bcd('mov $0x0005, %ax\nadd $0x02, %al', 'aaa');
    expect(r.ax).toBe(0x0007);
    expect(r.flags & (CF | AF)).toBe(0);
    // AAS: AL=38h - 39h = FFh, AF=1 -> AX: AL=09h, AH-1
    r = bcd('mov $0x0238, %ax\nsub $0x39, %al', 'aas');
    expect(r.ax).toBe(0x0109);
    expect(r.flags & (CF | AF)).toBe(CF | AF);
  });

  test('aaa with AL >= 0xFA carries into AH (AX + 106h)', () => {
    const r = bcd('mov $0x00fa, %ax', 'aaa');
    expect(r.ax).toBe(0x0200);
  });

  test('aam / aad (base 10 and other bases)', () => {
    let r = bcd('mov $63, %al', 'aam');
    expect(r.ax).toBe(0x0603);
    r = bcd('mov $0x0603, %ax', 'aad');
    expect(r.ax).toBe(63);
    expect(r.flags & (ZF | SF)).toBe(0);
    r = bcd('mov $0x0000, %ax', 'aad');
    expect(r.flags & (ZF | PF)).toBe(ZF | PF);
    r = bcd('mov $0xff, %al', '.byte 0xd4, 0x10'); // aam 16
    expect(r.ax).toBe(0x0f0f);
    r = bcd('mov $0x0102, %ax', '.byte 0xd5, 0x02'); // aad 2
    expect(r.ax).toBe(4);
  });

  test('aam / aad flags as KVM\'s emulator sets them: SF and ZF from AX, PF from AL (traces/bcd.step)', () => {
    let r = bcd('mov $0x0d0c, %ax', 'aad'); // AL = 0x8e, AH = 0: SF from bit 15 of AX = 0
    expect(r.ax).toBe(0x8e);
    expect(r.flags & (SF | ZF | PF | CF)).toBe(PF);
    r = bcd('mov $0xff, %al', '.byte 0xd4, 0x01'); // aam 1: AH = 0xff, AL = 0
    expect(r.ax).toBe(0xff00);
    expect(r.flags & (SF | ZF | PF)).toBe(SF | PF); // AX != 0: ZF = 0; bit 15: SF = 1
  });

  test('aam 0 raises #DE through the IVT', () => {
    const m = setup(asm('mov $5, %al\n.byte 0xd4, 0x00\nhlt'), { ivt: { 0: [0, 0x600] } });
    m.ram[0x600] = 0xf4;
    expect(m.cpu.run(10).kind).toBe('hlt');
    expect(m.regs().rip).toBe(0x601n);
    expect(m.w(0x7000 - 6)).toBe(0x7c02); // IP of the aam
  });

  test('undefined masks', () => {
    const steps = (code: string) => {
      const m = setup(asm(code + '\nhlt'));
      let last = 0;
      for (let k = 0; k < code.split('\n').length; k++) { m.cpu.step(); last = m.cpu.undefinedFlags; }
      return last;
    };
    expect(steps('mov $0x12, %al\ndaa')).toBe(OF);
    expect(steps('mov $0x12, %al\ndas')).toBe(OF);
    expect(steps('mov $0x12, %al\naaa')).toBe(OF | SF | ZF | PF);
    expect(steps('mov $0x12, %al\naas')).toBe(OF | SF | ZF | PF);
    expect(steps('mov $0x12, %al\naam')).toBe(OF | AF | CF);
    expect(steps('mov $0x12, %al\naad')).toBe(OF | AF | CF);
  });
});
