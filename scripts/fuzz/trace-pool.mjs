// Worker pool of the reader fuzzer: runs cases in worker threads (scripts/fuzz/trace-worker.mjs)
// under a watchdog. A case that takes longer than `hangMs` is a HANG: its worker is terminated
// (that stops even an endless synchronous loop), the case is reported, the cases queued behind
// it go to a fresh worker. A worker that dies (uncaught exception, unhandled rejection, out of
// memory) is a CRASH of the case it was running.
import { Worker } from 'node:worker_threads';
import { join } from 'node:path';

const BATCH = 16;

export class Pool {
  /**
   * {root, seeds, runSeed, ops, workers, hangMs, tmpDir, detail, strictTruncation}: `seeds` as prepareSeed returns
   * them (copied to every worker).
   */
  constructor(opts) {
    this.o = opts;
    this.slots = [];
    /** Ids to run before the source's (cases behind a hung one, evaluate() requests). */
    this.urgent = [];
    this.source = undefined;
    this.onResult = undefined;
    this.waiters = new Map();
    this.generation = 0;
    /** Cases that went over hangMs once, and how many. */
    this.retried = new Set();
    this.slow = 0;
    this.done = undefined;
    this.verifyName = undefined;
    this.hasScanner = true;
    this.seedData = opts.seeds.map((s) => ({ ...s, bytes: new Uint8Array(s.bytes) }));
  }

  async start() {
    const ready = [];
    for (let i = 0; i < this.o.workers; i++) ready.push(this.spawn(i));
    await Promise.all(ready);
    this.timer = setInterval(() => this.watch(), 50);
  }

  spawn(i) {
    const progress = new SharedArrayBuffer(16);
    const gen = this.generation++;
    const w = new Worker(new URL('./trace-worker.mjs', import.meta.url), {
      workerData: {
        root: this.o.root,
        seeds: this.seedData,
        runSeed: this.o.runSeed,
        ops: this.o.ops,
        file: join(this.o.tmpDir, `reader-w${i}-${gen}.vmtrace`),
        progress,
        detail: this.o.detail ?? false,
        strictTruncation: this.o.strictTruncation ?? false,
      },
      resourceLimits: { maxOldGenerationSizeMb: 2048 },
      stdout: false,
      stderr: false,
    });
    const slot = { i, w, prog: new Float64Array(progress), pending: [], ready: false, dead: false };
    this.slots[i] = slot;
    return new Promise((resolve, reject) => {
      w.on('message', (m) => {
        if (m.type === 'ready') {
          slot.ready = true;
          this.verifyName = m.verifyName;
          this.hasScanner = m.hasScanner;
          resolve();
          this.feed(slot);
        } else if (m.type === 'result') {
          slot.pending.shift();
          this.deliver(m.id, m.result);
          this.feed(slot);
        }
      });
      w.on('error', (e) => {
        if (!slot.ready) reject(new Error(`reader fuzz worker failed to start: ${e?.stack ?? e}`));
        else this.died(slot, e);
      });
      w.on('exit', (code) => {
        if (!slot.ready) reject(new Error(`reader fuzz worker exited at start (code ${code})`));
        else if (!slot.dead && !this.closing) this.died(slot, new Error(`the worker thread exited (code ${code})`));
      });
    });
  }

  /** Tops up a worker's queue (two batches in flight, so it never waits for the next). */
  feed(slot) {
    if (!slot.ready || slot.dead || slot.pending.length > BATCH) return;
    const ids = [];
    while (ids.length < BATCH) {
      const id = this.urgent.length ? this.urgent.shift() : this.source?.();
      if (id === undefined) break;
      ids.push(id);
    }
    if (ids.length) {
      slot.pending.push(...ids);
      slot.w.postMessage({ ids });
    }
    this.checkDone();
  }

  feedAll() {
    for (const s of this.slots) this.feed(s);
  }

  deliver(id, result) {
    const key = String(id);
    const waiter = this.waiters.get(key);
    if (waiter) {
      this.waiters.delete(key);
      waiter(result);
    } else this.onResult?.(id, result);
  }

  checkDone() {
    if (!this.done) return;
    if (this.urgent.length || this.slots.some((s) => s.pending.length)) return;
    if (this.source && !this.sourceEnded) return;
    const d = this.done;
    this.done = undefined;
    d();
  }

  /**
   * A case over hangMs is run again in a fresh worker with ten times the time (a loaded machine
   * can stall a case: that is "slow", counted, not a failure); over that too it is a HANG.
   */
  watch() {
    const now = Date.now();
    for (const slot of this.slots) {
      if (slot.dead || !slot.pending.length) continue;
      const started = slot.prog[0];
      const id = slot.pending[0];
      const again = this.retried.has(String(id));
      const limit = again ? this.o.hangMs * 10 : this.o.hangMs;
      if (started > 0 && now - started > limit) {
        if (!again) {
          this.retried.add(String(id));
          this.slow++;
          this.replace(slot, undefined);
        } else this.replace(slot, { status: 'hang', problem: `no answer after ${this.o.hangMs} ms, nor after ${limit} ms in a fresh worker: the worker was terminated` });
      }
    }
  }

  died(slot, e) {
    if (slot.dead) return;
    this.replace(slot, { status: 'crash', problem: `the reader killed its worker thread: ${e?.message ?? e}`, stack: e?.stack });
  }

  /** Reports the case `slot` is running as `result` (undefined: runs it again), gives its queue to a fresh worker. */
  replace(slot, result) {
    slot.dead = true;
    const [id, ...rest] = slot.pending;
    slot.pending = [];
    void slot.w.terminate();
    this.urgent.unshift(...rest);
    if (id !== undefined) {
      if (result) this.deliver(id, result);
      else this.urgent.unshift(id); // run it again (see watch())
    }
    this.spawn(slot.i).then(
      () => this.feedAll(),
      (e) => {
        process.stderr.write(`fuzz: ${e.message}\n`);
        process.exit(2);
      },
    );
  }

  /**
   * Runs the ids `source()` returns (undefined: no more) and calls onResult(id, result) for each.
   * Resolves when every case has been answered.
   */
  run(source, onResult) {
    return new Promise((resolve) => {
      this.sourceEnded = false;
      this.source = () => {
        const id = source();
        if (id === undefined) this.sourceEnded = true;
        return id;
      };
      this.onResult = onResult;
      this.done = () => {
        this.source = undefined;
        this.onResult = undefined;
        resolve();
      };
      this.feedAll();
      this.checkDone();
    });
  }

  /** The result of one case (ahead of the queue). */
  evaluate(id) {
    return new Promise((resolve) => {
      this.waiters.set(String(id), resolve);
      this.urgent.push(id);
      this.feedAll();
    });
  }

  async close() {
    this.closing = true;
    clearInterval(this.timer);
    await Promise.all(this.slots.map((s) => s.w.terminate()));
  }
}
