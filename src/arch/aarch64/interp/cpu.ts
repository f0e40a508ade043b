// The AArch64 vCPU: registers, memory access (RAM directly, MMIO as stops), synchronous exception
// entry/return, and the run loop. Executors come from the decode table (table.ts) and act on
// the fields here; they throw A64Fault / A64MmioStop / A64Unsupported to leave an instruction
// before it retires, so a stopped or faulting instruction changes nothing but memory it already
// wrote (the second half of a pair crossing into a faulting page, as on hardware).

import { A64_REGS_BYTES, A64_SYSREGS_BYTES } from '../state.js';
import type { Flags } from './alu.js';
import { ACC_EXEC, ACC_READ, ACC_WRITE, Mmu } from './mmu.js';
import { decode, disassemble, type Exec } from './table.js';
import { A64Fault, A64MmioStop, A64Unsupported, EC, FSC, MEM_ALIGN, MEM_NOISV, SR, type A64Ram, type A64Stop } from './types.js';

export { MEM_ALIGN, MEM_NOISV, SR } from './types.js';

const BUDGET: A64Stop = { kind: 'budget' };
const PA_LIMIT = 2 ** 48;
const PSTATE_MODELED = 0xf010_03cfn; // NZCV, IL, DAIF, EL, SP
const HISTORY = 64;

interface Region { base: number; end: number; bytes: Uint8Array; dv: DataView }

export class A64Cpu implements Flags {
  /** x0..x30; x[31] is the zero register and is never written. */
  readonly x: bigint[] = new Array<bigint>(32).fill(0n);
  /** sp_el0, sp_el1 */
  readonly sps: bigint[] = [0n, 0n];
  nf = 0; zf = 0; cf = 0; vf = 0;
  /** PSTATE.DAIF as 4 bits (D A I F). */
  daif = 0xf;
  el = 1;
  spsel = 1;
  il = 0;
  /** PSTATE bits this interpreter does not model, kept as given. */
  pstateOther = 0n;
  readonly sys: bigint[] = new Array<bigint>(13).fill(0n);
  /** PC of the instruction executing; `next` is where execution continues once it retires. */
  cur = 0n;
  next = 0n;
  instructions = 0;
  sysregsWritten = false;
  /** Exclusive monitor (one vCPU: a store-exclusive succeeds whenever it is set). */
  exclusive = false;
  /** Set by an executor that retires with a stop (hvc, smc, wfi). */
  stopOut: A64Stop | null = null;

  private pcv = 0n;
  private mmuOn = false;
  private readonly regions: Region[];
  private readonly mmu: Mmu;
  private readonly decoded = new Map<number, Exec>();
  private completing = false;
  private mmioReply: Uint8Array | null = null;
  private readonly histPc: bigint[] = new Array<bigint>(HISTORY).fill(0n);
  private readonly histWord = new Int32Array(HISTORY);
  private histCount = 0;

  constructor(ram: A64Ram[]) {
    this.regions = ram.map((r) => ({
      base: r.base, end: r.base + r.bytes.length, bytes: r.bytes, dv: new DataView(r.bytes.buffer, r.bytes.byteOffset, r.bytes.byteLength),
    }));
    this.mmu = new Mmu({
      sctlr: () => this.sys[SR.SCTLR]!,
      tcr: () => this.sys[SR.TCR]!,
      ttbr: (upper) => this.sys[upper ? SR.TTBR1 : SR.TTBR0]!,
      mair: () => this.sys[SR.MAIR]!,
      readPhys64: (pa) => {
        const r = this.region(pa, 8);
        return r === null ? null : r.dv.getBigUint64(pa - r.base, true);
      },
    });
  }

  // ------------------------------------------------------------------ registers

  get pc(): bigint { return this.pcv; }

  getX(n: number): bigint { return this.x[n]!; }
  setX(n: number, v: bigint): void { if (n < 31) this.x[n] = BigInt.asUintN(64, v); }

  /** The stack pointer PSTATE selects. */
  get sp(): bigint { return this.sps[this.el === 0 ? 0 : this.spsel]!; }
  set sp(v: bigint) { this.sps[this.el === 0 ? 0 : this.spsel] = v; }

  /** Register n, 31 reading as SP (base registers, ADD/SUB immediate and extended). */
  xsp(n: number): bigint { return n === 31 ? this.sp : this.x[n]!; }
  setXsp(n: number, v: bigint): void { if (n === 31) this.sp = v; else this.x[n] = v; }
  /** Register n, 31 discarding the write (the zero register). */
  setXr(n: number, v: bigint): void { if (n !== 31) this.x[n] = v; }

  pstate(): bigint {
    const nzcv = (this.nf << 3) | (this.zf << 2) | (this.cf << 1) | this.vf;
    return this.pstateOther | (BigInt(nzcv) << 28n) | (BigInt(this.il) << 20n) | (BigInt(this.daif) << 6n)
      | (BigInt(this.el) << 2n) | BigInt(this.spsel);
  }

  setPstate(v: bigint): void {
    const n = Number(v & 0xffff_ffffn);
    this.nf = (n >>> 31) & 1; this.zf = (n >>> 30) & 1; this.cf = (n >>> 29) & 1; this.vf = (n >>> 28) & 1;
    this.il = (n >>> 20) & 1;
    this.daif = (n >>> 6) & 0xf;
    this.el = (n >>> 2) & 3;
    this.spsel = n & 1;
    this.pstateOther = v & ~PSTATE_MODELED;
  }

  getRegsBytes(out: Uint8Array): void {
    const v = new DataView(out.buffer, out.byteOffset, A64_REGS_BYTES);
    for (let i = 0; i < 31; i++) v.setBigUint64(i * 8, this.x[i]!, true);
    v.setBigUint64(31 * 8, this.sps[0]!, true);
    v.setBigUint64(32 * 8, this.sps[1]!, true);
    v.setBigUint64(33 * 8, this.pcv, true);
    v.setBigUint64(34 * 8, this.pstate(), true);
  }

  setRegsBytes(b: Uint8Array): void {
    const v = new DataView(b.buffer, b.byteOffset, A64_REGS_BYTES);
    for (let i = 0; i < 31; i++) this.x[i] = v.getBigUint64(i * 8, true);
    this.sps[0] = v.getBigUint64(31 * 8, true);
    this.sps[1] = v.getBigUint64(32 * 8, true);
    this.pcv = v.getBigUint64(33 * 8, true);
    this.setPstate(v.getBigUint64(34 * 8, true));
  }

  regsEqual(recorded: Uint8Array): boolean {
    const v = new DataView(recorded.buffer, recorded.byteOffset, A64_REGS_BYTES);
    for (let i = 0; i < 31; i++) if (v.getBigUint64(i * 8, true) !== this.x[i]) return false;
    return v.getBigUint64(31 * 8, true) === this.sps[0] && v.getBigUint64(32 * 8, true) === this.sps[1]
      && v.getBigUint64(33 * 8, true) === this.pcv && v.getBigUint64(34 * 8, true) === this.pstate();
  }

  getSysregsBytes(out: Uint8Array): void {
    const v = new DataView(out.buffer, out.byteOffset, A64_SYSREGS_BYTES);
    this.sys.forEach((r, i) => v.setBigUint64(i * 8, r, true));
  }

  setSysregsBytes(b: Uint8Array): void {
    const v = new DataView(b.buffer, b.byteOffset, A64_SYSREGS_BYTES);
    for (let i = 0; i < this.sys.length; i++) this.sys[i] = v.getBigUint64(i * 8, true);
    this.mmuOn = (this.sys[SR.SCTLR]! & 1n) === 1n;
  }

  /** An MSR (or exception entry) changing a system register of the trace's system block. */
  writeSys(i: number, v: bigint): void {
    this.sys[i] = v;
    this.sysregsWritten = true;
    if (i === SR.SCTLR) this.mmuOn = (v & 1n) === 1n;
  }

  // ------------------------------------------------------------------ memory

  private region(pa: number, size: number): Region | null {
    for (const r of this.regions) if (pa >= r.base && pa + size <= r.end) return r;
    return null;
  }

  private translate(va: bigint, acc: number): number {
    if (this.mmuOn) return this.mmu.translate(va, acc, this.el);
    if (va >= PA_LIMIT) return this.mmu.translate(va, acc, this.el); // raises the address size fault
    this.mmu.device = acc !== ACC_EXEC;
    return Number(va);
  }

  private checkAlign(va: bigint, size: number, flags: number, acc: number): void {
    if (size === 1 || (Number(va & 0xfffn) & (size - 1)) === 0) return;
    if ((flags & MEM_ALIGN) !== 0 || this.mmu.device || (this.sys[SR.SCTLR]! & 2n) !== 0n) {
      throw this.mmu.abort(va, acc, this.el, FSC.ALIGNMENT);
    }
  }

  private crossesPage(va: bigint, size: number): boolean {
    return this.mmuOn && Number(va & 0xfffn) + size > 0x1000;
  }

  /** A little-endian load of `size` bytes (1, 2, 4, 8), zero-extended. */
  load(va: bigint, size: number, flags: number): bigint {
    if (this.crossesPage(va, size)) {
      this.checkAlign(va, size, flags, ACC_READ);
      let v = 0n;
      for (let i = size - 1; i >= 0; i--) v = (v << 8n) | this.load(va + BigInt(i), 1, flags);
      return v;
    }
    const pa = this.translate(va, ACC_READ);
    this.checkAlign(va, size, flags, ACC_READ);
    const r = this.region(pa, size);
    if (r === null) return this.mmio(pa, size, false, 0n, flags);
    const o = pa - r.base;
    switch (size) {
      case 1: return BigInt(r.bytes[o]!);
      case 2: return BigInt(r.dv.getUint16(o, true));
      case 4: return BigInt(r.dv.getUint32(o, true));
      default: return r.dv.getBigUint64(o, true);
    }
  }

  store(va: bigint, size: number, v: bigint, flags: number): void {
    if (this.crossesPage(va, size)) {
      this.checkAlign(va, size, flags, ACC_WRITE);
      for (let i = 0; i < size; i++) this.store(va + BigInt(i), 1, (v >> BigInt(8 * i)) & 0xffn, flags);
      return;
    }
    const pa = this.translate(va, ACC_WRITE);
    this.checkAlign(va, size, flags, ACC_WRITE);
    const r = this.region(pa, size);
    if (r === null) { this.mmio(pa, size, true, v, flags); return; }
    const o = pa - r.base;
    switch (size) {
      case 1: r.bytes[o] = Number(v & 0xffn); break;
      case 2: r.dv.setUint16(o, Number(v & 0xffffn), true); break;
      case 4: r.dv.setUint32(o, Number(v & 0xffff_ffffn), true); break;
      default: r.dv.setBigUint64(o, BigInt.asUintN(64, v), true);
    }
  }

  /**
   * An access outside RAM. First time: stop before the instruction retires. When completeMmio()
   * re-executes the instruction, its first MMIO access takes the caller's data (reads) or is
   * done already (writes); any further MMIO access of the same instruction reads 0.
   */
  private mmio(pa: number, size: number, write: boolean, v: bigint, flags: number): bigint {
    if (this.completing) {
      const reply = this.mmioReply;
      this.mmioReply = null;
      if (write || reply === null) return 0n;
      let r = 0n;
      for (let i = Math.min(size, reply.length) - 1; i >= 0; i--) r = (r << 8n) | BigInt(reply[i]!);
      return r;
    }
    const data = new Uint8Array(write ? size : 0);
    for (let i = 0; i < data.length; i++) data[i] = Number((v >> BigInt(8 * i)) & 0xffn);
    throw new A64MmioStop({ kind: 'mmio', address: pa, length: size, write, data, isv: (flags & MEM_NOISV) === 0 });
  }

  /** Guest RAM at a physical address (tests, the engine's loaders). */
  ramAt(pa: number, size: number): Uint8Array | null {
    const r = this.region(pa, size);
    return r === null ? null : r.bytes.subarray(pa - r.base, pa - r.base + size);
  }

  private fetch(pc: bigint): number {
    if ((pc & 3n) !== 0n) throw new A64Fault(EC.PC_ALIGN, 0, pc);
    const pa = this.translate(pc, ACC_EXEC);
    const r = this.region(pa, 4);
    if (r === null) throw this.mmu.abort(pc, ACC_EXEC, this.el, FSC.EXTERNAL);
    return r.dv.getUint32(pa - r.base, true);
  }

  // ------------------------------------------------------------------ exceptions

  /** Synchronous exception entry to EL1 (always AArch64, vector offset by source EL and SP). */
  private takeException(f: A64Fault): void {
    const offset = this.el === 0 ? 0x400n : this.spsel === 1 ? 0x200n : 0n;
    this.writeSys(SR.SPSR, this.pstate());
    this.writeSys(SR.ELR, f.next ? this.cur + 4n : this.cur);
    this.writeSys(SR.ESR, BigInt(((f.ec << 26) | (1 << 25) | f.iss) >>> 0));
    if (f.far !== null) this.writeSys(SR.FAR, f.far);
    this.el = 1;
    this.spsel = 1;
    this.daif = 0xf;
    this.il = 0;
    this.pstateOther &= ~(1n << 21n); // SS
    this.exclusive = false;
    this.next = (this.sys[SR.VBAR]! & ~0x7ffn) + offset;
  }

  /** ERET: PC from ELR_EL1, PSTATE from SPSR_EL1; an illegal target sets PSTATE.IL instead. */
  exceptionReturn(): void {
    if (this.el === 0) throw new A64Fault(EC.UNKNOWN, 0);
    const spsr = this.sys[SR.SPSR]!;
    const m = Number(spsr & 0x1fn);
    this.exclusive = false;
    this.next = this.sys[SR.ELR]!;
    this.sysregsWritten = true;
    if (m === 0 || m === 4 || m === 5) {
      this.setPstate(spsr & ~(1n << 20n));
      return;
    }
    const el = this.el;
    const spsel = this.spsel;
    this.setPstate(spsr);
    this.el = el;
    this.spsel = spsel;
    this.il = 1;
  }

  // ------------------------------------------------------------------ run loop

  run(budget: number): A64Stop {
    for (let i = 0; i < budget; i++) {
      const s = this.exec1();
      if (s !== null) return s;
    }
    return BUDGET;
  }

  /**
   * Exactly one instruction. A faulting instruction's step takes the exception: it returns
   * `budget` with PC at the vector, the exception entry counted as that instruction.
   */
  step(): A64Stop {
    return this.exec1() ?? BUDGET;
  }

  completeMmio(readData?: Uint8Array): void {
    this.completing = true;
    this.mmioReply = readData ?? null;
    try {
      this.exec1();
    } finally {
      this.completing = false;
      this.mmioReply = null;
    }
  }

  private exec1(): A64Stop | null {
    const pc = this.pcv;
    this.cur = pc;
    let word = -1;
    try {
      if (this.il === 1) throw new A64Fault(EC.ILLEGAL_STATE, 0);
      word = this.fetch(pc);
      let ex = this.decoded.get(word);
      if (ex === undefined) {
        ex = decode(word);
        this.decoded.set(word, ex);
      }
      this.next = pc + 4n;
      ex(this);
    } catch (e) {
      if (e instanceof A64Fault) this.takeException(e);
      else if (e instanceof A64MmioStop) return e.stop;
      else if (e instanceof A64Unsupported) return { kind: 'unsupported', pc, word: word >>> 0, message: e.message };
      else throw e;
    }
    this.pcv = this.next;
    this.instructions++;
    const h = this.histCount++ % HISTORY;
    this.histPc[h] = pc;
    this.histWord[h] = word;
    const s = this.stopOut;
    if (s === null) return null;
    this.stopOut = null;
    return s;
  }

  history(n: number): { pc: bigint; word: number; text: string }[] {
    const count = Math.min(n, this.histCount, HISTORY);
    const out: { pc: bigint; word: number; text: string }[] = [];
    for (let k = this.histCount - count; k < this.histCount; k++) {
      const pc = this.histPc[k % HISTORY]!;
      const w = this.histWord[k % HISTORY]!;
      out.push({ pc, word: w >>> 0, text: w === -1 ? '(exception before fetch)' : disassemble(w >>> 0, pc) });
    }
    return out;
  }
}

