// Shifts and rotates (group 2), SHLD/SHRD. The count is masked to 5 bits; a masked count of
// 0 changes neither the operand nor the flags. Undefined flags are computed as AMD Zen 3 CPUs
// do (AF = 1 after a shift, OF as for a 1-bit operation computed on the final result, SHR/SAR:
// 0), then replaced by the trace's flag model (flag-model.ts).

import * as K from '../constants.js';
import { U } from '../flag-model.js';
import { jitHelpers } from '../jit.js';
import type { Exec } from '../opdef.js';

// (local copies of the constants: constants.ts says why)
const { AF, ARITH, CF, OF, sext } = K;

function mask(s: number): number {
  return s === 1 ? 0xff : s === 2 ? 0xffff : 0xffffffff;
}

export const rol: Exec = (c, i) => {
  const d = c.rd1(i);
  const cnt = c.rd2(i) & 31;
  if (cnt === 0) return;
  const before = c.flagsBefore();
  const s = i.s1, w = s * 8;
  const rc = cnt % w;
  const r = rc === 0 ? d : (((d << rc) | (d >>> (w - rc))) & mask(s)) >>> 0;
  c.wr1(i, r);
  const cf = r & 1;
  c.fl.assign(CF | OF, cf | ((((r >>> (w - 1)) & 1) ^ cf) << 11));
  if (cnt !== 1) c.undefFlags(U.rol, s, OF, before, r, d, cnt);
};

export const ror: Exec = (c, i) => {
  const d = c.rd1(i);
  const cnt = c.rd2(i) & 31;
  if (cnt === 0) return;
  const before = c.flagsBefore();
  const s = i.s1, w = s * 8;
  const rc = cnt % w;
  const r = rc === 0 ? d : (((d >>> rc) | (d << (w - rc))) & mask(s)) >>> 0;
  c.wr1(i, r);
  const cf = (r >>> (w - 1)) & 1;
  c.fl.assign(CF | OF, cf | ((cf ^ ((r >>> (w - 2)) & 1)) << 11));
  if (cnt !== 1) c.undefFlags(U.ror, s, OF, before, r, d, cnt);
};

export const rcl: Exec = (c, i) => {
  const d = c.rd1(i);
  const cnt = c.rd2(i) & 31;
  if (cnt === 0) return;
  const before = c.flagsBefore();
  const s = i.s1, w = s * 8;
  const rc = w === 8 ? cnt % 9 : w === 16 ? cnt % 17 : cnt;
  const oldCf = c.fl.useCF();
  let r = d;
  let cf = oldCf;
  if (rc !== 0) {
    const right = w + 1 - rc; // bits of d that wrap around through CF
    r = ((d << rc) | (oldCf << (rc - 1)) | (right >= 32 ? 0 : d >>> right)) & mask(s);
    r >>>= 0;
    cf = (d >>> (w - rc)) & 1;
  }
  c.wr1(i, r);
  c.fl.assign(CF | OF, cf | ((((r >>> (w - 1)) & 1) ^ cf) << 11));
  if (cnt !== 1) c.undefFlags(U.rcl, s, OF, before, r, d, cnt);
};

export const rcr: Exec = (c, i) => {
  const d = c.rd1(i);
  const cnt = c.rd2(i) & 31;
  if (cnt === 0) return;
  const before = c.flagsBefore();
  const s = i.s1, w = s * 8;
  const rc = w === 8 ? cnt % 9 : w === 16 ? cnt % 17 : cnt;
  const oldCf = c.fl.useCF();
  let r = d;
  let cf = oldCf;
  if (rc !== 0) {
    const left = w + 1 - rc;
    r = ((d >>> rc) | (oldCf << (w - rc)) | (left >= 32 ? 0 : d << left)) & mask(s);
    r >>>= 0;
    cf = (d >>> (rc - 1)) & 1;
  }
  c.wr1(i, r);
  // MSB(r) ^ MSB-1(r): for a count of 1 this equals the SDM's MSB(DEST) ^ CF before rotation
  const of = ((r >>> (w - 1)) ^ (r >>> (w - 2))) & 1;
  c.fl.assign(CF | OF, cf | (of << 11));
  if (cnt !== 1) c.undefFlags(U.rcr, s, OF, before, r, d, cnt);
};

export const shl: Exec = (c, i) => {
  const d = c.rd1(i);
  const cnt = c.rd2(i) & 31;
  if (cnt === 0) return;
  const before = c.flagsBefore();
  const s = i.s1, w = s * 8;
  const r = ((d << cnt) & mask(s)) >>> 0;
  const cf = cnt <= w ? (d >>> (w - cnt)) & 1 : 0;
  c.wr1(i, r);
  c.fl.result(r, s, cf, ((r >>> (w - 1)) & 1) ^ cf, 1);
  c.undefFlags(U.shl, s, AF | (cnt > 1 ? OF : 0) | (cnt >= w ? CF : 0), before, r, d, cnt);
};

export const shr: Exec = (c, i) => {
  const d = c.rd1(i);
  const cnt = c.rd2(i) & 31;
  if (cnt === 0) return;
  const before = c.flagsBefore();
  const s = i.s1, w = s * 8;
  const r = d >>> cnt;
  const cf = (d >>> (cnt - 1)) & 1;
  c.wr1(i, r);
  c.fl.result(r, s, cf, cnt === 1 ? (d >>> (w - 1)) & 1 : 0, 1);
  c.undefFlags(U.shr, s, AF | (cnt > 1 ? OF : 0) | (cnt >= w ? CF : 0), before, r, d, cnt);
};

export const sar: Exec = (c, i) => {
  const d = c.rd1(i);
  const cnt = c.rd2(i) & 31;
  if (cnt === 0) return;
  const before = c.flagsBefore();
  const s = i.s1;
  const sd = sext(d, s);
  const r = ((sd >> cnt) & mask(s)) >>> 0;
  const cf = (sd >> (cnt - 1)) & 1;
  c.wr1(i, r);
  c.fl.result(r, s, cf, 0, 1);
  c.undefFlags(U.sar, s, AF | (cnt > 1 ? OF : 0), before, r, d, cnt);
};

/** SHLD Ev,Gv,Ib/CL */
export const shld: Exec = (c, i) => {
  const d = c.rd1(i);
  const src = c.rd2(i);
  const cnt = c.rd3(i) & 31;
  if (cnt === 0) return;
  const before = c.flagsBefore();
  const s = i.s1, w = s * 8;
  let r: number;
  let cf: number;
  if (cnt > w) {
    // 16-bit operand, count 17..31: result undefined; AMD shifts DEST:SRC:SRC
    r = ((src << (cnt - 16)) | (src >>> (32 - cnt))) & 0xffff;
    cf = (src >>> (32 - cnt)) & 1;
  } else {
    r = (((d << cnt) | (w - cnt >= 32 ? 0 : src >>> (w - cnt))) & mask(s)) >>> 0;
    if (cnt === w) r = src;
    cf = (d >>> (w - cnt)) & 1;
  }
  c.wr1(i, r);
  // OF: sign change for a count of 1 (= MSB(r) ^ CF); AMD computes the same for larger counts
  const of = (cnt === w ? 0 : (r >>> (w - 1)) & 1) ^ cf;
  c.fl.result(r, s, cf, of, 1);
  c.undefFlags(cnt > w ? U.shldx : U.shld, s, cnt > w ? ARITH : AF | (cnt > 1 ? OF : 0), before, r, d, src);
};

/** SHRD Ev,Gv,Ib/CL */
export const shrd: Exec = (c, i) => {
  const d = c.rd1(i);
  const src = c.rd2(i);
  const cnt = c.rd3(i) & 31;
  if (cnt === 0) return;
  const before = c.flagsBefore();
  const s = i.s1, w = s * 8;
  let r: number;
  let cf: number;
  if (cnt > w) {
    r = ((src >>> (cnt - 16)) | (src << (32 - cnt))) & 0xffff;
    cf = (src >>> (cnt - 17)) & 1;
  } else {
    r = (((d >>> cnt) | (src << (w - cnt))) & mask(s)) >>> 0;
    if (cnt === w) r = src;
    cf = (d >>> (cnt - 1)) & 1;
  }
  c.wr1(i, r);
  // OF: sign change for a count of 1 (= MSB(r) ^ MSB-1(r)); AMD computes the same for larger counts
  const of = ((r >>> (w - 1)) ^ (r >>> (w - 2))) & 1;
  c.fl.result(r, s, cf, of, 1);
  c.undefFlags(cnt > w ? U.shrdx : U.shrd, s, cnt > w ? ARITH : AF | (cnt > 1 ? OF : 0), before, r, d, src);
};

jitHelpers({ mask }, [rol, ror, rcl, rcr, shl, shr, sar]);
