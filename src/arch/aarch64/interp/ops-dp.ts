// Data processing, immediate and register forms (ARM ARM C4.1.2, C4.1.6): executors and their
// disassembly, objdump's preferred aliases first.

import {
  M32, M64, addWithCarry, clz, conditionHolds, decodeBitMasks, extendReg, logicFlags, reverseBits, reverseBytes,
  ror, shiftReg,
} from './alu.js';
import { DIS_COND, EXTEND_NAMES, SHIFT_NAMES, addr, bits, entry, hex, rs, rz, sext, undefinedInsn, type Entry } from './entry.js';

const mask = (sf: number): bigint => (sf ? M64 : M32);
const invCond = (c: number): string => DIS_COND[c ^ 1]!;

// ------------------------------------------------------------------ immediate

const adr = entry(0x1f000000, 0x10000000, (w) => {
  const rd = w & 31;
  const imm = BigInt(sext((bits(w, 23, 5) << 2) | bits(w, 30, 29), 21));
  if (w >>> 31) return (c) => c.setXr(rd, ((c.cur & ~0xfffn) + (imm << 12n)) & M64);
  return (c) => c.setXr(rd, (c.cur + imm) & M64);
}, (w, pc) => {
  const imm = BigInt(sext((bits(w, 23, 5) << 2) | bits(w, 30, 29), 21));
  return w >>> 31 ? `adrp ${rz(w & 31, 1)}, ${addr((pc & ~0xfffn) + (imm << 12n))}` : `adr ${rz(w & 31, 1)}, ${addr(pc + imm)}`;
});

const addSubImm = entry(0x1f800000, 0x11000000, (w) => {
  const sf = w >>> 31, sub = bits(w, 30, 30), s = bits(w, 29, 29) === 1, rn = bits(w, 9, 5), rd = w & 31;
  const m = mask(sf);
  const imm = BigInt(bits(w, 21, 10) << (bits(w, 22, 22) * 12));
  const y = sub ? ~imm & m : imm;
  const cin = BigInt(sub);
  if (s) return (c) => c.setXr(rd, addWithCarry(c, c.xsp(rn) & m, y, cin, sf === 1, true));
  return (c) => c.setXsp(rd, addWithCarry(c, c.xsp(rn) & m, y, cin, sf === 1, false));
}, (w) => {
  const sf = w >>> 31, sub = bits(w, 30, 30), s = bits(w, 29, 29), rn = bits(w, 9, 5), rd = w & 31;
  const imm12 = bits(w, 21, 10), sh = bits(w, 22, 22) ? ', lsl #12' : '';
  if (s && rd === 31) return `${sub ? 'cmp' : 'cmn'} ${rs(rn, sf)}, ${hex(imm12)}${sh}`;
  if (!s && !sub && imm12 === 0 && !sh && (rd === 31 || rn === 31)) return `mov ${rs(rd, sf)}, ${rs(rn, sf)}`;
  return `${sub ? 'sub' : 'add'}${s ? 's' : ''} ${s ? rz(rd, sf) : rs(rd, sf)}, ${rs(rn, sf)}, ${hex(imm12)}${sh}`;
});

function logicImmValue(w: number): bigint | null {
  const sf = w >>> 31, n = bits(w, 22, 22);
  if (!sf && n) return null;
  const m = decodeBitMasks(n, bits(w, 15, 10), bits(w, 21, 16), true, sf ? 64 : 32);
  return m === null ? null : m[0];
}

/** A value MOVZ or MOVN can make (then objdump prints ORR #imm as orr, not mov). */
function moveWideCan(v: bigint, sf: number): boolean {
  const width = sf ? 64 : 32;
  const m = mask(sf);
  const one = (x: bigint): boolean => {
    for (let p = 0; p < width; p += 16) if ((x & ~(0xffffn << BigInt(p)) & m) === 0n) return true;
    return false;
  };
  return one(v) || one(~v & m);
}

const logicImm = entry(0x1f800000, 0x12000000, (w) => {
  const imm = logicImmValue(w);
  if (imm === null) return undefinedInsn;
  const sf = w >>> 31, opc = bits(w, 30, 29), rn = bits(w, 9, 5), rd = w & 31;
  const m = mask(sf);
  switch (opc) {
    case 0: return (c) => c.setXsp(rd, c.x[rn]! & imm);
    case 1: return (c) => c.setXsp(rd, (c.x[rn]! | imm) & m);
    case 2: return (c) => c.setXsp(rd, (c.x[rn]! ^ imm) & m);
    default: return (c) => { const r = c.x[rn]! & imm; logicFlags(c, r, sf === 1); c.setXr(rd, r); };
  }
}, (w) => {
  const imm = logicImmValue(w);
  if (imm === null) return 'undefined';
  const sf = w >>> 31, opc = bits(w, 30, 29), rn = bits(w, 9, 5), rd = w & 31;
  if (opc === 3 && rd === 31) return `tst ${rz(rn, sf)}, ${hex(imm)}`;
  if (opc === 1 && rn === 31 && !moveWideCan(imm, sf)) return `mov ${rs(rd, sf)}, ${hex(imm)}`;
  return `${['and', 'orr', 'eor', 'ands'][opc]} ${opc === 3 ? rz(rd, sf) : rs(rd, sf)}, ${rz(rn, sf)}, ${hex(imm)}`;
});

const moveWide = entry(0x1f800000, 0x12800000, (w) => {
  const sf = w >>> 31, opc = bits(w, 30, 29), hw = bits(w, 22, 21), rd = w & 31;
  if (opc === 1 || (!sf && hw >= 2)) return undefinedInsn;
  const m = mask(sf);
  const pos = BigInt(hw * 16);
  const imm = BigInt(bits(w, 20, 5)) << pos;
  if (opc === 0) { const v = ~imm & m; return (c) => c.setXr(rd, v); }
  if (opc === 2) return (c) => c.setXr(rd, imm);
  const keep = ~(0xffffn << pos) & m;
  return (c) => c.setXr(rd, (c.x[rd]! & keep) | imm);
}, (w) => {
  const sf = w >>> 31, opc = bits(w, 30, 29), hw = bits(w, 22, 21), rd = w & 31, imm16 = bits(w, 20, 5);
  if (opc === 1 || (!sf && hw >= 2)) return 'undefined';
  const sh = hw ? `, lsl #${hw * 16}` : '';
  const v = BigInt(imm16) << BigInt(hw * 16);
  if (opc === 3) return `movk ${rz(rd, sf)}, ${hex(imm16)}${sh}`;
  if (imm16 === 0 && hw !== 0) return `mov${opc === 0 ? 'n' : 'z'} ${rz(rd, sf)}, ${hex(imm16)}${sh}`;
  if (opc === 0 && !sf && imm16 === 0xffff) return `movn ${rz(rd, sf)}, ${hex(imm16)}${sh}`;
  return `mov ${rz(rd, sf)}, ${hex(opc === 0 ? ~v & mask(sf) : v)}`;
});

const bitfield = entry(0x1f800000, 0x13000000, (w) => {
  const sf = w >>> 31, opc = bits(w, 30, 29), n = bits(w, 22, 22), immr = bits(w, 21, 16), imms = bits(w, 15, 10);
  const rn = bits(w, 9, 5), rd = w & 31;
  const width = sf ? 64 : 32;
  if (opc === 3 || n !== sf || (!sf && (immr | imms) & 0x20)) return undefinedInsn;
  const masks = decodeBitMasks(n, imms, immr, false, width);
  if (masks === null) return undefinedInsn;
  const [wmask, tmask] = masks;
  const m = mask(sf);
  if (opc === 2 && imms + 1 === immr) { const s = BigInt(width - immr); return (c) => c.setXr(rd, (c.x[rn]! << s) & m); } // lsl
  if (opc === 2 && imms === width - 1) { const s = BigInt(immr); return (c) => c.setXr(rd, (c.x[rn]! & m) >> s); } // lsr
  const signBit = BigInt(imms);
  return (c) => {
    const src = c.x[rn]! & m;
    const dst = opc === 1 ? c.x[rd]! & m : 0n;
    const bot = (dst & ~wmask) | (ror(src, immr, width) & wmask);
    const top = opc === 0 ? (((src >> signBit) & 1n) === 1n ? m : 0n) : dst;
    c.setXr(rd, ((top & ~tmask) | (bot & tmask)) & m);
  };
}, (w) => {
  const sf = w >>> 31, opc = bits(w, 30, 29), n = bits(w, 22, 22), immr = bits(w, 21, 16), imms = bits(w, 15, 10);
  const rn = bits(w, 9, 5), rd = w & 31;
  const width = sf ? 64 : 32;
  if (opc === 3 || n !== sf || (!sf && (immr | imms) & 0x20)) return 'undefined';
  const d = rz(rd, sf), s = rz(rn, sf);
  const lsb = (width - immr) % width;
  if (opc === 0) {
    if (imms === width - 1) return `asr ${d}, ${s}, #${immr}`;
    if (immr === 0 && (imms === 7 || imms === 15 || imms === 31)) return `sxt${imms === 7 ? 'b' : imms === 15 ? 'h' : 'w'} ${d}, ${rz(rn, 0)}`;
    if (imms < immr) return `sbfiz ${d}, ${s}, #${lsb}, #${imms + 1}`;
    return `sbfx ${d}, ${s}, #${immr}, #${imms - immr + 1}`;
  }
  if (opc === 1) {
    if (imms < immr) return rn === 31 ? `bfc ${d}, #${lsb}, #${imms + 1}` : `bfi ${d}, ${s}, #${lsb}, #${imms + 1}`;
    return `bfxil ${d}, ${s}, #${immr}, #${imms - immr + 1}`;
  }
  if (imms !== width - 1 && imms + 1 === immr) return `lsl ${d}, ${s}, #${width - 1 - imms}`;
  if (imms === width - 1) return `lsr ${d}, ${s}, #${immr}`;
  if (!sf && immr === 0 && (imms === 7 || imms === 15)) return `uxt${imms === 7 ? 'b' : 'h'} ${d}, ${s}`;
  if (imms < immr) return `ubfiz ${d}, ${s}, #${lsb}, #${imms + 1}`;
  return `ubfx ${d}, ${s}, #${immr}, #${imms - immr + 1}`;
});

const extr = entry(0x7fa00000, 0x13800000, (w) => {
  const sf = w >>> 31, n = bits(w, 22, 22), rm = bits(w, 20, 16), lsb = bits(w, 15, 10), rn = bits(w, 9, 5), rd = w & 31;
  if (n !== sf || (!sf && lsb >= 32)) return undefinedInsn;
  const m = mask(sf), width = BigInt(sf ? 64 : 32), l = BigInt(lsb);
  return (c) => c.setXr(rd, ((((c.x[rn]! & m) << width) | (c.x[rm]! & m)) >> l) & m);
}, (w) => {
  const sf = w >>> 31, rm = bits(w, 20, 16), lsb = bits(w, 15, 10), rn = bits(w, 9, 5), rd = w & 31;
  if (rn === rm) return `ror ${rz(rd, sf)}, ${rz(rn, sf)}, #${lsb}`;
  return `extr ${rz(rd, sf)}, ${rz(rn, sf)}, ${rz(rm, sf)}, #${lsb}`;
});

// ------------------------------------------------------------------ register

const shiftText = (type: number, amount: number): string => (amount ? `, ${SHIFT_NAMES[type]} #${amount}` : '');

const logicReg = entry(0x1f000000, 0x0a000000, (w) => {
  const sf = w >>> 31, opc = bits(w, 30, 29), type = bits(w, 23, 22), inv = bits(w, 21, 21), rm = bits(w, 20, 16);
  const amount = bits(w, 15, 10), rn = bits(w, 9, 5), rd = w & 31;
  if (!sf && amount >= 32) return undefinedInsn;
  const m = mask(sf), f = sf === 1;
  const op2 = (c: { x: bigint[] }): bigint => { const v = shiftReg(c.x[rm]! & m, type, amount, f); return inv ? ~v & m : v; };
  switch (opc) {
    case 0: return (c) => c.setXr(rd, c.x[rn]! & m & op2(c));
    case 1: return (c) => c.setXr(rd, (c.x[rn]! | op2(c)) & m);
    case 2: return (c) => c.setXr(rd, (c.x[rn]! ^ op2(c)) & m);
    default: return (c) => { const r = c.x[rn]! & m & op2(c); logicFlags(c, r, f); c.setXr(rd, r); };
  }
}, (w) => {
  const sf = w >>> 31, opc = bits(w, 30, 29), type = bits(w, 23, 22), inv = bits(w, 21, 21), rm = bits(w, 20, 16);
  const amount = bits(w, 15, 10), rn = bits(w, 9, 5), rd = w & 31;
  const sh = shiftText(type, amount);
  if (opc === 1 && !inv && rn === 31 && amount === 0) return `mov ${rz(rd, sf)}, ${rz(rm, sf)}`;
  if (opc === 1 && inv && rn === 31) return `mvn ${rz(rd, sf)}, ${rz(rm, sf)}${sh}`;
  if (opc === 3 && !inv && rd === 31) return `tst ${rz(rn, sf)}, ${rz(rm, sf)}${sh}`;
  const mn = [['and', 'bic'], ['orr', 'orn'], ['eor', 'eon'], ['ands', 'bics']][opc]![inv]!;
  return `${mn} ${rz(rd, sf)}, ${rz(rn, sf)}, ${rz(rm, sf)}${sh}`;
});

const addSubShifted = entry(0x1f200000, 0x0b000000, (w) => {
  const sf = w >>> 31, sub = bits(w, 30, 30), s = bits(w, 29, 29) === 1, type = bits(w, 23, 22), rm = bits(w, 20, 16);
  const amount = bits(w, 15, 10), rn = bits(w, 9, 5), rd = w & 31;
  if (type === 3 || (!sf && amount >= 32)) return undefinedInsn;
  const m = mask(sf), f = sf === 1, cin = BigInt(sub);
  return (c) => {
    const v = shiftReg(c.x[rm]! & m, type, amount, f);
    c.setXr(rd, addWithCarry(c, c.x[rn]! & m, sub ? ~v & m : v, cin, f, s));
  };
}, (w) => {
  const sf = w >>> 31, sub = bits(w, 30, 30), s = bits(w, 29, 29), type = bits(w, 23, 22), rm = bits(w, 20, 16);
  const amount = bits(w, 15, 10), rn = bits(w, 9, 5), rd = w & 31;
  const sh = shiftText(type, amount);
  if (s && rd === 31) return `${sub ? 'cmp' : 'cmn'} ${rz(rn, sf)}, ${rz(rm, sf)}${sh}`;
  if (sub && rn === 31) return `neg${s ? 's' : ''} ${rz(rd, sf)}, ${rz(rm, sf)}${sh}`;
  return `${sub ? 'sub' : 'add'}${s ? 's' : ''} ${rz(rd, sf)}, ${rz(rn, sf)}, ${rz(rm, sf)}${sh}`;
});

const addSubExtended = entry(0x1fe00000, 0x0b200000, (w) => {
  const sf = w >>> 31, sub = bits(w, 30, 30), s = bits(w, 29, 29) === 1, rm = bits(w, 20, 16), option = bits(w, 15, 13);
  const amount = bits(w, 12, 10), rn = bits(w, 9, 5), rd = w & 31;
  if (amount > 4) return undefinedInsn;
  const m = mask(sf), f = sf === 1, cin = BigInt(sub);
  return (c) => {
    const v = extendReg(c.x[rm]!, option, amount, f);
    const r = addWithCarry(c, c.xsp(rn) & m, sub ? ~v & m : v, cin, f, s);
    if (s) c.setXr(rd, r); else c.setXsp(rd, r);
  };
}, (w) => {
  const sf = w >>> 31, sub = bits(w, 30, 30), s = bits(w, 29, 29), rm = bits(w, 20, 16), option = bits(w, 15, 13);
  const amount = bits(w, 12, 10), rn = bits(w, 9, 5), rd = w & 31;
  const rmName = rz(rm, sf && (option & 3) === 3);
  const lsl = (rd === 31 || rn === 31) && option === (sf ? 3 : 2);
  const ext = lsl ? (amount ? `, lsl #${amount}` : '') : `, ${EXTEND_NAMES[option]}${amount ? ` #${amount}` : ''}`;
  if (s && rd === 31) return `${sub ? 'cmp' : 'cmn'} ${rs(rn, sf)}, ${rmName}${ext}`;
  return `${sub ? 'sub' : 'add'}${s ? 's' : ''} ${s ? rz(rd, sf) : rs(rd, sf)}, ${rs(rn, sf)}, ${rmName}${ext}`;
});

const adcSbc = entry(0x1fe0fc00, 0x1a000000, (w) => {
  const sf = w >>> 31, sub = bits(w, 30, 30), s = bits(w, 29, 29) === 1, rm = bits(w, 20, 16), rn = bits(w, 9, 5), rd = w & 31;
  const m = mask(sf), f = sf === 1;
  return (c) => {
    const v = c.x[rm]! & m;
    c.setXr(rd, addWithCarry(c, c.x[rn]! & m, sub ? ~v & m : v, BigInt(c.cf), f, s));
  };
}, (w) => {
  const sf = w >>> 31, sub = bits(w, 30, 30), s = bits(w, 29, 29) ? 's' : '', rm = bits(w, 20, 16), rn = bits(w, 9, 5), rd = w & 31;
  if (sub && rn === 31) return `ngc${s} ${rz(rd, sf)}, ${rz(rm, sf)}`;
  return `${sub ? 'sbc' : 'adc'}${s} ${rz(rd, sf)}, ${rz(rn, sf)}, ${rz(rm, sf)}`;
});

const condCompare = entry(0x3fe00410, 0x3a400000, (w) => {
  const sf = w >>> 31, sub = bits(w, 30, 30), isImm = bits(w, 11, 11), rm = bits(w, 20, 16), cond = bits(w, 15, 12);
  const rn = bits(w, 9, 5), nzcv = w & 15;
  const m = mask(sf), f = sf === 1, imm = BigInt(rm);
  return (c) => {
    if (conditionHolds(c, cond)) {
      const y = isImm ? imm : c.x[rm]! & m;
      addWithCarry(c, c.x[rn]! & m, sub ? ~y & m : y, BigInt(sub), f, true);
    } else {
      c.nf = nzcv >> 3; c.zf = (nzcv >> 2) & 1; c.cf = (nzcv >> 1) & 1; c.vf = nzcv & 1;
    }
  };
}, (w) => {
  const sf = w >>> 31, sub = bits(w, 30, 30), isImm = bits(w, 11, 11), rm = bits(w, 20, 16), cond = bits(w, 15, 12);
  return `${sub ? 'ccmp' : 'ccmn'} ${rz(bits(w, 9, 5), sf)}, ${isImm ? hex(rm) : rz(rm, sf)}, ${hex(w & 15)}, ${DIS_COND[cond]}`;
});

const condSelect = entry(0x3fe00000, 0x1a800000, (w) => {
  const sf = w >>> 31, op = bits(w, 30, 30), op2 = bits(w, 11, 10), rm = bits(w, 20, 16), cond = bits(w, 15, 12);
  const rn = bits(w, 9, 5), rd = w & 31;
  if (op2 > 1) return undefinedInsn;
  const m = mask(sf), kind = op * 2 + op2;
  return (c) => {
    if (conditionHolds(c, cond)) { c.setXr(rd, c.x[rn]! & m); return; }
    const v = c.x[rm]! & m;
    c.setXr(rd, kind === 0 ? v : kind === 1 ? (v + 1n) & m : kind === 2 ? ~v & m : -v & m);
  };
}, (w) => {
  const sf = w >>> 31, op = bits(w, 30, 30), op2 = bits(w, 11, 10), rm = bits(w, 20, 16), cond = bits(w, 15, 12);
  const rn = bits(w, 9, 5), rd = w & 31;
  if (op2 > 1) return 'undefined';
  const kind = op * 2 + op2, d = rz(rd, sf), n = rz(rn, sf), al = cond >= 14;
  if (!al && (kind === 1 || kind === 2) && rn === 31 && rm === 31) return `${kind === 1 ? 'cset' : 'csetm'} ${d}, ${invCond(cond)}`;
  if (!al && (kind === 1 || kind === 2) && rn === rm && rn !== 31) return `${kind === 1 ? 'cinc' : 'cinv'} ${d}, ${n}, ${invCond(cond)}`;
  if (!al && kind === 3 && rn === rm) return `cneg ${d}, ${n}, ${invCond(cond)}`;
  return `${['csel', 'csinc', 'csinv', 'csneg'][kind]} ${d}, ${n}, ${rz(rm, sf)}, ${DIS_COND[cond]}`;
});

const DP2_NAMES: Record<number, string> = { 2: 'udiv', 3: 'sdiv', 8: 'lsl', 9: 'lsr', 10: 'asr', 11: 'ror' };

const dp2 = entry(0x5fe00000, 0x1ac00000, (w) => {
  const sf = w >>> 31, s = bits(w, 29, 29), rm = bits(w, 20, 16), opcode = bits(w, 15, 10), rn = bits(w, 9, 5), rd = w & 31;
  if (s || DP2_NAMES[opcode] === undefined) return undefinedInsn;
  const m = mask(sf), width = sf ? 64 : 32, f = sf === 1;
  if (opcode === 2) return (c) => { const d = c.x[rm]! & m; c.setXr(rd, d === 0n ? 0n : (c.x[rn]! & m) / d); };
  if (opcode === 3) {
    return (c) => {
      const d = BigInt.asIntN(width, c.x[rm]!);
      c.setXr(rd, d === 0n ? 0n : BigInt.asIntN(width, c.x[rn]!) / d & m);
    };
  }
  const type = opcode - 8;
  return (c) => c.setXr(rd, shiftReg(c.x[rn]! & m, type, Number(c.x[rm]! % BigInt(width)), f));
}, (w) => {
  const sf = w >>> 31, rm = bits(w, 20, 16), opcode = bits(w, 15, 10), rn = bits(w, 9, 5), rd = w & 31;
  const mn = bits(w, 29, 29) ? undefined : DP2_NAMES[opcode];
  return mn === undefined ? 'undefined' : `${mn} ${rz(rd, sf)}, ${rz(rn, sf)}, ${rz(rm, sf)}`;
});

const dp1 = entry(0x5fe00000, 0x5ac00000, (w) => {
  const sf = w >>> 31, opcode = bits(w, 15, 10), rn = bits(w, 9, 5), rd = w & 31;
  if (bits(w, 29, 29) || bits(w, 20, 16) || opcode > 5 || (!sf && opcode === 3)) return undefinedInsn;
  const m = mask(sf), width = sf ? 64 : 32;
  switch (opcode) {
    case 0: return (c) => c.setXr(rd, reverseBits(c.x[rn]! & m, width));
    case 1: return (c) => c.setXr(rd, reverseBytes(c.x[rn]! & m, width, 2));
    case 2: return (c) => c.setXr(rd, reverseBytes(c.x[rn]! & m, width, 4));
    case 3: return (c) => c.setXr(rd, reverseBytes(c.x[rn]!, 64, 8));
    case 4: return (c) => c.setXr(rd, BigInt(clz(c.x[rn]! & m, width)));
    default: {
      const low = (1n << BigInt(width - 1)) - 1n;
      return (c) => { const v = c.x[rn]! & m; c.setXr(rd, BigInt(clz(((v >> 1n) ^ v) & low, width - 1))); };
    }
  }
}, (w) => {
  const sf = w >>> 31, opcode = bits(w, 15, 10);
  if (bits(w, 29, 29) || bits(w, 20, 16) || opcode > 5 || (!sf && opcode === 3)) return 'undefined';
  const mn = ['rbit', 'rev16', sf ? 'rev32' : 'rev', 'rev', 'clz', 'cls'][opcode];
  return `${mn} ${rz(w & 31, sf)}, ${rz(bits(w, 9, 5), sf)}`;
});

const dp3 = entry(0x1f000000, 0x1b000000, (w) => {
  const sf = w >>> 31, op54 = bits(w, 30, 29), op31 = bits(w, 23, 21), rm = bits(w, 20, 16), o0 = bits(w, 15, 15);
  const ra = bits(w, 14, 10), rn = bits(w, 9, 5), rd = w & 31;
  if (op54 !== 0) return undefinedInsn;
  const m = mask(sf);
  if (op31 === 0) {
    return o0
      ? (c) => c.setXr(rd, (c.x[ra]! - (c.x[rn]! * c.x[rm]!)) & m)
      : (c) => c.setXr(rd, (c.x[ra]! + (c.x[rn]! * c.x[rm]!)) & m);
  }
  if (!sf) return undefinedInsn;
  if (op31 === 1 || op31 === 5) {
    const ext = op31 === 1 ? (v: bigint): bigint => BigInt.asIntN(32, v) : (v: bigint): bigint => v & M32;
    return (c) => {
      const p = ext(c.x[rn]!) * ext(c.x[rm]!);
      c.setXr(rd, (o0 ? c.x[ra]! - p : c.x[ra]! + p) & M64);
    };
  }
  if (o0 === 0 && op31 === 2) return (c) => c.setXr(rd, ((BigInt.asIntN(64, c.x[rn]!) * BigInt.asIntN(64, c.x[rm]!)) >> 64n) & M64);
  if (o0 === 0 && op31 === 6) return (c) => c.setXr(rd, (c.x[rn]! * c.x[rm]!) >> 64n);
  return undefinedInsn;
}, (w) => {
  const sf = w >>> 31, op31 = bits(w, 23, 21), rm = bits(w, 20, 16), o0 = bits(w, 15, 15);
  const ra = bits(w, 14, 10), rn = bits(w, 9, 5), rd = w & 31;
  if (op31 === 0) {
    if (ra === 31) return `${o0 ? 'mneg' : 'mul'} ${rz(rd, sf)}, ${rz(rn, sf)}, ${rz(rm, sf)}`;
    return `${o0 ? 'msub' : 'madd'} ${rz(rd, sf)}, ${rz(rn, sf)}, ${rz(rm, sf)}, ${rz(ra, sf)}`;
  }
  if (op31 === 1 || op31 === 5) {
    const u = op31 === 5 ? 'u' : 's';
    if (ra === 31) return `${u}${o0 ? 'mnegl' : 'mull'} ${rz(rd, 1)}, ${rz(rn, 0)}, ${rz(rm, 0)}`;
    return `${u}${o0 ? 'msubl' : 'maddl'} ${rz(rd, 1)}, ${rz(rn, 0)}, ${rz(rm, 0)}, ${rz(ra, 1)}`;
  }
  if (op31 === 2 || op31 === 6) return `${op31 === 2 ? 's' : 'u'}mulh ${rz(rd, 1)}, ${rz(rn, 1)}, ${rz(rm, 1)}`;
  return 'undefined';
});

export const DATA_PROCESSING: Entry[] = [
  adr, addSubImm, logicImm, moveWide, bitfield, extr,
  logicReg, addSubShifted, addSubExtended, adcSbc, condCompare, condSelect, dp2, dp1, dp3,
];
