// The history ring entries of looping compiled blocks, kept as runs until someone reads the ring.
//
// A looping block (blocks.ts) does not write the ring per instruction: where it leaves, faults
// or logs a flag read it has a run to add — `count` instructions ending with its instruction
// `k`, numbered `sq`, its address tables read backwards. Writing the run at once costs as much
// as the instructions (a short loop leaves its block every few dozen of them), and most of it is
// overwritten before anybody looks: the ring holds the last HIST instructions only. So runs are
// queued here and written by the first reader (Machine.flushHistory), newest first, down to the
// oldest sequence number the ring still holds. Writing late is exact: the entries written
// directly meanwhile (interpreter, blocks that do not loop) have newer numbers in the same
// window of HIST, so they sit in other slots of the ring.

export class PendingHistory {
  /** runs queued (at most `size`: older ones are out of the ring anyway) */
  n = 0;
  private pos = 0;
  private readonly lins: Array<readonly number[]>;
  private readonly ats: Array<readonly number[]>;
  private readonly hi: Int32Array;
  private readonly k: Int32Array;
  private readonly sq: Float64Array;
  private readonly count: Float64Array;

  constructor(private readonly size: number) {
    this.lins = new Array<readonly number[]>(size).fill([]);
    this.ats = new Array<readonly number[]>(size).fill([]);
    this.hi = new Int32Array(size);
    this.k = new Int32Array(size);
    this.sq = new Float64Array(size);
    this.count = new Float64Array(size);
  }

  /** Queue the run of `count` instructions ending with the block's instruction `k`, numbered `sq`. */
  push(lins: readonly number[], ats: readonly number[], ripHi: number, k: number, sq: number, count: number): void {
    const p = (this.pos = (this.pos + 1) & (this.size - 1));
    this.lins[p] = lins;
    this.ats[p] = ats;
    this.hi[p] = ripHi;
    this.k[p] = k;
    this.sq[p] = sq;
    this.count[p] = count;
    if (this.n < this.size) this.n++;
  }

  /** Write the queued runs into the ring (as of sequence number `seq`) and empty the queue. */
  flushInto(histLin: Float64Array, histAt: Float64Array, histHi: Int32Array, seq: number): void {
    const oldest = seq - histLin.length;
    for (let p = this.pos; this.n > 0; this.n--, p = (p - 1) & (this.size - 1)) {
      let sq = this.sq[p]!;
      if (sq <= oldest) break;
      const lins = this.lins[p]!, ats = this.ats[p]!, hi = this.hi[p]!, n = lins.length;
      let k = this.k[p]!;
      for (let j = this.count[p]!; j > 0 && sq > oldest; j--, sq--) {
        // (numbers taken back since, by an instruction that did not run, are not written)
        if (sq <= seq) {
          const h = sq & (histLin.length - 1);
          histLin[h] = lins[k]!;
          histAt[h] = ats[k]!;
          histHi[h] = hi;
        }
        k = k === 0 ? n - 1 : k - 1;
      }
    }
    this.n = 0;
  }

  /** Forget the queued runs (the ring was replaced: a restore). */
  clear(): void {
    this.n = 0;
  }
}
