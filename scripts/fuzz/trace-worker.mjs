// Worker thread of the reader fuzzer (scripts/fuzz/trace-pool.mjs): evaluates the cases it is
// sent, one at a time, and marks the start of each in shared memory so that the pool's watchdog
// can tell a hang (an endless loop cannot be interrupted from inside) and terminate the thread.
import { parentPort, workerData } from 'node:worker_threads';

import { caseFor } from './trace-mutate.mjs';
import { evaluate, loadLib } from './trace-oracle.mjs';

const { root, runSeed, ops, file, progress, detail, strictTruncation } = workerData;
const seeds = workerData.seeds.map((s) => ({ ...s, bytes: Buffer.from(s.bytes.buffer, s.bytes.byteOffset, s.bytes.byteLength) }));
/** [start time (ms since the epoch) of the case in progress, 0 when idle; cases started]. */
const prog = new Float64Array(progress);
const lib = await loadLib(root);

const OK = new Set(['corrupt', 'truncated', 'identical']);
const queue = [];
let running = false;

async function loop() {
  running = true;
  while (queue.length) {
    const id = queue.shift();
    prog[1]++;
    prog[0] = Date.now();
    let result;
    try {
      const c = caseFor(seeds, runSeed, id, ops);
      const alt = typeof id === 'number' ? id : Number(id.split(':')[2]);
      result = await evaluate(lib, seeds[c.seedNo], c.bytes, file, alt, detail, strictTruncation);
      result.seedNo = c.seedNo;
      result.ops = c.ops;
      result.desc = c.desc;
      result.size = c.bytes.length;
      if (OK.has(result.status) && !detail) {
        result = { status: result.status, info: result.info, seedNo: c.seedNo, ops: c.ops };
      }
    } catch (e) {
      result = { status: 'crash', problem: `the fuzzer itself failed: ${e?.message ?? e}`, stack: e?.stack };
    }
    prog[0] = 0;
    parentPort.postMessage({ type: 'result', id, result });
  }
  running = false;
}

parentPort.on('message', (m) => {
  queue.push(...m.ids);
  if (!running) void loop();
});
parentPort.postMessage({ type: 'ready', verifyName: lib.verifyName, hasScanner: lib.hasScanner });
