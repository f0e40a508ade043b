// Lazy arithmetic flags: the one place where CF/PF/AF/ZF/SF/OF are computed.
//
// Arithmetic instructions record their operands and result (op, dst, src, res, size, cin) and
// mark the flags they define as `pending`; a flag is only computed when somebody asks for it
// (a Jcc, PUSHF, ADC...). Flags that an instruction sets to explicit values (shifts, MUL,
// BCD...) are written into `bits` directly. Everything that is not an arithmetic flag (IF, DF,
// TF, IOPL...) always lives in `bits`.

import * as K from './constants.js';

// (local copies of the constants: constants.ts says why)
const { AF, ARITH, CF, OF, PARITY, PF, SF, ZF, trunc } = K;

/** res = dst + src + cin */
const OP_ADD = 0;
/** res = dst - src - cin */
const OP_SUB = 1;
/** only SF/ZF/PF pending, derived from res */
const OP_RESULT = 2;
/**
 * Added to the op of a 64-bit operation: dst/src/res/cin then describe the high halves (with
 * size 4 and cin = the carry/borrow into bit 32), `lo` is the low half of the result and `lox`
 * the XOR of the low halves of the operands (for AF). CF, OF and SF need nothing else.
 */
const WIDE = 4;

/** Flags each pair of condition codes reads (cc >> 1: O, C, Z, CZ, S, P, SO, ZSO). */
export const COND_FLAGS = [OF, CF, ZF, CF | ZF, SF, PF, SF | OF, ZF | SF | OF];
/** The LazyFlags method of each condition code (what cond(cc) calls). */
export const COND_METHODS = [
  'condO', 'condNO', 'condB', 'condAE', 'condE', 'condNE', 'condBE', 'condA',
  'condS', 'condNS', 'condP', 'condNP', 'condL', 'condGE', 'condLE', 'condG',
] as const;

export class LazyFlags {
  /** RFLAGS; the bits listed in `pending` are stale and must be derived from the lazy state. */
  bits = 2;
  /** Arithmetic flag bits whose value is still implied by (op, dst, src, res, size, cin). */
  pending = 0;
  op = OP_RESULT;
  dst = 0;
  src = 0;
  res = 0;
  /** operand size in bytes (1, 2, 4) */
  size = 1;
  /** carry-in of ADC/SBB */
  cin = 0;
  /** low half of the result of a 64-bit operation (see WIDE) */
  lo = 0;
  /** low halves of the operands XORed (64-bit operations, AF) */
  lox = 0;
  /** high half (int32) of the result returned by the last *64 producer */
  rh = 0;
  /**
   * Arithmetic flags architecturally undefined since their last defined write (flag-model.ts).
   * Every producer clears the bits it defines; Machine.undefFlags sets them.
   */
  undef = 0;
  /** Called when the guest consumes flags in `undef` (a Jcc, ADC, PUSHF...). */
  onUndefUse: ((mask: number) => void) | null = null;

  // ---------------------------------------------------------------- producers

  add(d: number, s: number, size: number): number {
    const r = trunc(d + s, size);
    this.op = OP_ADD; this.dst = d; this.src = s; this.res = r; this.size = size; this.cin = 0;
    this.pending = ARITH; this.undef = 0;
    return r;
  }

  adc(d: number, s: number, size: number): number {
    const c = this.useCF();
    const r = trunc(d + s + c, size);
    this.op = OP_ADD; this.dst = d; this.src = s; this.res = r; this.size = size; this.cin = c;
    this.pending = ARITH; this.undef = 0;
    return r;
  }

  sub(d: number, s: number, size: number): number {
    const r = trunc(d - s, size);
    this.op = OP_SUB; this.dst = d; this.src = s; this.res = r; this.size = size; this.cin = 0;
    this.pending = ARITH; this.undef = 0;
    return r;
  }

  sbb(d: number, s: number, size: number): number {
    const c = this.useCF();
    const r = trunc(d - s - c, size);
    this.op = OP_SUB; this.dst = d; this.src = s; this.res = r; this.size = size; this.cin = c;
    this.pending = ARITH; this.undef = 0;
    return r;
  }

  /** INC: like ADD 1 but CF is preserved. */
  inc(d: number, size: number): number {
    this.fixCF();
    const r = trunc(d + 1, size);
    this.op = OP_ADD; this.dst = d; this.src = 1; this.res = r; this.size = size; this.cin = 0;
    this.pending = ARITH & ~CF; this.undef &= CF;
    return r;
  }

  /** DEC: like SUB 1 but CF is preserved. */
  dec(d: number, size: number): number {
    this.fixCF();
    const r = trunc(d - 1, size);
    this.op = OP_SUB; this.dst = d; this.src = 1; this.res = r; this.size = size; this.cin = 0;
    this.pending = ARITH & ~CF; this.undef &= CF;
    return r;
  }

  /** AND/OR/XOR/TEST: CF=OF=0, SF/ZF/PF from the result; AF (undefined) := 0. */
  logic(r: number, size: number): number {
    this.bits &= ~(CF | OF | AF);
    this.op = OP_RESULT; this.res = r; this.size = size;
    this.pending = SF | ZF | PF; this.undef = 0;
    return r;
  }

  // ---- 64-bit producers: operands as (low uint32, high int32 or uint32) halves; they return
  // the low half of the result and leave the high half (int32) in `rh`.

  add64(dl: number, dh: number, sl: number, sh: number, c = 0): number {
    const l = dl + sl + c;
    const c0 = l > 0xffffffff ? 1 : 0;
    const rl = l >>> 0;
    const d = dh >>> 0, s = sh >>> 0;
    const r = (d + s + c0) >>> 0;
    this.op = OP_ADD | WIDE; this.dst = d; this.src = s; this.res = r; this.size = 4; this.cin = c0;
    this.lo = rl; this.lox = (dl ^ sl) >>> 0;
    this.pending = ARITH; this.undef = 0;
    this.rh = r | 0;
    return rl;
  }

  adc64(dl: number, dh: number, sl: number, sh: number): number {
    return this.add64(dl, dh, sl, sh, this.useCF());
  }

  sub64(dl: number, dh: number, sl: number, sh: number, c = 0): number {
    const l = dl - sl - c;
    const b0 = l < 0 ? 1 : 0;
    const rl = l >>> 0;
    const d = dh >>> 0, s = sh >>> 0;
    const r = (d - s - b0) >>> 0;
    this.op = OP_SUB | WIDE; this.dst = d; this.src = s; this.res = r; this.size = 4; this.cin = b0;
    this.lo = rl; this.lox = (dl ^ sl) >>> 0;
    this.pending = ARITH; this.undef = 0;
    this.rh = r | 0;
    return rl;
  }

  sbb64(dl: number, dh: number, sl: number, sh: number): number {
    return this.sub64(dl, dh, sl, sh, this.useCF());
  }

  inc64(dl: number, dh: number): number {
    this.fixCF();
    const keep = this.undef & CF;
    const r = this.add64(dl, dh, 1, 0);
    this.pending = ARITH & ~CF; this.undef = keep;
    return r;
  }

  dec64(dl: number, dh: number): number {
    this.fixCF();
    const keep = this.undef & CF;
    const r = this.sub64(dl, dh, 1, 0);
    this.pending = ARITH & ~CF; this.undef = keep;
    return r;
  }

  /** AND/OR/XOR/TEST on 64 bits (result given as halves). */
  logic64(rl: number, rh: number): number {
    this.bits &= ~(CF | OF | AF);
    this.op = OP_RESULT | WIDE; this.res = rh >>> 0; this.lo = rl >>> 0; this.size = 4;
    this.pending = SF | ZF | PF; this.undef = 0;
    this.rh = rh | 0;
    return rl >>> 0;
  }

  /** 64-bit result(): SF/ZF/PF from the halves, CF/OF/AF explicit. */
  result64(rl: number, rh: number, cf: number, of: number, af: number): void {
    this.bits = (this.bits & ~(CF | OF | AF)) | (cf ? CF : 0) | (of ? OF : 0) | (af ? AF : 0);
    this.op = OP_RESULT | WIDE; this.res = rh >>> 0; this.lo = rl >>> 0; this.size = 4;
    this.pending = SF | ZF | PF; this.undef = 0;
  }

  /**
   * SF/ZF/PF from `r`; CF, OF, AF set explicitly (each argument 0 or 1).
   * Used by shifts, multiplications and the BCD adjustments.
   */
  result(r: number, size: number, cf: number, of: number, af: number): void {
    this.bits = (this.bits & ~(CF | OF | AF)) | (cf ? CF : 0) | (of ? OF : 0) | (af ? AF : 0);
    this.op = OP_RESULT; this.res = r; this.size = size;
    this.pending = SF | ZF | PF; this.undef = 0;
  }

  /** Set the flags in `mask` to the corresponding bits of `value`; others keep their values. */
  assign(mask: number, value: number): void {
    // the other pending flags still follow from (op, dst, src, res...), which stay as they are
    this.pending &= ~mask;
    this.bits = (this.bits & ~mask) | (value & mask);
    this.undef &= ~mask;
  }

  setCF(v: number): void {
    this.pending &= ~CF;
    this.undef &= ~CF;
    this.bits = v ? this.bits | CF : this.bits & ~CF;
  }

  // ---------------------------------------------------------------- consumers (0 or 1)

  cf(): number {
    if ((this.pending & CF) === 0) return this.bits & CF;
    const op = this.op & 3;
    if (op === OP_ADD) return this.res < this.dst || (this.cin !== 0 && this.res === this.dst) ? 1 : 0;
    if (op === OP_SUB) return this.dst < this.src || (this.cin !== 0 && this.dst === this.src) ? 1 : 0;
    return 0;
  }

  zf(): number {
    if ((this.pending & ZF) === 0) return (this.bits >> 6) & 1;
    if (this.op & WIDE) return (this.res | this.lo) === 0 ? 1 : 0;
    return this.res === 0 ? 1 : 0;
  }

  sf(): number {
    if ((this.pending & SF) === 0) return (this.bits >> 7) & 1;
    return (this.res >>> (this.size * 8 - 1)) & 1;
  }

  pf(): number {
    if ((this.pending & PF) === 0) return (this.bits >> 2) & 1;
    return PARITY[(this.op & WIDE ? this.lo : this.res) & 0xff]! >> 2;
  }

  af(): number {
    if ((this.pending & AF) === 0) return (this.bits >> 4) & 1;
    if (this.op & WIDE) return ((this.lox ^ this.lo) >> 4) & 1;
    return ((this.dst ^ this.src ^ this.res) >> 4) & 1;
  }

  of(): number {
    if ((this.pending & OF) === 0) return (this.bits >> 11) & 1;
    const sh = this.size * 8 - 1;
    const op = this.op & 3;
    if (op === OP_ADD) return (((this.dst ^ this.res) & (this.src ^ this.res)) >>> sh) & 1;
    if (op === OP_SUB) return (((this.dst ^ this.src) & (this.dst ^ this.res)) >>> sh) & 1;
    return 0;
  }

  /** Report a guest read of the flags in `mask` (those undefined go to onUndefUse). */
  use(mask: number): void {
    const u = this.undef & mask;
    if (u !== 0 && this.onUndefUse !== null) this.onUndefUse(u);
  }

  /** CF as an instruction's input (ADC, SBB, RCL, CMC...). */
  useCF(): number {
    if (this.undef & CF) this.use(CF);
    return this.cf();
  }

  /** AF as an instruction's input (DAA, DAS, AAA, AAS). */
  useAF(): number {
    if (this.undef & AF) this.use(AF);
    return this.af();
  }

  /** Evaluate condition code cc (0-15, the low nibble of Jcc/SETcc/CMOVcc). */
  cond(cc: number): boolean {
    switch (cc) {
      case 0x0: return this.condO();
      case 0x1: return this.condNO();
      case 0x2: return this.condB();
      case 0x3: return this.condAE();
      case 0x4: return this.condE();
      case 0x5: return this.condNE();
      case 0x6: return this.condBE();
      case 0x7: return this.condA();
      case 0x8: return this.condS();
      case 0x9: return this.condNS();
      case 0xa: return this.condP();
      case 0xb: return this.condNP();
      case 0xc: return this.condL();
      case 0xd: return this.condGE();
      case 0xe: return this.condLE();
      default: return this.condG();
    }
  }

  // The condition codes one by one, each reading only its flags: compiled blocks call these
  // for a code known when they are built (V8 does not fold cond()'s switch on a constant, and
  // a Jcc through it costs a fifth of a tight loop: npm run bench:replay).
  condO(): boolean { if ((this.undef & OF) !== 0) this.use(OF); return this.of() !== 0; }
  condNO(): boolean { if ((this.undef & OF) !== 0) this.use(OF); return this.of() === 0; }
  condB(): boolean { if ((this.undef & CF) !== 0) this.use(CF); return this.cf() !== 0; }
  condAE(): boolean { if ((this.undef & CF) !== 0) this.use(CF); return this.cf() === 0; }
  condE(): boolean { if ((this.undef & ZF) !== 0) this.use(ZF); return this.zf() !== 0; }
  condNE(): boolean { if ((this.undef & ZF) !== 0) this.use(ZF); return this.zf() === 0; }
  condBE(): boolean { if ((this.undef & (CF | ZF)) !== 0) this.use(CF | ZF); return (this.cf() | this.zf()) !== 0; }
  condA(): boolean { if ((this.undef & (CF | ZF)) !== 0) this.use(CF | ZF); return (this.cf() | this.zf()) === 0; }
  condS(): boolean { if ((this.undef & SF) !== 0) this.use(SF); return this.sf() !== 0; }
  condNS(): boolean { if ((this.undef & SF) !== 0) this.use(SF); return this.sf() === 0; }
  condP(): boolean { if ((this.undef & PF) !== 0) this.use(PF); return this.pf() !== 0; }
  condNP(): boolean { if ((this.undef & PF) !== 0) this.use(PF); return this.pf() === 0; }
  condL(): boolean { if ((this.undef & (SF | OF)) !== 0) this.use(SF | OF); return this.sf() !== this.of(); }
  condGE(): boolean { if ((this.undef & (SF | OF)) !== 0) this.use(SF | OF); return this.sf() === this.of(); }
  condLE(): boolean { if ((this.undef & (ZF | SF | OF)) !== 0) this.use(ZF | SF | OF); return this.zf() !== 0 || this.sf() !== this.of(); }
  condG(): boolean { if ((this.undef & (ZF | SF | OF)) !== 0) this.use(ZF | SF | OF); return this.zf() === 0 && this.sf() === this.of(); }

  /** Compute all pending flags into `bits`. */
  materialize(): void {
    const p = this.pending;
    if (p === 0) return;
    let v = this.bits & ~p;
    if (p & CF) v |= this.cf();
    if (p & PF) v |= this.pf() << 2;
    if (p & AF) v |= this.af() << 4;
    if (p & ZF) v |= this.zf() << 6;
    if (p & SF) v |= this.sf() << 7;
    if (p & OF) v |= this.of() << 11;
    this.bits = v;
    this.pending = 0;
  }

  /** Full RFLAGS value (low 32 bits). */
  get(): number {
    this.materialize();
    return this.bits;
  }

  /** Replace RFLAGS (caller passes a value with reserved bits already fixed). */
  set(v: number): void {
    this.bits = v;
    this.pending = 0;
    this.undef = 0;
  }

  private fixCF(): void {
    if (this.pending & CF) {
      this.bits = (this.bits & ~CF) | this.cf();
      this.pending &= ~CF;
    }
  }
}

/**
 * The producers' results without the flags: what a compiled block runs for an instruction whose
 * flags a later one overwrites before anything can read them (blocks.ts). Same arguments and
 * results (`rh` included) as the LazyFlags methods of the same names; test/replay/x86/flags.test.ts
 * checks that they agree.
 */
export class ResultsOnly {
  rh = 0;
  add(d: number, s: number, size: number): number { return trunc(d + s, size); }
  sub(d: number, s: number, size: number): number { return trunc(d - s, size); }
  inc(d: number, size: number): number { return trunc(d + 1, size); }
  dec(d: number, size: number): number { return trunc(d - 1, size); }
  logic(r: number): number { return r; }
  add64(dl: number, dh: number, sl: number, sh: number): number {
    const l = dl + sl;
    this.rh = (dh + sh + (l > 0xffffffff ? 1 : 0)) | 0;
    return l >>> 0;
  }
  sub64(dl: number, dh: number, sl: number, sh: number): number {
    const l = dl - sl;
    this.rh = (dh - sh - (l < 0 ? 1 : 0)) | 0;
    return l >>> 0;
  }
  inc64(dl: number, dh: number): number { return this.add64(dl, dh, 1, 0); }
  dec64(dl: number, dh: number): number { return this.sub64(dl, dh, 1, 0); }
  logic64(rl: number, rh: number): number {
    this.rh = rh | 0;
    return rl >>> 0;
  }
  result(): void {}
  result64(): void {}
  assign(): void {}
  setCF(): void {}
}
