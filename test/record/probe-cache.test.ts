// The probe cache: one probe per host configuration, a corrupt entry probed afresh.
import { mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import { cachedProbe } from '../../src/record/probe-cache.js';

describe('probe cache', () => {
  const saved = { dir: process.env.VMTRACE_CACHE_DIR, off: process.env.VMTRACE_PROBE_CACHE };
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'vmtrace-cache-'));
    process.env.VMTRACE_CACHE_DIR = dir;
    delete process.env.VMTRACE_PROBE_CACHE;
  });
  afterEach(() => {
    if (saved.dir === undefined) delete process.env.VMTRACE_CACHE_DIR;
    else process.env.VMTRACE_CACHE_DIR = saved.dir;
    if (saved.off !== undefined) process.env.VMTRACE_PROBE_CACHE = saved.off;
  });

  it('probes once per key, then answers from the cache', () => {
    let probes = 0;
    const probe = () => ({ n: ++probes });
    expect(cachedProbe('test:a', probe)).toEqual({ n: 1 });
    expect(cachedProbe('test:a', probe)).toEqual({ n: 1 });
    expect(cachedProbe('test:b', probe)).toEqual({ n: 2 });
    expect(readdirSync(dir)).toHaveLength(2);
  });

  it('probes afresh over a corrupt entry, and not at all with VMTRACE_PROBE_CACHE=0', () => {
    cachedProbe('test:c', () => 1);
    for (const f of readdirSync(dir)) writeFileSync(join(dir, f), '{not json');
    expect(cachedProbe('test:c', () => 2)).toBe(2);
    expect(cachedProbe('test:c', () => 3)).toBe(2);
    process.env.VMTRACE_PROBE_CACHE = '0';
    expect(cachedProbe('test:c', () => 4)).toBe(4);
  });
});
