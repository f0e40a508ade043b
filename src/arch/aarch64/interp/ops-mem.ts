// Loads and stores (ARM ARM C4.1.4): single registers in every addressing mode, pairs, literal,
// exclusives and load-acquire/store-release. The memory access comes before any register write,
// so an access that faults or stops for MMIO leaves the registers as they were.

import { M32, M64, extendReg } from './alu.js';
import type { A64Cpu } from './cpu.js';
import { EXTEND_NAMES, addr, bits, entry, rs, rz, sext, undefinedInsn, unsupported, type Entry, type Exec } from './entry.js';
import { A64Fault, EC, MEM_ALIGN, MEM_NOISV, SR } from './types.js';

/** SP used as a base register with SCTLR_EL1.SA (EL1) / SA0 (EL0) set must be 16-byte aligned. */
function base(c: A64Cpu, rn: number): bigint {
  if (rn !== 31) return c.x[rn]!;
  const sp = c.sp;
  if ((sp & 15n) !== 0n && ((c.sys[SR.SCTLR]! >> (c.el === 0 ? 4n : 3n)) & 1n) === 1n) throw new A64Fault(EC.SP_ALIGN, 0);
  return sp;
}

/** How a single-register load/store moves its data: size in bytes, load?, sign-extend to 32/64 bits. */
interface Access { size: number; load: boolean; signed: number }

/** size:opc of the single-register forms; null for prefetch, undefined for unallocated. */
function access(size: number, opc: number): Access | null | undefined {
  const bytes = 1 << size;
  if (opc === 0) return { size: bytes, load: false, signed: 0 };
  if (opc === 1) return { size: bytes, load: true, signed: 0 };
  if (opc === 2) return size === 3 ? null : { size: bytes, load: true, signed: 64 };
  return size < 2 ? { size: bytes, load: true, signed: 32 } : undefined;
}

function transfer(c: A64Cpu, a: Access, rt: number, va: bigint, flags: number): (() => void) {
  if (!a.load) {
    c.store(va, a.size, c.x[rt]!, flags);
    return noop;
  }
  let v = c.load(va, a.size, flags);
  if (a.signed) v = BigInt.asUintN(a.signed, BigInt.asIntN(a.size * 8, v));
  return () => c.setXr(rt, v);
}
const noop = (): void => {};

/** Build a single-register executor from an address function and an optional writeback. */
function single(a: Access, rt: number, rn: number, offset: (c: A64Cpu) => bigint, mode: 'offset' | 'pre' | 'post'): Exec {
  const flags = mode === 'offset' ? 0 : MEM_NOISV;
  if (mode === 'offset') return (c) => transfer(c, a, rt, (base(c, rn) + offset(c)) & M64, flags)();
  return (c) => {
    const b = base(c, rn);
    const moved = (b + offset(c)) & M64;
    const commit = transfer(c, a, rt, mode === 'pre' ? moved : b, flags);
    c.setXsp(rn, moved);
    commit();
  };
}

function mnemonic(size: number, opc: number, prefix: string): string {
  const suffix = size === 0 ? 'b' : size === 1 ? 'h' : '';
  if (opc === 0) return `${prefix === 'ld' ? 'st' : prefix === 'ldu' ? 'stu' : 'stt'}r${suffix}`;
  if (opc === 1) return `${prefix}r${suffix}`;
  return `${prefix}rs${size === 2 ? 'w' : suffix}`;
}

const rtName = (size: number, opc: number, rt: number): string => rz(rt, size === 3 || (opc === 2 && size !== 3));

const PRF_TYPE = ['pld', 'pli', 'pst'];
function prfop(rt: number): string {
  const t = PRF_TYPE[rt >> 3];
  if (t === undefined || ((rt >> 1) & 3) === 3) return `#0x${rt.toString(16)}`;
  return `${t}l${((rt >> 1) & 3) + 1}${rt & 1 ? 'strm' : 'keep'}`;
}

const offsetText = (v: number): string => (v ? `, #${v}` : '');

const unsignedOffset = entry(0x3b000000, 0x39000000, (w) => {
  const size = bits(w, 31, 30), v = bits(w, 26, 26), opc = bits(w, 23, 22), rn = bits(w, 9, 5), rt = w & 31;
  if (v) return undefinedInsn; // SIMD&FP forms are claimed earlier in the table
  const a = access(size, opc);
  if (a === undefined) return undefinedInsn;
  if (a === null) return noop;
  const off = BigInt(bits(w, 21, 10) << size);
  return single(a, rt, rn, () => off, 'offset');
}, (w) => {
  const size = bits(w, 31, 30), opc = bits(w, 23, 22), rn = bits(w, 9, 5), rt = w & 31;
  const mem = `[${rs(rn, 1)}${offsetText(bits(w, 21, 10) << size)}]`;
  if (size === 3 && opc === 2) return `prfm ${prfop(rt)}, ${mem}`;
  if (access(size, opc) === undefined) return 'undefined';
  return `${mnemonic(size, opc, 'ld')} ${rtName(size, opc, rt)}, ${mem}`;
});

const immediateForms = entry(0x3b200000, 0x38000000, (w) => {
  const size = bits(w, 31, 30), opc = bits(w, 23, 22), form = bits(w, 11, 10), rn = bits(w, 9, 5), rt = w & 31;
  const a = access(size, opc);
  if (a === undefined) return undefinedInsn;
  if (form === 2) return unsupported('unprivileged load/store (LDTR/STTR)');
  if (a === null) return form === 0 ? noop : undefinedInsn;
  const off = BigInt(sext(bits(w, 20, 12), 9));
  return single(a, rt, rn, () => off, form === 0 ? 'offset' : form === 1 ? 'post' : 'pre');
}, (w) => {
  const size = bits(w, 31, 30), opc = bits(w, 23, 22), form = bits(w, 11, 10), rn = bits(w, 9, 5), rt = w & 31;
  const off = sext(bits(w, 20, 12), 9);
  if (size === 3 && opc === 2) return form === 0 ? `prfum ${prfop(rt)}, [${rs(rn, 1)}${offsetText(off)}]` : 'undefined';
  if (access(size, opc) === undefined) return 'undefined';
  const mn = mnemonic(size, opc, form === 0 ? 'ldu' : form === 2 ? 'ldt' : 'ld');
  const r = rtName(size, opc, rt);
  if (form === 1) return `${mn} ${r}, [${rs(rn, 1)}], #${off}`;
  if (form === 3) return `${mn} ${r}, [${rs(rn, 1)}, #${off}]!`;
  return `${mn} ${r}, [${rs(rn, 1)}${offsetText(off)}]`;
});

const registerOffset = entry(0x3b200c00, 0x38200800, (w) => {
  const size = bits(w, 31, 30), opc = bits(w, 23, 22), rm = bits(w, 20, 16), option = bits(w, 15, 13);
  const shift = bits(w, 12, 12) ? size : 0, rn = bits(w, 9, 5), rt = w & 31;
  const a = access(size, opc);
  if (a === undefined || (option & 2) === 0) return undefinedInsn;
  if (a === null) return noop;
  return single(a, rt, rn, (c) => extendReg(c.x[rm]!, option, shift, true), 'offset');
}, (w) => {
  const size = bits(w, 31, 30), opc = bits(w, 23, 22), rm = bits(w, 20, 16), option = bits(w, 15, 13);
  const s = bits(w, 12, 12), rn = bits(w, 9, 5), rt = w & 31;
  if ((option & 2) === 0) return 'undefined';
  const ext = option === 3 ? (s ? `, lsl #${size}` : '') : `, ${EXTEND_NAMES[option]}${s ? ` #${size}` : ''}`;
  const mem = `[${rs(rn, 1)}, ${rz(rm, (option & 1) === 1)}${ext}]`;
  if (size === 3 && opc === 2) return `prfm ${prfop(rt)}, ${mem}`;
  if (access(size, opc) === undefined) return 'undefined';
  return `${mnemonic(size, opc, 'ld')} ${rtName(size, opc, rt)}, ${mem}`;
});

const literal = entry(0x3b000000, 0x18000000, (w) => {
  const opc = bits(w, 31, 30), rt = w & 31;
  const off = BigInt(sext(bits(w, 23, 5), 19) * 4);
  if (opc === 3) return noop;
  const size = opc === 0 ? 4 : opc === 1 ? 8 : 4;
  return (c) => {
    let v = c.load((c.cur + off) & M64, size, 0);
    if (opc === 2) v = BigInt.asUintN(64, BigInt.asIntN(32, v));
    c.setXr(rt, v);
  };
}, (w, pc) => {
  const opc = bits(w, 31, 30), rt = w & 31;
  const target = addr(pc + BigInt(sext(bits(w, 23, 5), 19) * 4));
  if (opc === 3) return `prfm ${prfop(rt)}, ${target}`;
  return `${opc === 2 ? 'ldrsw' : 'ldr'} ${rz(rt, opc !== 0)}, ${target}`;
});

const pair = entry(0x3a000000, 0x28000000, (w) => {
  const opc = bits(w, 31, 30), load = bits(w, 22, 22) === 1, form = bits(w, 24, 23), rt2 = bits(w, 14, 10);
  const rn = bits(w, 9, 5), rt = w & 31;
  if (opc === 3 || (opc === 1 && !load)) return undefinedInsn;
  const size = opc === 2 ? 8 : 4;
  const off = BigInt(sext(bits(w, 21, 15), 7) * size);
  const wb = form === 1 || form === 3;
  const signed = opc === 1;
  return (c) => {
    const b = base(c, rn);
    const moved = (b + off) & M64;
    const va = form === 1 ? b : moved;
    const va2 = (va + BigInt(size)) & M64;
    if (load) {
      let v1 = c.load(va, size, MEM_NOISV);
      let v2 = c.load(va2, size, MEM_NOISV);
      if (signed) { v1 = BigInt.asUintN(64, BigInt.asIntN(32, v1)); v2 = BigInt.asUintN(64, BigInt.asIntN(32, v2)); }
      if (wb) c.setXsp(rn, moved);
      c.setXr(rt, v1);
      c.setXr(rt2, v2);
    } else {
      const mask = size === 8 ? M64 : M32;
      c.store(va, size, c.x[rt]! & mask, MEM_NOISV);
      c.store(va2, size, c.x[rt2]! & mask, MEM_NOISV);
      if (wb) c.setXsp(rn, moved);
    }
  };
}, (w) => {
  const opc = bits(w, 31, 30), load = bits(w, 22, 22), form = bits(w, 24, 23), rt2 = bits(w, 14, 10);
  const rn = bits(w, 9, 5), rt = w & 31;
  if (opc === 3 || (opc === 1 && !load)) return 'undefined';
  const off = sext(bits(w, 21, 15), 7) * (opc === 2 ? 8 : 4);
  const mn = `${load ? 'ld' : 'st'}${form === 0 ? 'n' : ''}p${opc === 1 ? 'sw' : ''}`;
  const regs = `${rz(rt, opc !== 0)}, ${rz(rt2, opc !== 0)}`;
  if (form === 1) return `${mn} ${regs}, [${rs(rn, 1)}], #${off}`;
  if (form === 3) return `${mn} ${regs}, [${rs(rn, 1)}, #${off}]!`;
  return `${mn} ${regs}, [${rs(rn, 1)}${offsetText(off)}]`;
});

const exclusive = entry(0x3f000000, 0x08000000, (w) => {
  const size = 1 << bits(w, 31, 30), o2 = bits(w, 23, 23), load = bits(w, 22, 22) === 1, o1 = bits(w, 21, 21);
  const rs = bits(w, 20, 16), o0 = bits(w, 15, 15), rn = bits(w, 9, 5), rt = w & 31;
  if (o1) return unsupported('exclusive pair / compare-and-swap');
  if (o2 && !o0) return unsupported('LDLAR/STLLR (FEAT_LOR)');
  const mask = size === 8 ? M64 : (1n << BigInt(size * 8)) - 1n;
  if (o2) {
    if (load) return (c) => { const v = c.load(base(c, rn), size, MEM_ALIGN); c.setXr(rt, v); };
    return (c) => c.store(base(c, rn), size, c.x[rt]! & mask, MEM_ALIGN);
  }
  const flags = MEM_ALIGN | MEM_NOISV;
  if (load) return (c) => { const v = c.load(base(c, rn), size, flags); c.exclusive = true; c.setXr(rt, v); };
  return (c) => {
    const va = base(c, rn);
    if (c.exclusive) c.store(va, size, c.x[rt]! & mask, flags);
    c.setXr(rs, c.exclusive ? 0n : 1n);
    c.exclusive = false;
  };
}, (w) => {
  const sz = bits(w, 31, 30), o2 = bits(w, 23, 23), load = bits(w, 22, 22), o1 = bits(w, 21, 21);
  const rsn = bits(w, 20, 16), o0 = bits(w, 15, 15), rn = bits(w, 9, 5), rt = w & 31;
  const suffix = sz === 0 ? 'b' : sz === 1 ? 'h' : '';
  const t = rz(rt, sz === 3), mem = `[${rs(rn, 1)}]`;
  if (o1 || (o2 && !o0)) return `.inst 0x${(w >>> 0).toString(16).padStart(8, '0')}`;
  if (o2) return `${load ? 'ldar' : 'stlr'}${suffix} ${t}, ${mem}`;
  if (load) return `ld${o0 ? 'a' : ''}xr${suffix} ${t}, ${mem}`;
  return `st${o0 ? 'l' : ''}xr${suffix} ${rz(rsn, 0)}, ${t}, ${mem}`;
});

export const LOADS_STORES: Entry[] = [exclusive, literal, pair, unsignedOffset, registerOffset, immediateForms];
