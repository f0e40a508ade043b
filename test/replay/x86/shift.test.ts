import { describe, expect, test } from 'vitest';
import { FLAGS, setup, zeroRegs, realModeSregs } from './helpers.js';

const { CF, PF, AF, ZF, SF, OF } = FLAGS;

/** Execute one instruction given as bytes with AX/BX/CX/flags preset; return AX, flags, undef mask. */
function one(bytes: number[], ax: number, cl: number, flags = 2, bx = 0) {
  const m = setup(new Uint8Array([...bytes, 0xf4]));
  m.cpu.setState({ ...zeroRegs(), rip: 0x7c00n, rsp: 0x7000n, rax: BigInt(ax), rcx: BigInt(cl), rbx: BigInt(bx), rflags: BigInt(flags | 2) }, realModeSregs());
  expect(m.cpu.step().kind).toBe('limit');
  const r = m.cpu.getRegs();
  return { ax: Number(r.rax & 0xffffffffn), flags: Number(r.rflags) & 0x8d5, undef: m.cpu.undefinedFlags };
}

// encodings (16-bit code): D2/D3 /r with CL, r/m = AL/AX/EAX
const SHL8 = [0xd2, 0xe0], SHR8 = [0xd2, 0xe8], SAR8 = [0xd2, 0xf8];
const SHL16 = [0xd3, 0xe0], SHR32 = [0x66, 0xd3, 0xe8];
const ROL8 = [0xd2, 0xc0], ROR16 = [0xd3, 0xc8], RCL8 = [0xd2, 0xd0], RCR8 = [0xd2, 0xd8], RCL32 = [0x66, 0xd3, 0xd0], RCR16 = [0xd3, 0xd8];
const SHL1_8 = [0xd0, 0xe0];
const SHLD16 = [0x0f, 0xa5, 0xd8], SHRD32 = [0x66, 0x0f, 0xad, 0xd8];

describe('shift and rotate counts', () => {
  test('count 0 changes nothing (not even the flags)', () => {
    for (const enc of [SHL8, SHR8, SAR8, ROL8, RCL8, RCR8, SHLD16]) {
      const r = one(enc, 0x81, 0, CF | ZF | OF | SF | AF | PF);
      expect(r.ax).toBe(0x81);
      expect(r.flags).toBe(CF | ZF | OF | SF | AF | PF);
      expect(r.undef).toBe(0);
    }
  });

  test('count is masked to 5 bits: 32 acts like 0, 33 like 1', () => {
    expect(one(SHL16, 0x1234, 32, CF).ax).toBe(0x1234);
    expect(one(SHL16, 0x1234, 32, CF).flags).toBe(CF);
    expect(one(SHL16, 0x1234, 33).ax).toBe(0x2468);
    expect(one(SHR32, 0x80000000, 0x21).ax).toBe(0x40000000);
  });

  test('count 1 defines OF', () => {
    let r = one(SHL1_8, 0x40, 0);
    expect(r).toMatchObject({ ax: 0x80, flags: SF | OF | AF });
    expect(r.undef).toBe(AF);
    r = one(SHL8, 0xc0, 1);
    expect(r.flags & (CF | OF)).toBe(CF); // MSB(result)=1 xor CF=1
    r = one(SHR8, 0x81, 1);
    expect(r).toMatchObject({ ax: 0x40, flags: CF | OF | AF });
    r = one(SAR8, 0x81, 1);
    expect(r).toMatchObject({ ax: 0xc0, flags: CF | SF | PF | AF });
    r = one(ROL8, 0x80, 1);
    expect(r.ax).toBe(0x01);
    expect(r.flags & (CF | OF)).toBe(CF | OF);
    expect(r.undef).toBe(0);
  });

  test('count > 1: OF (and AF) reported undefined', () => {
    const r = one(SHL8, 0x01, 3);
    expect(r.ax).toBe(0x08);
    expect(r.undef).toBe(AF | OF);
    expect(one(ROL8, 0x01, 3).undef).toBe(OF);
  });

  test('shifts by >= the operand width (8/16-bit operands, count <= 31)', () => {
    let r = one(SHL8, 0x01, 8);
    expect(r).toMatchObject({ ax: 0, flags: expect.any(Number) });
    expect(r.flags & (CF | ZF)).toBe(CF | ZF); // last bit out = bit 0
    expect(r.undef).toBe(AF | OF | CF);
    r = one(SHL8, 0xff, 9);
    expect(r.ax).toBe(0);
    expect(r.flags & CF).toBe(0);
    r = one(SHR8, 0x80, 8);
    expect(r.ax).toBe(0);
    expect(r.flags & CF).toBe(CF);
    r = one(SAR8, 0x80, 20);
    expect(r.ax).toBe(0xff);
    expect(r.flags & (CF | SF)).toBe(CF | SF);
    r = one(SHL16, 0xffff, 31);
    expect(r.ax).toBe(0);
  });

  test('rotates by multiples of the width keep the value but set CF', () => {
    const r = one(ROL8, 0x81, 8);
    expect(r.ax).toBe(0x81);
    expect(r.flags & CF).toBe(CF); // LSB of result
    const r2 = one(ROR16, 0x8001, 16, 0);
    expect(r2.ax).toBe(0x8001);
    expect(r2.flags & CF).toBe(CF); // MSB of result
  });

  test('rcl/rcr rotate through carry (9/17/33-bit rings)', () => {
    let r = one(RCL8, 0x80, 1, 0);
    expect(r.ax).toBe(0x00);
    expect(r.flags & (CF | OF)).toBe(CF | OF);
    r = one(RCL8, 0x80, 1, CF);
    expect(r.ax).toBe(0x01);
    r = one(RCL8, 0x55, 9, CF); // full 9-bit ring: unchanged, CF kept
    expect(r.ax).toBe(0x55);
    expect(r.flags & CF).toBe(CF);
    r = one(RCL8, 0x01, 8, 0); // = rcr 1: CF <- bit0 (1), AL = CF:0x01>>1
    expect(r.ax).toBe(0x00);
    expect(r.flags & CF).toBe(CF);
    r = one(RCR8, 0x01, 1, CF);
    expect(r.ax).toBe(0x80);
    expect(r.flags & (CF | OF)).toBe(CF | OF);
    r = one(RCR16, 0x0001, 17, 0);
    expect(r.ax).toBe(0x0001);
    r = one(RCR16, 0x0003, 2, CF);
    expect(r.ax).toBe(0x8000 | 0x4000 | 0x0000);
    expect(r.flags & CF).toBe(CF);
    r = one(RCL32, 0x80000000, 1, CF);
    expect(r.ax).toBe(0x00000001);
    expect(r.flags & CF).toBe(CF);
    r = one(RCL32, 0x12345678, 31, CF); // = rcr 2 on the 33-bit ring
    expect(r.ax).toBe(((0x12345678 >>> 2) | (1 << 30) | ((0x12345678 & 1) << 31)) >>> 0);
  });

  test('shld/shrd', () => {
    let r = one(SHLD16, 0x1234, 4, 0, 0xabcd);
    expect(r.ax).toBe(0x234a);
    expect(r.flags & CF).toBe(CF);
    r = one(SHLD16, 0x1234, 16, 0, 0xabcd);
    expect(r.ax).toBe(0xabcd);
    r = one(SHLD16, 0x1234, 20, 0, 0xabcd);
    expect(r.undef).toBe(CF | PF | AF | ZF | SF | OF);
    r = one(SHRD32, 0x12345678, 8, 0, 0xabcdef01);
    expect(r.ax).toBe(0x01123456);
    expect(r.flags & CF).toBe(0);
    expect(r.undef).toBe(AF | OF);
  });
});
