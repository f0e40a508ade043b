// Branches, exception generation and system instructions (ARM ARM C4.1.3): hints, barriers,
// PSTATE immediates, cache/TLB maintenance as no-ops (no TLB), MRS/MSR.

import { M64, conditionHolds } from './alu.js';
import type { A64Cpu } from './cpu.js';
import { DIS_COND, addr, bits, entry, hex, rz, sext, undefinedInsn, unsupported, type Entry, type Exec } from './entry.js';
import { A64Fault, A64Unsupported, CTR_EL0, EC, MIDR_EL1, MPIDR_EL1, SR } from './types.js';

const WFI = { kind: 'wfi' } as const;
/** ESR ISS of a trapped FP/SIMD access from AArch64 (CV=1, COND=0xe, as QEMU reports it). */
const FP_ISS = 0x1e0_0000;

/** CPACR_EL1.FPEN: 0b11 no trap, 0b01 traps EL0 only, 0b00/0b10 trap both. */
export function fpTrapped(c: A64Cpu): boolean {
  const fpen = Number((c.sys[SR.CPACR]! >> 20n) & 3n);
  return fpen === 3 ? false : fpen === 1 ? c.el === 0 : true;
}

export const fpAccess: Exec = (c) => {
  if (fpTrapped(c)) throw new A64Fault(EC.FP_ACCESS, FP_ISS);
  throw new A64Unsupported('FP/SIMD instruction (CPACR_EL1.FPEN enables it)');
};

const branchImm = entry(0x7c000000, 0x14000000, (w) => {
  const off = BigInt(sext(w & 0x3ffffff, 26) * 4);
  if (w >>> 31) return (c) => { c.x[30] = c.cur + 4n & M64; c.next = (c.cur + off) & M64; };
  return (c) => { c.next = (c.cur + off) & M64; };
}, (w, pc) => `${w >>> 31 ? 'bl' : 'b'} ${addr(pc + BigInt(sext(w & 0x3ffffff, 26) * 4))}`);

const branchCond = entry(0xff000010, 0x54000000, (w) => {
  const off = BigInt(sext(bits(w, 23, 5), 19) * 4), cond = w & 15;
  return (c) => { if (conditionHolds(c, cond)) c.next = (c.cur + off) & M64; };
}, (w, pc) => `b.${DIS_COND[w & 15]} ${addr(pc + BigInt(sext(bits(w, 23, 5), 19) * 4))}`);

const compareBranch = entry(0x7e000000, 0x34000000, (w) => {
  const sf = w >>> 31, nz = bits(w, 24, 24), rt = w & 31, off = BigInt(sext(bits(w, 23, 5), 19) * 4);
  const m = sf ? M64 : 0xffff_ffffn;
  return (c) => { if (((c.x[rt]! & m) !== 0n) === (nz === 1)) c.next = (c.cur + off) & M64; };
}, (w, pc) => `${bits(w, 24, 24) ? 'cbnz' : 'cbz'} ${rz(w & 31, w >>> 31)}, ${addr(pc + BigInt(sext(bits(w, 23, 5), 19) * 4))}`);

const testBranch = entry(0x7e000000, 0x36000000, (w) => {
  const bit = BigInt(((w >>> 31) << 5) | bits(w, 23, 19)), nz = bits(w, 24, 24), rt = w & 31;
  const off = BigInt(sext(bits(w, 18, 5), 14) * 4);
  return (c) => { if (((c.x[rt]! >> bit) & 1n) === BigInt(nz)) c.next = (c.cur + off) & M64; };
}, (w, pc) => {
  const bit = ((w >>> 31) << 5) | bits(w, 23, 19);
  return `${bits(w, 24, 24) ? 'tbnz' : 'tbz'} ${rz(w & 31, w >>> 31)}, #${bit}, ${addr(pc + BigInt(sext(bits(w, 18, 5), 14) * 4))}`;
});

const branchReg = entry(0xff9ffc1f, 0xd61f0000, (w) => {
  const opc = bits(w, 22, 21), rn = bits(w, 9, 5);
  if (opc === 3) return undefinedInsn;
  if (opc === 1) return (c) => { const t = c.x[rn]!; c.x[30] = (c.cur + 4n) & M64; c.next = t; };
  return (c) => { c.next = c.x[rn]!; };
}, (w) => {
  const opc = bits(w, 22, 21), rn = bits(w, 9, 5);
  if (opc === 2) return rn === 30 ? 'ret' : `ret ${rz(rn, 1)}`;
  return opc === 3 ? 'undefined' : `${opc === 1 ? 'blr' : 'br'} ${rz(rn, 1)}`;
});

const eret = entry(0xffffffff, 0xd69f03e0, () => (c) => c.exceptionReturn(), () => 'eret');

const exceptionGen = entry(0xff000000, 0xd4000000, (w) => {
  const opc = bits(w, 23, 21), imm = bits(w, 20, 5), ll = w & 3, op2 = bits(w, 4, 2);
  if (op2 !== 0) return undefinedInsn;
  if (opc === 0 && ll === 1) return () => { throw new A64Fault(EC.SVC, imm, null, true); };
  if (opc === 0 && (ll === 2 || ll === 3)) {
    const stop = ll === 2 ? { kind: 'hvc' as const, imm } : { kind: 'smc' as const, imm };
    return (c) => { if (c.el === 0) throw new A64Fault(EC.UNKNOWN, 0); c.stopOut = stop; };
  }
  if (opc === 1 && ll === 0) return () => { throw new A64Fault(EC.BRK, imm); };
  return undefinedInsn; // HLT (halting debug off), DCPS
}, (w) => {
  const opc = bits(w, 23, 21), imm = bits(w, 20, 5), ll = w & 3;
  const mn = opc === 0 ? ['', 'svc', 'hvc', 'smc'][ll] : opc === 1 && ll === 0 ? 'brk' : opc === 2 && ll === 0 ? 'hlt' : '';
  return mn ? `${mn} ${hex(imm)}` : 'undefined';
});

const udf = entry(0xffff0000, 0x00000000, () => undefinedInsn, (w) => `udf #${w & 0xffff}`);

// ------------------------------------------------------------------ system registers

const key = (op0: number, op1: number, crn: number, crm: number, op2: number): number =>
  (op0 << 14) | (op1 << 11) | (crn << 7) | (crm << 3) | op2;

interface SysReg { name: string; el0?: boolean; read: (c: A64Cpu) => bigint; write?: (c: A64Cpu, v: bigint) => void }

const SYSREGS = new Map<number, SysReg>();
const STATE_REGS: [string, number, [number, number, number, number, number]][] = [
  ['elr_el1', SR.ELR, [3, 0, 4, 0, 1]], ['spsr_el1', SR.SPSR, [3, 0, 4, 0, 0]], ['sctlr_el1', SR.SCTLR, [3, 0, 1, 0, 0]],
  ['tcr_el1', SR.TCR, [3, 0, 2, 0, 2]], ['ttbr0_el1', SR.TTBR0, [3, 0, 2, 0, 0]], ['ttbr1_el1', SR.TTBR1, [3, 0, 2, 0, 1]],
  ['mair_el1', SR.MAIR, [3, 0, 10, 2, 0]], ['vbar_el1', SR.VBAR, [3, 0, 12, 0, 0]], ['esr_el1', SR.ESR, [3, 0, 5, 2, 0]],
  ['far_el1', SR.FAR, [3, 0, 6, 0, 0]], ['cpacr_el1', SR.CPACR, [3, 0, 1, 0, 2]], ['tpidr_el1', SR.TPIDR1, [3, 0, 13, 0, 4]],
  ['tpidr_el0', SR.TPIDR0, [3, 3, 13, 0, 2]],
];
for (const [name, i, e] of STATE_REGS) {
  SYSREGS.set(key(...e), {
    name, el0: i === SR.TPIDR0, read: (c) => c.sys[i]!,
    // VBAR_EL1 bits 10:0 are RES0: the hardware register drops them
    write: (c, v) => c.writeSys(i, i === SR.VBAR ? v & ~0x7ffn : v),
  });
}
SYSREGS.set(key(3, 3, 4, 2, 0), {
  name: 'nzcv', el0: true, read: (c) => BigInt((c.nf << 31) | (c.zf << 30) | (c.cf << 29) | (c.vf << 28)) & 0xffff_ffffn,
  write: (c, v) => { const n = Number(v >> 28n) & 15; c.nf = n >> 3; c.zf = (n >> 2) & 1; c.cf = (n >> 1) & 1; c.vf = n & 1; },
});
SYSREGS.set(key(3, 3, 4, 2, 1), { name: 'daif', read: (c) => BigInt(c.daif << 6), write: (c, v) => { c.daif = Number(v >> 6n) & 15; } });
SYSREGS.set(key(3, 0, 4, 2, 2), { name: 'currentel', read: (c) => BigInt(c.el << 2) });
SYSREGS.set(key(3, 0, 4, 2, 0), { name: 'spsel', read: (c) => BigInt(c.spsel), write: (c, v) => { c.spsel = Number(v & 1n); } });
SYSREGS.set(key(3, 0, 4, 1, 0), {
  name: 'sp_el0',
  read: (c) => { if (c.spsel === 0) throw new A64Fault(EC.UNKNOWN, 0); return c.sps[0]!; },
  write: (c, v) => { if (c.spsel === 0) throw new A64Fault(EC.UNKNOWN, 0); c.sps[0] = v; },
});
SYSREGS.set(key(3, 0, 0, 0, 0), { name: 'midr_el1', read: () => MIDR_EL1 });
SYSREGS.set(key(3, 0, 0, 0, 5), { name: 'mpidr_el1', read: () => MPIDR_EL1 });
SYSREGS.set(key(3, 3, 0, 0, 1), { name: 'ctr_el0', el0: true, read: () => CTR_EL0 });
const FP_REGS = new Map([[key(3, 3, 4, 4, 0), 'fpcr'], [key(3, 3, 4, 4, 1), 'fpsr']]);

const sysName = (op0: number, op1: number, crn: number, crm: number, op2: number): string => {
  const k = key(op0, op1, crn, crm, op2);
  return SYSREGS.get(k)?.name ?? FP_REGS.get(k) ?? `s${op0}_${op1}_c${crn}_c${crm}_${op2}`;
};

const BARRIER_OPTS: Record<number, string> = {
  15: 'sy', 14: 'st', 13: 'ld', 11: 'ish', 10: 'ishst', 9: 'ishld', 7: 'nsh', 6: 'nshst', 5: 'nshld', 3: 'osh', 2: 'oshst', 1: 'oshld',
};
const HINTS = ['nop', 'yield', 'wfe', 'wfi', 'sev', 'sevl'];
const SYS_OPS: Record<number, string> = {
  [key(1, 0, 8, 7, 0)]: 'tlbi vmalle1', [key(1, 0, 8, 3, 0)]: 'tlbi vmalle1is', [key(1, 0, 8, 7, 1)]: 'tlbi vae1',
  [key(1, 0, 8, 3, 1)]: 'tlbi vae1is', [key(1, 0, 8, 7, 2)]: 'tlbi aside1', [key(1, 0, 8, 3, 2)]: 'tlbi aside1is',
  [key(1, 0, 8, 7, 3)]: 'tlbi vaae1', [key(1, 0, 8, 3, 3)]: 'tlbi vaae1is', [key(1, 0, 8, 7, 5)]: 'tlbi vale1',
  [key(1, 0, 8, 3, 5)]: 'tlbi vale1is', [key(1, 0, 8, 7, 7)]: 'tlbi vaale1', [key(1, 0, 8, 3, 7)]: 'tlbi vaale1is',
  [key(1, 0, 7, 5, 0)]: 'ic iallu', [key(1, 0, 7, 1, 0)]: 'ic ialluis', [key(1, 3, 7, 5, 1)]: 'ic ivau',
  [key(1, 0, 7, 6, 1)]: 'dc ivac', [key(1, 0, 7, 6, 2)]: 'dc isw', [key(1, 3, 7, 10, 1)]: 'dc cvac', [key(1, 0, 7, 10, 2)]: 'dc csw',
  [key(1, 3, 7, 11, 1)]: 'dc cvau', [key(1, 3, 7, 14, 1)]: 'dc civac', [key(1, 0, 7, 14, 2)]: 'dc cisw', [key(1, 3, 7, 4, 1)]: 'dc zva',
};

const system = entry(0xffc00000, 0xd5000000, (w) => {
  const l = bits(w, 21, 21), op0 = bits(w, 20, 19), op1 = bits(w, 18, 16), crn = bits(w, 15, 12), crm = bits(w, 11, 8);
  const op2 = bits(w, 7, 5), rt = w & 31;
  if (op0 === 0) {
    if (l || rt !== 31) return unsupported('system instruction');
    if (crn === 2 && op1 === 3) {
      const hint = (crm << 3) | op2;
      return hint === 2 || hint === 3 ? (c) => { c.stopOut = WFI; } : () => {};
    }
    if (crn === 3 && op1 === 3) return op2 === 2 ? (c) => { c.exclusive = false; } : () => {};
    if (crn === 4) {
      if (op1 === 0 && op2 === 5) return (c) => { if (c.el === 0) throw new A64Fault(EC.UNKNOWN, 0); c.spsel = crm & 1; };
      if (op1 === 3 && (op2 === 6 || op2 === 7)) {
        return (c) => {
          if (c.el === 0) throw new A64Unsupported('MSR DAIFSet/DAIFClr at EL0');
          c.daif = op2 === 6 ? c.daif | crm : c.daif & ~crm;
        };
      }
    }
    return unsupported('PSTATE field');
  }
  if (op0 === 1) {
    const name = SYS_OPS[key(1, op1, crn, crm, op2)];
    if (l || name === undefined || name === 'dc zva') return unsupported(name ?? 'SYS instruction');
    return (c) => { if (c.el === 0 && name.startsWith('tlbi')) throw new A64Fault(EC.UNKNOWN, 0); };
  }
  const k = key(op0, op1, crn, crm, op2);
  if (FP_REGS.has(k)) return fpAccess;
  const reg = SYSREGS.get(k);
  if (reg === undefined) return unsupported(`system register ${sysName(op0, op1, crn, crm, op2)}`);
  const write = reg.write;
  if (l) return (c) => { if (c.el === 0 && !reg.el0) throw new A64Fault(EC.UNKNOWN, 0); c.setXr(rt, reg.read(c)); };
  if (write === undefined) return undefinedInsn;
  return (c) => {
    if (c.el === 0 && !reg.el0) throw new A64Fault(EC.UNKNOWN, 0);
    write(c, c.x[rt]!);
  };
}, (w) => {
  const l = bits(w, 21, 21), op0 = bits(w, 20, 19), op1 = bits(w, 18, 16), crn = bits(w, 15, 12), crm = bits(w, 11, 8);
  const op2 = bits(w, 7, 5), rt = w & 31;
  if (op0 === 0 && crn === 2 && op1 === 3) { const h = (crm << 3) | op2; return HINTS[h] ?? `hint ${hex(h)}`; }
  if (op0 === 0 && crn === 3 && op1 === 3) {
    if (op2 === 2) return crm === 15 ? 'clrex' : `clrex #${crm}`;
    if (op2 === 6) return crm === 15 ? 'isb' : `isb #${crm}`;
    return `${op2 === 4 ? 'dsb' : op2 === 5 ? 'dmb' : 'barrier'} ${BARRIER_OPTS[crm] ?? `#0x${crm.toString(16)}`}`;
  }
  if (op0 === 0 && crn === 4) {
    const f = op1 === 0 && op2 === 5 ? 'spsel' : op1 === 3 && op2 === 6 ? 'daifset' : op1 === 3 && op2 === 7 ? 'daifclr' : `s0_${op1}_c4_c${crm}_${op2}`;
    return `msr ${f}, ${hex(crm)}`;
  }
  if (op0 === 1) {
    const name = SYS_OPS[key(1, op1, crn, crm, op2)];
    if (name === undefined) return `sys${l ? 'l' : ''} #${op1}, C${crn}, C${crm}, #${op2}, ${rz(rt, 1)}`;
    return rt === 31 && !/ va| ivau| [cd]?[ci]vac| zva| cvau|sw/.test(name.slice(name.indexOf(' '))) ? name : `${name}, ${rz(rt, 1)}`;
  }
  const name = sysName(op0, op1, crn, crm, op2);
  return l ? `mrs ${rz(rt, 1)}, ${name}` : `msr ${name}, ${rz(rt, 1)}`;
});

/** Every SIMD&FP encoding (data processing x111 and loads/stores with V=1). */
const fpSimd = entry(0x0c000000, 0x0c000000, () => fpAccess, (w) => `.inst 0x${(w >>> 0).toString(16).padStart(8, '0')}`);

export const CONTROL: Entry[] = [udf, branchImm, branchCond, compareBranch, testBranch, branchReg, eret, exceptionGen, system];
export const FP_SIMD: Entry[] = [fpSimd];
