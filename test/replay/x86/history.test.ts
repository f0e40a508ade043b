// The history ring written late (history.ts): whatever the mix of entries written at once (the
// interpreter) and runs queued by looping blocks, the ring read after a flush is the one written
// eagerly, entry by entry.

import { describe, expect, test } from 'vitest';
import { PendingHistory } from '../../../src/replay/x86/history.js';

const HIST = 256;

/** A small deterministic PRNG (xorshift32). */
function prng(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13; x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5; x >>>= 0;
    return x;
  };
}

class Rings {
  readonly lin = new Float64Array(HIST).fill(-1);
  readonly at = new Float64Array(HIST);
  readonly hi = new Int32Array(HIST);
  write(sq: number, lin: number, at: number, hi: number): void {
    const h = sq & (HIST - 1);
    this.lin[h] = lin;
    this.at[h] = at;
    this.hi[h] = hi;
  }
}

describe('history written late', () => {
  test.each([1, 2, 3, 4, 5, 6, 7, 8])('random interpreter steps and block runs (seed %i): the same ring as written eagerly', (seed) => {
    const rnd = prng(seed * 7919);
    const eager = new Rings();
    const late = new Rings();
    const pending = new PendingHistory(HIST);
    // blocks: address tables of 1 to 40 instructions
    const blocks = Array.from({ length: 6 }, (_, b) => {
      const n = 1 + (rnd() % 40);
      return { lins: Array.from({ length: n }, (_, k) => b * 1000 + k), ats: Array.from({ length: n }, (_, k) => b * 1e6 + k * 3), hi: b % 3 };
    });
    let seq = 0;
    for (let step = 0; step < 3000; step++) {
      const what = rnd() % 10;
      if (what < 4) {
        // the interpreter: one instruction, written at once in both
        seq++;
        eager.write(seq, seq * 5, seq * 7, 1);
        late.write(seq, seq * 5, seq * 7, 1);
      } else if (what < 9) {
        // a looping block: `count` instructions ending with its instruction k, its tables read backwards
        const b = blocks[rnd() % blocks.length]!;
        const n = b.lins.length;
        const k = rnd() % n;
        const count = 1 + (rnd() % (what === 8 ? 700 : 30));
        let j = (k - count + 1) % n;
        if (j < 0) j += n;
        for (let c = 0; c < count; c++, j = (j + 1) % n) eager.write(seq + 1 + c, b.lins[j]!, b.ats[j]!, b.hi);
        seq += count;
        pending.push(b.lins, b.ats, b.hi, k, seq, count);
      } else {
        pending.flushInto(late.lin, late.at, late.hi, seq);
        expect(pending.n).toBe(0);
        expect({ step, lin: [...late.lin], at: [...late.at], hi: [...late.hi] }).toEqual({ step, lin: [...eager.lin], at: [...eager.at], hi: [...eager.hi] });
      }
    }
    pending.flushInto(late.lin, late.at, late.hi, seq);
    expect([...late.lin]).toEqual([...eager.lin]);
    expect([...late.at]).toEqual([...eager.at]);
    expect([...late.hi]).toEqual([...eager.hi]);
  });

  test('a run whose last instructions were taken back is written without them', () => {
    const ring = new Rings();
    const pending = new PendingHistory(HIST);
    pending.push([10, 11, 12], [20, 21, 22], 0, 2, 5, 5); // numbers 1..5: instructions 0 1 2 ... read backwards from 2
    pending.flushInto(ring.lin, ring.at, ring.hi, 4); // number 5 did not run
    expect([...ring.lin.slice(1, 6)]).toEqual([11, 12, 10, 11, -1]);
  });
});
