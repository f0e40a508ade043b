// The CPU core: architectural state, the segmentation/translation path every memory access
// goes through, operand access for the executors, exception delivery and the run loop.
//
// Mode is state: the code size comes from the CS descriptor cache (D bit), the stack size
// from SS (B bit), limits and bases from the segment caches, and everything is routed through
// linear() (segmentation) and phys() (paging; identity while CR0.PG=0). Only real mode is
// executed for now; run() refuses other modes with an `unsupported` result.

import {
  AC, ACC_EXEC, ACC_READ, ACC_WRITE, CR0_PE, CS, I_ESP, I_SP, IF, REG_SLOTS, SEG_COUNT,
  SS, STOP_HLT, STOP_IO, STOP_MMIO, STOP_SHUTDOWN, TF, VEC_DB, VEC_DF, VEC_GP, VEC_PF, VEC_SS, VM,
  hex2, trunc,
} from './constants.js';
import { DEC_LONG, DEC_TRUNC, decode } from './decoder.js';
import { formatInsn } from './disasm.js';
import { LazyFlags } from './flags.js';
import { DecodeCache } from './icache.js';
import { Insn, K_IMM, K_MEM, K_R16, K_R32, K_R8, K_SREG } from './insn.js';
import { PhysMem } from './memory.js';
import type { CpuidEntry, DisassembledAt, ExitSink, RamRegion, RunResult, Vendor } from './types.js';

/** Descriptor-cache attributes of a segment register (as in struct kvm_segment). */
export interface SegAttr {
  type: number;
  present: number;
  dpl: number;
  db: number;
  s: number;
  l: number;
  g: number;
  avl: number;
  unusable: number;
}

/** An exception raised while executing an instruction (thrown, caught by run()). */
export class CpuFault {
  constructor(readonly vector: number, readonly code = 0) {}
}

/** The instruction cannot be executed by this interpreter (thrown before any state change). */
export class Unsupported {
  constructor(readonly reason: string) {}
}

const HIST = 256;

const EXC_NAMES = ['#DE', '#DB', 'NMI', '#BP', '#OF', '#BR', '#UD', '#NM', '#DF', 'CSO', '#TS', '#NP', '#SS', '#GP', '#PF'];
export function excName(v: number): string {
  return EXC_NAMES[v] ?? `vector ${v}`;
}

function contributory(v: number): boolean {
  return v === 0 || (v >= 10 && v <= 13);
}

export class Machine {
  // ---------------------------------------------------------------- registers
  /** 16 GPRs + zero slot, 64 bits each as lo/hi int32 pairs (see constants.ts) */
  readonly r32 = new Int32Array(REG_SLOTS * 2);
  readonly r16 = new Uint16Array(this.r32.buffer);
  readonly r8 = new Uint8Array(this.r32.buffer);
  /** low 32 bits of RIP */
  eip = 0;
  /** high 32 bits of RIP (0 outside long mode) */
  ripHi = 0;
  readonly fl = new LazyFlags();
  /** RFLAGS bits 63:32 as given (reserved, kept for exchange) */
  flagsHi = 0;

  // ---------------------------------------------------------------- segments & system state
  readonly sel = new Uint16Array(SEG_COUNT);
  /** low 32 bits of each segment base */
  readonly segBase = new Float64Array(SEG_COUNT);
  /** bits 63:32 of each segment base (long mode FS/GS/TR/LDTR) */
  readonly segBaseHi = new Uint32Array(SEG_COUNT);
  readonly segLimit = new Float64Array(SEG_COUNT);
  readonly segAttr: SegAttr[] = [];
  cr0 = 0x60000010;
  cr0Hi = 0;
  cr2 = 0n;
  cr3 = 0n;
  cr4 = 0;
  cr4Hi = 0;
  cr8 = 0n;
  efer = 0n;
  apicBase = 0n;
  gdtBase = 0;
  gdtBaseHi = 0;
  gdtLimit = 0xffff;
  idtBase = 0;
  idtBaseHi = 0;
  idtLimit = 0x3ff;

  // ---------------------------------------------------------------- derived mode
  /** default code size of CS: 16, 32 (64 later) */
  bits = 16;
  /** SS.B: 32-bit stack pointer */
  stack32 = false;

  // ---------------------------------------------------------------- per-instruction state
  /** RFLAGS bits undefined after instruction number `undefSeq` (see setUndef) */
  undef = 0;
  undefSeq = -1;
  /** STOP_* reasons collected during the current instruction */
  stop = 0;
  /** a REP iteration ended the instruction early (RIP left at the instruction) */
  partial = false;
  /** ESP at the start of the current instruction (restored when it faults) */
  startEsp = 0;
  /** set by software interrupts: no single-step trap after them */
  noTrap = false;
  pendingTrap = false;
  shutdownReason: string | null = null;

  // ---------------------------------------------------------------- counters & history
  /** Instructions started (the current one included); also the history ring position. */
  seq = 0;
  /** started instructions that did not retire (interrupted REP iterations) */
  private uncounted = 0;
  /** ring buffer of executed instructions: linear address, and CS tag + EIP (see csTag) */
  private readonly histLin = new Float64Array(HIST).fill(-1);
  private readonly histAt = new Float64Array(HIST);
  /** (CS selector | code-size code << 16) * 2^32, kept in sync with CS and `bits` */
  private csTag = 0;

  // ---------------------------------------------------------------- environment
  readonly mem: PhysMem;
  readonly icache: DecodeCache;
  private readonly scratch = new Insn();
  private readonly fetchBuf = new Uint8Array(15);

  constructor(
    ram: RamRegion[],
    readonly sink: ExitSink,
    readonly cpuidEntries: CpuidEntry[],
    readonly vendor: Vendor,
  ) {
    let end = 0;
    for (const r of ram) end = Math.max(end, r.base + r.bytes.length);
    this.icache = new DecodeCache(end);
    this.mem = new PhysMem(ram, sink, this, this.icache);
    for (let s = 0; s < SEG_COUNT; s++) {
      this.segAttr.push({ type: 3, present: 1, dpl: 0, db: 0, s: 1, l: 0, g: 0, avl: 0, unusable: 0 });
      this.segLimit[s] = 0xffff;
    }
    this.segAttr[CS]!.type = 0xb;
    this.sel[CS] = 0xf000;
    this.segBase[CS] = 0xf0000;
    this.updateMode();
  }

  /** Instructions retired so far (a faulting instruction counts once). */
  get instructions(): number {
    return this.seq - this.uncounted;
  }

  /** EIP of the instruction being executed (from the history ring). */
  get startEip(): number {
    return this.histAt[this.seq & (HIST - 1)]! % 0x100000000;
  }

  /** Report RFLAGS bits left undefined by the current instruction. */
  setUndef(mask: number): void {
    this.undef = mask;
    this.undefSeq = this.seq;
  }

  /** RFLAGS bits undefined after the last retired instruction. */
  get undefinedFlags(): number {
    return this.undefSeq === this.seq ? this.undef : 0;
  }

  /** Recompute the derived mode fields after segment/control register changes. */
  updateMode(): void {
    this.bits = this.segAttr[CS]!.db ? 32 : 16;
    this.stack32 = this.segAttr[SS]!.db !== 0;
    this.updateCsTag();
  }

  private updateCsTag(): void {
    this.csTag = (this.sel[CS]! | ((this.bits >> 5) << 16)) * 0x100000000;
  }

  get realMode(): boolean {
    return (this.cr0 & CR0_PE) === 0;
  }

  // ---------------------------------------------------------------- faults
  fault(vector: number, code = 0): never {
    throw new CpuFault(vector, code);
  }

  unsupported(reason: string): never {
    throw new Unsupported(reason);
  }

  // ---------------------------------------------------------------- address translation
  /**
   * Segmented address -> linear address: the single point where segmentation applies.
   * Real mode (and the expand-up data segments of unreal mode): offset + size - 1 must be
   * within the cached limit, else #SS (stack segment) or #GP. `kind` (ACC_*) is for the
   * descriptor type checks of protected mode.
   */
  linear(seg: number, off: number, size: number, _kind: number): number {
    if (off + size - 1 > this.segLimit[seg]!) this.fault(seg === SS ? VEC_SS : VEC_GP);
    return (this.segBase[seg]! + off) >>> 0;
  }

  /** Linear -> physical. Identity while paging is off (always, for now). */
  phys(lin: number, _kind: number): number {
    return lin;
  }

  // ---------------------------------------------------------------- segmented memory access
  read8(seg: number, off: number): number {
    return this.mem.read8(this.phys(this.linear(seg, off, 1, ACC_READ), ACC_READ));
  }
  read16(seg: number, off: number): number {
    return this.mem.read16(this.phys(this.linear(seg, off, 2, ACC_READ), ACC_READ));
  }
  read32(seg: number, off: number): number {
    return this.mem.read32(this.phys(this.linear(seg, off, 4, ACC_READ), ACC_READ));
  }
  readMem(seg: number, off: number, size: number): number {
    return size === 1 ? this.read8(seg, off) : size === 2 ? this.read16(seg, off) : this.read32(seg, off);
  }
  write8(seg: number, off: number, v: number): void {
    this.mem.write8(this.phys(this.linear(seg, off, 1, ACC_WRITE), ACC_WRITE), v);
  }
  write16(seg: number, off: number, v: number): void {
    this.mem.write16(this.phys(this.linear(seg, off, 2, ACC_WRITE), ACC_WRITE), v);
  }
  write32(seg: number, off: number, v: number): void {
    this.mem.write32(this.phys(this.linear(seg, off, 4, ACC_WRITE), ACC_WRITE), v);
  }
  writeMem(seg: number, off: number, size: number, v: number): void {
    if (size === 1) this.write8(seg, off, v);
    else if (size === 2) this.write16(seg, off, v);
    else this.write32(seg, off, v);
  }
  /** Read from a linear address (descriptor tables, IVT). */
  readLinear(lin: number, size: number): number {
    return this.mem.read(this.phys(lin, ACC_READ), size);
  }

  // ---------------------------------------------------------------- operands
  /** Effective address (offset within the segment) of the memory operand. */
  ea(i: Insn): number {
    const r = this.r32;
    if (i.asz === 2) return (r[i.base]! + r[i.index]! + i.disp) & 0xffff;
    return (r[i.base]! + (r[i.index]! << i.scale) + i.disp) >>> 0;
  }

  /** Wrap an offset to the address size of i. */
  wrapAddr(i: Insn, off: number): number {
    return i.asz === 2 ? off & 0xffff : off >>> 0;
  }

  rd1(i: Insn): number {
    switch (i.k1) {
      case K_R8: return this.r8[i.a1]!;
      case K_R16: return this.r16[i.a1]!;
      case K_R32: return this.r32[i.a1]! >>> 0;
      case K_MEM: return this.readMem(i.seg, this.ea(i), i.s1);
      case K_IMM: return i.a1;
      case K_SREG: return this.sel[i.a1]!;
      default: return 0;
    }
  }

  rd2(i: Insn): number {
    switch (i.k2) {
      case K_R8: return this.r8[i.a2]!;
      case K_R16: return this.r16[i.a2]!;
      case K_R32: return this.r32[i.a2]! >>> 0;
      case K_MEM: return this.readMem(i.seg, this.ea(i), i.s2);
      case K_IMM: return i.a2;
      case K_SREG: return this.sel[i.a2]!;
      default: return 0;
    }
  }

  rd3(i: Insn): number {
    switch (i.k3) {
      case K_R8: return this.r8[i.a3]!;
      case K_R16: return this.r16[i.a3]!;
      case K_R32: return this.r32[i.a3]! >>> 0;
      case K_IMM: return i.a3;
      default: return 0;
    }
  }

  wr1(i: Insn, v: number): void {
    switch (i.k1) {
      case K_R8: this.r8[i.a1] = v; return;
      case K_R16: this.r16[i.a1] = v; return;
      case K_R32: this.r32[i.a1] = v; return;
      case K_MEM: this.writeMem(i.seg, this.ea(i), i.s1, v); return;
      default: return;
    }
  }

  wr2(i: Insn, v: number): void {
    switch (i.k2) {
      case K_R8: this.r8[i.a2] = v; return;
      case K_R16: this.r16[i.a2] = v; return;
      case K_R32: this.r32[i.a2] = v; return;
      case K_MEM: this.writeMem(i.seg, this.ea(i), i.s2, v); return;
      default: return;
    }
  }

  /** Read general register n (encoding number) with the given size. */
  getReg(n: number, size: number): number {
    return size === 1 ? this.r8[n < 4 ? n * 8 : (n - 4) * 8 + 1]! : size === 2 ? this.r16[n * 4]! : this.r32[n * 2]! >>> 0;
  }

  setReg(n: number, size: number, v: number): void {
    if (size === 1) this.r8[n < 4 ? n * 8 : (n - 4) * 8 + 1] = v;
    else if (size === 2) this.r16[n * 4] = v;
    else this.r32[n * 2] = v;
  }

  // ---------------------------------------------------------------- stack
  /** Current stack pointer, by stack size. */
  sp(): number {
    return this.stack32 ? this.r32[I_ESP]! >>> 0 : this.r16[I_SP]!;
  }

  setSp(v: number): void {
    if (this.stack32) this.r32[I_ESP] = v;
    else this.r16[I_SP] = v;
  }

  push(v: number, size: number): void {
    if (this.stack32) {
      const sp = (this.r32[I_ESP]! - size) >>> 0;
      this.writeMem(SS, sp, size, v);
      this.r32[I_ESP] = sp;
    } else {
      const sp = (this.r16[I_SP]! - size) & 0xffff;
      this.writeMem(SS, sp, size, v);
      this.r16[I_SP] = sp;
    }
  }

  pop(size: number): number {
    if (this.stack32) {
      const sp = this.r32[I_ESP]! >>> 0;
      const v = this.readMem(SS, sp, size);
      this.r32[I_ESP] = sp + size;
      return v;
    }
    const sp = this.r16[I_SP]!;
    const v = this.readMem(SS, sp, size);
    this.r16[I_SP] = sp + size;
    return v;
  }

  // ---------------------------------------------------------------- segment loads & branches
  /** Load a segment register (real mode: base = selector * 16; limit and attributes are kept). */
  loadSeg(s: number, selector: number): void {
    if (!this.realMode) this.unsupported('segment load outside real mode');
    this.sel[s] = selector;
    this.segBase[s] = selector * 16;
    this.segBaseHi[s] = 0;
    if (s === CS) this.updateCsTag();
  }

  /** Near branch to `target` (already wrapped to the operand size): #GP beyond the CS limit. */
  jump(target: number): void {
    if (target > this.segLimit[CS]!) this.fault(VEC_GP);
    this.eip = target;
  }

  /** Far branch: #GP if the offset is beyond the (real mode: unchanged) CS limit. */
  jumpFar(selector: number, off: number): void {
    if (off > this.segLimit[CS]!) this.fault(VEC_GP);
    this.loadSeg(CS, selector);
    this.eip = off;
  }

  // ---------------------------------------------------------------- port IO
  ioIn(port: number, size: 1 | 2 | 4): number {
    this.stop |= STOP_IO;
    return trunc(this.sink.ioIn(port & 0xffff, size), size);
  }

  ioOut(port: number, size: 1 | 2 | 4, v: number): void {
    this.stop |= STOP_IO;
    this.sink.ioOut(port & 0xffff, size, trunc(v, size));
  }

  /** End a REP string instruction after this iteration, with RIP still at the instruction. */
  interruptRep(): void {
    this.eip = this.startEip;
    this.partial = true;
  }

  halt(): void {
    this.stop |= STOP_HLT;
  }

  // ---------------------------------------------------------------- interrupts
  /**
   * Real-mode interrupt/exception delivery through the IVT: push FLAGS, CS, IP (16-bit),
   * clear IF, TF and AC, jump to the vector. #GP if the IVT entry is beyond the IDT limit,
   * #SS if the pushes leave the stack segment.
   */
  interruptReal(vector: number, retIp: number): void {
    const off = vector * 4;
    if (off + 3 > this.idtLimit) this.fault(VEC_GP);
    const lin = (this.idtBase + off) >>> 0;
    const ip = this.readLinear(lin, 2);
    const cs = this.readLinear(lin + 2, 2);
    const flags = this.fl.get();
    this.push(flags & 0xffff, 2);
    this.push(this.sel[CS]!, 2);
    this.push(retIp & 0xffff, 2);
    this.fl.bits &= ~(IF | TF | AC);
    this.sel[CS] = cs;
    this.segBase[CS] = cs * 16;
    this.segBaseHi[CS] = 0;
    this.updateCsTag();
    this.eip = ip;
  }

  /** INT n / INT3 / INTO / INT1 (the return address is the next instruction). */
  softInt(vector: number): void {
    this.interruptReal(vector, this.eip);
    this.noTrap = true;
  }

  /**
   * Deliver an exception with the current EIP as return address, escalating faults that
   * happen during delivery (#DF for contributory-on-contributory, triple fault on #DF).
   * Returns false on triple fault (shutdown).
   */
  deliverException(vector: number): boolean {
    let v = vector;
    let chain = excName(v);
    for (let guard = 0; guard < 8; guard++) {
      const esp = this.r32[I_ESP]!;
      try {
        this.interruptReal(v, this.eip);
        return true;
      } catch (e) {
        if (!(e instanceof CpuFault)) throw e;
        this.r32[I_ESP] = esp;
        const v2 = e.vector;
        chain += ` -> ${excName(v2)}`;
        if (v === VEC_DF) break;
        if ((contributory(v) && contributory(v2)) || (v === VEC_PF && (v2 === VEC_PF || contributory(v2)))) v = VEC_DF;
        else v = v2;
      }
    }
    this.shutdownReason = `triple fault (${chain} while delivering)`;
    this.stop |= STOP_SHUTDOWN;
    return false;
  }

  // ---------------------------------------------------------------- instruction fetch
  /** Decode the instruction at CS:eip from memory (cache miss path). */
  private fetchDecode(eip: number, lin: number): Insn {
    const buf = this.fetchBuf;
    const limit = this.segLimit[CS]!;
    let avail = 0;
    let ram: Uint8Array | null = null;
    let ramOff = 0;
    let stopLimit = false;
    for (; avail < 15; avail++) {
      if (eip + avail > limit) { stopLimit = true; break; }
      const pa = this.phys((lin + avail) >>> 0, ACC_EXEC);
      const r = this.mem.ramAt(pa);
      if (r === null) break;
      if (avail === 0) { ram = r.bytes; ramOff = r.off; }
      else if (r.bytes !== ram || r.off !== ramOff + avail) ram = null;
      buf[avail] = r.bytes[r.off]!;
    }
    const cacheable = ram !== null && this.realMode;
    const insn = cacheable ? new Insn() : this.scratch;
    const st = decode(buf, avail, this.bits, insn);
    if (st === DEC_TRUNC) {
      if (stopLimit) this.fault(VEC_GP);
      const got = Array.from(buf.subarray(0, avail), hex2).join(' ');
      this.unsupported(`instruction fetch from non-RAM address 0x${((lin + avail) >>> 0).toString(16)} (bytes so far: ${got || 'none'})`);
    }
    if (st === DEC_LONG) this.fault(VEC_GP);
    if (cacheable) {
      insn.ram = ram;
      insn.ramOff = ramOff;
      this.icache.insert(this.phys(lin, ACC_EXEC), insn);
    } else {
      insn.ram = null;
      insn.gen = -1;
    }
    return insn;
  }

  // ---------------------------------------------------------------- the run loop
  /**
   * Execute until `instructions` reaches `end` or an instruction requests a stop. Faults
   * propagate as exceptions (handled by run()).
   */
  private loop(end: number): void {
    const r32 = this.r32;
    const fl = this.fl;
    const cache = this.icache;
    const histLin = this.histLin;
    const histAt = this.histAt;
    while (this.seq < end) {
      const eip = this.eip;
      const lin = (this.segBase[CS]! + eip) >>> 0;
      const h = ++this.seq & (HIST - 1);
      histLin[h] = lin;
      histAt[h] = this.csTag + eip;
      this.startEsp = r32[I_ESP]!;
      let insn = cache.get(this.phys(lin, ACC_EXEC));
      if (insn === undefined || insn.bits !== this.bits || !cache.valid(insn)) insn = this.fetchDecode(eip, lin);
      else if (eip + insn.len - 1 > this.segLimit[CS]!) this.fault(VEC_GP);
      const tf = fl.bits & TF;
      if (tf !== 0) this.noTrap = false;
      const next = eip + insn.len;
      this.eip = this.bits === 16 ? next & 0xffff : next >>> 0;
      insn.exec!(this, insn);
      if (tf !== 0 && !this.noTrap) {
        if (this.stop !== 0) this.pendingTrap = true;
        else this.deliverException(VEC_DB);
      }
      if (this.stop !== 0) {
        if (this.partial) {
          this.partial = false;
          this.uncounted++;
        }
        return;
      }
    }
  }

  run(max: number): RunResult {
    if (this.shutdownReason !== null) return { kind: 'shutdown', reason: this.shutdownReason };
    if (!this.realMode || (this.fl.bits & VM) !== 0) {
      const p = this.peek();
      const what = this.realMode ? 'virtual-8086 mode' : 'protected mode (CR0.PE=1)';
      return { kind: 'unsupported', bytes: p.bytes, at: p.at, message: `${what} is not implemented yet; next instruction ${p.text} at ${p.at}` };
    }
    this.icache.gen++;
    this.stop = 0;
    this.partial = false;
    const end = this.seq + Math.max(0, Math.floor(max));
    for (;;) {
      try {
        if (this.pendingTrap && end > this.seq) {
          this.pendingTrap = false;
          this.deliverException(VEC_DB);
          if (this.stop !== 0) break;
        }
        this.loop(end);
        break;
      } catch (e) {
        if (e instanceof CpuFault) {
          // the faulting instruction counts as executed (its sequence number is used)
          this.eip = this.startEip;
          this.r32[I_ESP] = this.startEsp;
          this.partial = false;
          this.undefSeq = -1;
          if (!this.deliverException(e.vector) || this.stop !== 0) break;
          continue;
        }
        if (e instanceof Unsupported) {
          // not executed: restore, and take it back out of the history
          this.eip = this.startEip;
          this.r32[I_ESP] = this.startEsp;
          this.partial = false;
          this.histLin[this.seq & (HIST - 1)] = -1;
          this.seq--;
          const p = this.peek();
          const bytes = p.bytes.length ? ` ${Array.from(p.bytes, hex2).join(' ')}` : '';
          const msg = `unsupported instruction${bytes} at ${p.at}` + (e.reason ? ` (${e.reason})` : '');
          this.stop = 0;
          return { kind: 'unsupported', bytes: p.bytes, at: p.at, message: msg };
        }
        // an exception from the sink (or a bug): leave RIP/RSP at the instruction, then rethrow
        this.eip = this.startEip;
        this.r32[I_ESP] = this.startEsp;
        this.partial = false;
        this.stop = 0;
        throw e;
      }
    }
    const s = this.stop;
    this.stop = 0;
    if (s & STOP_SHUTDOWN) return { kind: 'shutdown', reason: this.shutdownReason ?? 'triple fault' };
    if (s & STOP_IO) return { kind: 'exit', exit: 'io' };
    if (s & STOP_MMIO) return { kind: 'exit', exit: 'mmio' };
    if (s & STOP_HLT) return { kind: 'hlt' };
    return { kind: 'limit' };
  }

  // ---------------------------------------------------------------- inspection
  /** "cccc:iiii" for real mode / 16-bit code, "cccc:iiiiiiii" otherwise. */
  formatAt(cs: number, ip: number, bits: number): string {
    const w = bits === 16 && ip <= 0xffff ? 4 : 8;
    return `${cs.toString(16).padStart(4, '0')}:${ip.toString(16).padStart(w, '0')}`;
  }

  /** Bytes at a linear address (RAM only, up to 15, within CS limit if ip given). */
  private bytesAt(lin: number, ip: number): Uint8Array {
    const out: number[] = [];
    const limit = this.segLimit[CS]!;
    for (let k = 0; k < 15; k++) {
      if (ip + k > limit) break;
      const r = this.mem.ramAt(this.phys((lin + k) >>> 0, ACC_EXEC));
      if (r === null) break;
      out.push(r.bytes[r.off]!);
    }
    return Uint8Array.from(out);
  }

  describe(lin: number, cs: number, ip: number, bits: number): DisassembledAt {
    const raw = this.bytesAt(lin, ip);
    const i = new Insn();
    const st = decode(raw, raw.length, bits, i);
    const at = this.formatAt(cs, ip, bits);
    if (st !== 0) return { at, bytes: raw, text: '(bad)' };
    return { at, bytes: raw.slice(0, i.len), text: formatInsn(i, ip) };
  }

  peek(): DisassembledAt {
    const lin = (this.segBase[CS]! + this.eip) >>> 0;
    return this.describe(lin, this.sel[CS]!, this.eip, this.bits);
  }

  history(n: number): DisassembledAt[] {
    const count = Math.max(0, Math.min(n, HIST));
    const out: DisassembledAt[] = [];
    for (let k = count - 1; k >= 0; k--) {
      const h = (this.seq - k) & (HIST - 1);
      const lin = this.histLin[h]!;
      if (lin === -1) continue;
      const at = this.histAt[h]!;
      const tag = Math.floor(at / 0x100000000);
      out.push(this.describe(lin, tag & 0xffff, at % 0x100000000, [16, 32, 64][tag >> 16] ?? 16));
    }
    return out;
  }
}
