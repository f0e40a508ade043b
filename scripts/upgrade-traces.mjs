#!/usr/bin/env node
// Rewrites traces in the current trace format (3.0) with the same content (header, records,
// footer): 1.x and 2.0 traces into compressed, checksummed 3.0. Each file is replaced only after
// its copy has been written and verified. Usage: node scripts/upgrade-traces.mjs TRACE…
// (Goldens are better re-recorded: `vmtrace test --update` rewrites those in an older format.)
import { renameSync, rmSync } from 'node:fs';

import { copyTrace } from '../dist/trace/copy.js';
import { FORMAT_MAJOR, FORMAT_MINOR } from '../dist/trace/format.js';
import { openTrace } from '../dist/trace/reader.js';
import { verifyTrace } from '../dist/trace/verify.js';

const files = process.argv.slice(2);
if (files.length === 0 || files.includes('--help')) {
  process.stderr.write('usage: node scripts/upgrade-traces.mjs TRACE… (run `npm run build` first)\n');
  process.exit(files.length === 0 ? 2 : 0);
}
const current = `${FORMAT_MAJOR}.${FORMAT_MINOR}`;
let failed = 0;
for (const file of files) {
  const before = await verifyTrace(file).catch((e) => e);
  if (before instanceof Error) {
    process.stderr.write(`upgrade-traces: ${before.message}; left as it is\n`);
    failed++;
    continue;
  }
  const t = await openTrace(file);
  const { major, minor } = t.header.format;
  await t.close();
  if (`${major}.${minor}` === current) {
    process.stderr.write(`upgrade-traces: ${file}: already format ${current}\n`);
    continue;
  }
  const tmp = `${file}.${process.pid}.upgrade`;
  try {
    await copyTrace(file, tmp, { header: (h) => ({ ...h, format: { major: FORMAT_MAJOR, minor: FORMAT_MINOR } }) });
    const after = await verifyTrace(tmp);
    if (after.records !== before.records || after.exits !== before.exits || after.complete !== before.complete) {
      throw new Error(`the copy holds ${after.records} records, ${after.exits} exits (the original ${before.records}, ${before.exits})`);
    }
    renameSync(tmp, file);
    process.stderr.write(`upgrade-traces: ${file}: ${major}.${minor} -> ${current}, ${after.records} records\n`);
  } catch (e) {
    rmSync(tmp, { force: true });
    process.stderr.write(`upgrade-traces: ${file}: ${e.message}; left as it is\n`);
    failed++;
  }
}
process.exit(failed ? 1 : 0);
