// The host probes (flag-probe.ts, step-probe.ts) take a few hundred milliseconds and their
// answer is a property of the host: it is cached on disk per host configuration, so that
// `vmtrace record` costs what the guest costs. The key covers everything the answer depends
// on (CPU identity and microcode, kernel, KVM module, what is probed, and the code of the
// probes and of the interpreter whose rules they fit); a missing, unreadable or corrupt entry
// is probed afresh. VMTRACE_PROBE_CACHE=0 disables the
// cache; VMTRACE_CACHE_DIR moves it (default $XDG_CACHE_HOME/vmtrace or ~/.cache/vmtrace).
import { createHash } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { homedir, release } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { kvmModule } from './host-facts.js';

const HERE = dirname(fileURLToPath(import.meta.url));
/** Code a probe's answer depends on: the probes (here), and the interpreter whose rules they fit. */
const INTERPRETER = join(HERE, '..', 'replay', 'x86');
const PROBE_FILES = /^(flag-probe|flag-probe-program|step-probe|probe-vm)\.(js|ts)$/;

let codeHash: string | undefined;
/** A hash of that code (.js when run from dist/, .ts under the tests), once per process. */
function probeCodeHash(): string {
  if (codeHash) return codeHash;
  const h = createHash('sha256');
  const add = (path: string): void => {
    let entries: string[] | null = null;
    try {
      entries = readdirSync(path).sort();
    } catch {
      // a file
    }
    if (entries) for (const e of entries) add(join(path, e));
    else if (/\.(js|ts)$/.test(path)) h.update(path.slice(HERE.length)).update(readFileSync(path));
  };
  for (const e of readdirSync(HERE).sort()) if (PROBE_FILES.test(e)) add(join(HERE, e));
  add(INTERPRETER);
  return (codeHash = h.digest('hex'));
}

/** The /proc/cpuinfo fields of the first CPU that identify its behaviour. */
function cpuIdentity(): string {
  let text = '';
  try {
    text = readFileSync('/proc/cpuinfo', 'utf8').split('\n\n')[0] ?? '';
  } catch {
    return 'unknown';
  }
  const field = (name: string) => new RegExp(`^${name}\\s*:\\s*(.*)$`, 'm').exec(text)?.[1]?.trim() ?? '';
  return ['vendor_id', 'cpu family', 'model', 'stepping', 'microcode', 'model name'].map(field).join('|');
}

function cacheDir(): string {
  return process.env.VMTRACE_CACHE_DIR ?? join(process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'vmtrace');
}

/**
 * `probe()`'s answer for this host, from the cache when an entry for `what` (the probe and its
 * program, e.g. a hash of it) exists, else probed and stored.
 */
export function cachedProbe<T>(what: string, probe: () => T): T {
  if (process.env.VMTRACE_PROBE_CACHE === '0') return probe();
  const key = createHash('sha256').update([probeCodeHash(), what, cpuIdentity(), release(), kvmModule()].join('\n')).digest('hex').slice(0, 32);
  const file = join(cacheDir(), `probe-${key}.json`);
  try {
    return (JSON.parse(readFileSync(file, 'utf8')) as { value: T }).value;
  } catch {
    // not cached yet (or unreadable): probe
  }
  const value = probe();
  try {
    mkdirSync(cacheDir(), { recursive: true });
    const tmp = `${file}.${process.pid}.tmp`;
    writeFileSync(tmp, JSON.stringify({ what, value }));
    renameSync(tmp, file);
  } catch {
    // a read-only home: probe again next time
  }
  return value;
}
