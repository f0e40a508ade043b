// Interrupt and exception delivery (real mode: IVT; protected mode: IDT with 8-byte gates;
// long mode: IDT with 16-byte gates, IST) and IRET/IRETD/IRETQ.
//
// Delivery reads and checks everything first (gate, target code segment, new stack), then
// writes the frame, and only then commits CS/SS/RSP/RFLAGS/CPL, so a fault during delivery
// leaves the registers as they were (Machine.deliverException escalates it to #DF / triple
// fault). Task gates and virtual-8086 mode are reported unsupported.

import {
  AC, ACC_SWRITE, ACC_WRITE, ARITH, CANON, CS, DF, STOP_EXTEND, FLAGS_FIXED1, I_ESP, I_SP, ID, IF, IOPL, NT, RF, SS, TF, TWO32, TWO48, VEC_GP, VEC_NP,
  VEC_SS, VIF, VIP, VM,
} from './constants.js';
import type { Machine } from './machine.js';
import {
  checkReturnCS, checkReturnSS, checkTssSS, nullInaccessible, readDescriptor, setNullSS64, setSegCache,
  tableLinear, tssStack, tssStack64, type Desc,
} from './segments.js';

/** external interrupt (and INT1): EXT = 1 in error codes, no gate-DPL check */
export const EV_EXT = 0;
/** processor exception: EXT = 1, may push an error code */
export const EV_EXC = 1;
/** INT n, INT3, INTO: EXT = 0, gate DPL must be >= CPL */
export const EV_SOFT = 2;

/**
 * Deliver `vector` with the current RIP as return address (the caller has set RIP to the
 * faulting instruction for faults, or left it at the next one for traps and INT n).
 */
export function deliverEvent(m: Machine, vector: number, ev: number, code: number, hasCode: boolean): void {
  if (!m.pe) deliverReal(m, vector);
  else if ((m.fl.bits & VM) !== 0) m.unsupported('interrupt in virtual-8086 mode');
  else if (m.lma) deliverLong(m, vector, ev, code, hasCode);
  else deliverProtected(m, vector, ev, code, hasCode);
}

/**
 * Real-mode delivery through the IVT: push FLAGS, CS, IP (16-bit), clear IF, TF and AC, jump
 * to the vector. #GP if the IVT entry is beyond the IDT limit, #SS if the pushes leave the
 * stack segment.
 */
function deliverReal(m: Machine, vector: number): void {
  const off = vector * 4;
  if (off + 3 > m.idtLimit) m.fault(VEC_GP);
  const lin = (m.idtBase + off) >>> 0;
  const ip = m.readLinear(lin, 2);
  const cs = m.readLinear(lin + 2, 2);
  const flags = m.fl.get();
  m.push(flags & 0xffff, 2);
  m.push(m.sel[CS]!, 2);
  m.push(m.eip & 0xffff, 2);
  m.fl.bits &= ~(IF | TF | AC);
  m.sregsWritten = true;
  m.sel[CS] = cs;
  m.segBase[CS] = cs * 16;
  m.segBaseHi[CS] = 0;
  m.eip = ip;
  m.csLoaded();
}

/** Read an IDT gate: the two (four in long mode) dwords, with the IDT limit check. */
function readGate(m: Machine, vector: number, size: number, idtErr: number): number[] {
  if (vector * size + size - 1 > m.idtLimit) m.fault(VEC_GP, idtErr);
  const out: number[] = [];
  for (let k = 0; k < size / 4; k++) out.push(m.readLinear(tableLinear(m, m.idtBase, m.idtBaseHi, vector * size + k * 4), 4));
  return out;
}

/** The code segment an interrupt gate points to. */
function gateTarget(m: Machine, sel: number, ext: number): Desc {
  const err = (sel & 0xfffc) | ext;
  if ((sel & 0xfffc) === 0) m.fault(VEC_GP, ext);
  const d = readDescriptor(m, sel, VEC_GP, ext);
  if (!d.s || (d.type & 8) === 0 || d.dpl > m.cpl) m.fault(VEC_GP, err);
  if (m.lma && (!d.l || d.db)) m.fault(VEC_GP, err);
  if (!d.p) m.fault(VEC_NP, err);
  return d;
}

/** Flags after delivery: TF, NT, RF, VM cleared; IF too for interrupt gates. */
function handlerFlags(flags: number, intGate: boolean): number {
  return flags & ~(TF | NT | RF | VM | (intGate ? IF : 0));
}

function deliverProtected(m: Machine, vector: number, ev: number, code: number, hasCode: boolean): void {
  const ext = ev === EV_SOFT ? 0 : 1;
  const idtErr = (vector << 3) | 2 | ext;
  const [lo, hi] = readGate(m, vector, 8, idtErr) as [number, number];
  const type = (hi >>> 8) & 0x1f; // S bit and type
  if (type === 5) m.unsupported('interrupt through a task gate');
  if (type !== 6 && type !== 7 && type !== 0xe && type !== 0xf) m.fault(VEC_GP, idtErr);
  const gdpl = (hi >>> 13) & 3;
  if (ev === EV_SOFT && gdpl < m.cpl) m.fault(VEC_GP, idtErr);
  if ((hi & 0x8000) === 0) m.fault(VEC_NP, idtErr);
  const gate32 = (type & 8) !== 0;
  const intGate = (type & 1) === 0;
  const sel = lo >>> 16;
  let off = ((lo & 0xffff) | (hi & 0xffff0000)) >>> 0;
  if (!gate32) off &= 0xffff;
  const d = gateTarget(m, sel, ext);
  const newCpl = d.type & 4 ? m.cpl : d.dpl;
  if (off > d.limit) m.fault(VEC_GP, ext);
  const size = gate32 ? 4 : 2;
  const flags = m.fl.get();
  const items: number[] = [];
  let ssSel = m.sel[SS]!;
  let ssDesc: Desc | null = null;
  let sp: number;
  let ssBase: number;
  let ss32: boolean;
  if (newCpl < m.cpl) {
    const t = tssStack(m, newCpl, ext);
    ssDesc = checkTssSS(m, t.ss, newCpl, ext);
    ssSel = t.ss;
    sp = t.sp;
    ssBase = ssDesc.base;
    ss32 = ssDesc.db !== 0;
    items.push(m.sel[SS]!, m.r32[I_ESP]! >>> 0);
  } else {
    sp = m.stack32 ? m.r32[I_ESP]! >>> 0 : m.r16[I_SP]!;
    ssBase = m.segBase[SS]!;
    ss32 = m.stack32;
  }
  items.push(flags, m.sel[CS]!, m.eip);
  if (hasCode) items.push(code);
  // frame: items from the highest address down
  const total = items.length * size;
  const newSp = ss32 ? (sp - total) >>> 0 : (sp - total) & 0xffff;
  const limit = ssDesc ? ssDesc.limit : m.segLimit[SS]!;
  const expandDown = ssDesc ? (ssDesc.type & 4) !== 0 : (m.segAttr[SS]!.type & 4) !== 0;
  const lowOk = expandDown ? newSp > limit : newSp + total - 1 <= limit;
  if (!lowOk || (!ss32 && newSp + total > 0x10000 && !expandDown)) m.fault(VEC_SS, ssDesc ? (ssSel & 0xfffc) | ext : ext);
  const kind = newCpl < 3 ? ACC_SWRITE : ACC_WRITE;
  for (let k = 0; k < items.length; k++) {
    const at = ss32 ? (newSp + total - (k + 1) * size) >>> 0 : (newSp + total - (k + 1) * size) & 0xffff;
    m.writeLin((ssBase + at) >>> 0, size, items[k]! & (size === 2 ? 0xffff : 0xffffffff), kind);
  }
  // commit
  if (ssDesc) {
    setSegCache(m, SS, (ssSel & 0xfffc) | newCpl, ssDesc);
  }
  setSegCache(m, CS, (sel & 0xfffc) | newCpl, d);
  m.cpl = newCpl;
  m.fl.set(handlerFlags(flags, intGate));
  m.updateMode();
  if (m.stack32) m.r32[I_ESP] = newSp;
  else m.r16[I_SP] = newSp;
  m.eip = off;
  m.ripHi = 0;
}

function deliverLong(m: Machine, vector: number, ev: number, code: number, hasCode: boolean): void {
  const ext = ev === EV_SOFT ? 0 : 1;
  const idtErr = (vector << 3) | 2 | ext;
  const g = readGate(m, vector, 16, idtErr);
  const lo = g[0]!, hi = g[1]!, offHi = g[2]! | 0;
  const type = (hi >>> 8) & 0x1f;
  if (type !== 0xe && type !== 0xf) m.fault(VEC_GP, idtErr);
  const gdpl = (hi >>> 13) & 3;
  if (ev === EV_SOFT && gdpl < m.cpl) m.fault(VEC_GP, idtErr);
  if ((hi & 0x8000) === 0) m.fault(VEC_NP, idtErr);
  const intGate = type === 0xe;
  const ist = hi & 7;
  const sel = lo >>> 16;
  const off = ((lo & 0xffff) | (hi & 0xffff0000)) >>> 0;
  const d = gateTarget(m, sel, ext);
  const newCpl = d.type & 4 ? m.cpl : d.dpl;
  if (offHi >> 15 !== 0 && offHi >> 15 !== -1) m.fault(VEC_GP, ext);
  const flags = m.fl.get();
  const cpl = m.cpl;
  let rsp: number; // signed double
  if (newCpl < cpl || ist !== 0) {
    const t = tssStack64(m, newCpl, ist, ext);
    rsp = t.hi * TWO32 + (t.lo >>> 0);
  } else {
    rsp = m.reg64(4);
  }
  rsp -= ((rsp % 16) + 16) % 16; // aligned to 16 bytes
  // SS, RSP, RFLAGS, CS, RIP, [error code]: 8 bytes each
  const items: Array<[number, number]> = [
    [m.sel[SS]!, 0], [m.r32[I_ESP]! >>> 0, m.r32[I_ESP + 1]!], [flags, m.flagsHi], [m.sel[CS]!, 0], [m.eip, m.ripHi],
  ];
  if (hasCode) items.push([code >>> 0, 0]);
  const newRsp = rsp - items.length * 8;
  if (newRsp < -CANON || rsp > CANON) m.fault(VEC_SS, ext);
  const kind = newCpl < 3 ? ACC_SWRITE : ACC_WRITE;
  for (let k = 0; k < items.length; k++) {
    const a = rsp - (k + 1) * 8;
    m.writeLinQ(a < 0 ? a + TWO48 : a, items[k]![0], items[k]![1], kind);
  }
  // commit
  if (newCpl < cpl) setNullSS64(m, newCpl, newCpl);
  setSegCache(m, CS, (sel & 0xfffc) | newCpl, d);
  m.cpl = newCpl;
  m.fl.set(handlerFlags(flags, intGate));
  m.updateMode();
  m.setReg64(4, newRsp);
  m.eip = off;
  m.ripHi = offHi;
}

// ------------------------------------------------------------------ IRET

/** Flags IRET may load in real mode (VM, VIF, VIP keep their values). */
const IRET_REAL = ARITH | TF | IF | DF | IOPL | NT | RF | AC | ID;

/**
 * IRET/IRETD/IRETQ. In 64-bit mode the recording hosts (kvm_pvm) end no single-step step at
 * an IRET: the instruction it returns to runs in the same step (STOP_EXTEND).
 */
export function iret(m: Machine, osz: number): void {
  const in64 = m.bits === 64;
  if (!m.pe) iretReal(m, osz);
  else {
    if ((m.fl.bits & VM) !== 0) m.unsupported('IRET in virtual-8086 mode');
    if ((m.fl.bits & NT) !== 0) {
      if (m.lma) m.fault(VEC_GP, 0);
      m.unsupported('IRET with NT set (task return)');
    }
    iretProtected(m, osz);
  }
  if (in64) m.stop |= STOP_EXTEND;
}

function iretReal(m: Machine, s: number): void {
  const ip = m.pop(s);
  const sel = m.pop(s) & 0xffff;
  const f = m.pop(s);
  if (s === 4 && ip > 0xffff) m.fault(VEC_GP);
  const old = m.fl.get();
  const mask = s === 2 ? IRET_REAL & 0xffff : IRET_REAL;
  m.jumpFar(sel, ip);
  m.fl.set((old & ~mask) | (f & mask) | FLAGS_FIXED1);
  m.acChanged();
}

function popOsz(m: Machine, osz: number): number {
  if (osz === 8) return m.popQ();
  m.qh = 0;
  return m.pop(osz);
}

function iretProtected(m: Machine, osz: number): void {
  const ip = popOsz(m, osz);
  const ipHi = m.qh;
  const cs = popOsz(m, osz) & 0xffff;
  const f = popOsz(m, osz);
  const long = m.bits === 64;
  if (!long && osz === 4 && (f & VM) !== 0 && m.cpl === 0) m.unsupported('IRET to virtual-8086 mode');
  const d = checkReturnCS(m, cs);
  const rpl = cs & 3;
  const to64 = m.lma && d.l !== 0;
  // which flags may change: IOPL only at CPL 0, IF if CPL <= IOPL
  const cpl = m.cpl;
  const iopl = (m.fl.bits & IOPL) >> 12;
  let mask = ARITH | TF | DF | NT | RF | AC | ID;
  if (cpl <= iopl) mask |= IF;
  if (cpl === 0) mask |= IOPL | VIF | VIP;
  if (osz === 2) mask &= 0xffff;
  const old = m.fl.get();
  const flags = ((old & ~mask) | (f & mask) | FLAGS_FIXED1) >>> 0;
  if (rpl === cpl && !long) {
    if (!to64 && ip > d.limit) m.fault(VEC_GP, 0);
    setSegCache(m, CS, cs, d);
    m.fl.set(flags);
    m.eip = ip >>> 0;
    m.ripHi = 0;
    m.updateMode();
    m.acChanged();
    return;
  }
  // 64-bit mode always pops SS:RSP; otherwise only for a return to an outer level
  const sp = popOsz(m, osz);
  const spHi = m.qh;
  const ss = popOsz(m, osz) & 0xffff;
  const sd = checkReturnSS(m, ss, rpl, to64);
  if (!to64 && ip > d.limit) m.fault(VEC_GP, 0);
  if (to64 && osz === 8 && ipHi >> 15 !== 0 && ipHi >> 15 !== -1) m.fault(VEC_GP, 0);
  setSegCache(m, CS, cs, d);
  m.cpl = rpl;
  if (sd) setSegCache(m, SS, ss, sd);
  else setNullSS64(m, ss, rpl);
  m.fl.set(flags);
  m.updateMode();
  m.eip = ip >>> 0;
  m.ripHi = to64 && osz === 8 ? ipHi : 0;
  if (m.stackMode === 8) m.setReg64(4, (osz === 8 ? spHi : 0) * TWO32 + (sp >>> 0));
  else if (m.stackMode === 4) m.r32[I_ESP] = sp;
  else m.r16[I_SP] = sp;
  if (rpl > cpl) nullInaccessible(m);
  m.acChanged();
}
