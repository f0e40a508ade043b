// The golden-trace regression workflow as a library (`vmtrace test` and the vitest helper use it):
// find the committed goldens (traces/*.vmtrace paired with guests/<image>), check each one by
// recording it afresh under KVM and diffing against the golden and/or by replaying the golden in
// the interpreter, and rewrite goldens atomically. docs/golden.md describes the workflow.
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, statSync, unlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';

import { diffTraces, failsUnder, formatDiff, hostDependentSummary, type DiffResult } from '../inspect/diff.js';
import type { ConsoleSink } from '../record/devices/console.js';
import type { ArchName } from '../arch/index.js';
import { KvmUnavailableError, openKvm } from '../record/kvm.js';
import { resolveDevices } from '../record/devices/catalog.js';
import { loadCpuModelFile } from '../boot/cpu-model.js';
import { CpuidRejectedError } from '../record/machine.js';
import { prepareBoot, record, type RecordOptions, type RecordResult } from '../record/recorder.js';
import { replayTrace, type ReplayResult } from '../replay/engine.js';
import { formatDivergence, summaryLine, toJson } from '../replay/report.js';
import { FORMAT_MAJOR, FORMAT_MINOR, type BootMode, type CpuChoice, type CpuidEntry, type EndReason, type TraceHeader } from '../trace/format.js';
import { openTrace } from '../trace/reader.js';

/** Schema name of the `vmtrace test --json` objects (docs/golden.md). */
export const GOLDEN_SCHEMA = 'vmtrace-test/1';

/** Default bound on one re-recording (a changed guest may never halt). */
export const DEFAULT_RECORD_TIMEOUT_MS = 60_000;

/** A problem with the golden set itself (no traces/ directory, unknown name): bad usage. */
export class GoldenError extends Error {
  override name = 'GoldenError';
}

export interface Golden {
  /** The trace's file name without `.vmtrace`: `tiny_kernel`, `grp_alu.step`. */
  name: string;
  /** Path of the golden trace (`<root>/traces/<name>.vmtrace`). */
  trace: string;
  /** Path of the guest image it was recorded from (`<root>/guests/<guest.name>`). */
  guest: string;
  /** The image's file name (`tiny_kernel.bin`). */
  guestName: string;
  /** A --step golden (one record per instruction). */
  step: boolean;
  /** The golden's header (undefined when it cannot be read: see `error`). */
  header?: TraceHeader;
  /** Why the golden's header cannot be read: such a golden always fails. */
  error?: string;
}

export interface GoldenSet {
  root: string;
  goldens: Golden[];
  /** Traces under traces/ without a guest image to pair with: not checked. */
  unpaired: Array<{ trace: string; reason: string }>;
  /** Guest images (guests/*.bin) that no golden was recorded from. */
  guestsWithoutGolden: string[];
}

// ---- finding goldens -----------------------------------------------------------------------

/**
 * Every `<root>/traces/*.vmtrace` whose guest image exists under `<root>/guests/`: the image the
 * header's `guest.name` names, else `<stem>.bin` with a `.step` suffix dropped from the stem.
 * Goldens in a subdirectory (`traces/arm64/`) take their images from the same subdirectory of
 * guests/ first (`guests/arm64/`): guests of another architecture reuse the x86 guests' names.
 */
export async function findGoldens(root: string): Promise<GoldenSet> {
  const tracesDir = join(root, 'traces');
  const guestsDir = join(root, 'guests');
  if (!existsSync(tracesDir) || !statSync(tracesDir).isDirectory()) {
    throw new GoldenError(`${tracesDir} is not a directory: goldens live in traces/<guest>.vmtrace next to guests/ (use --root DIR)`);
  }
  const set: GoldenSet = { root, goldens: [], unpaired: [], guestsWithoutGolden: [] };
  const allImages = guestImages(guestsDir);
  const traceFiles = (sub: string) =>
    readdirSync(join(tracesDir, sub), { withFileTypes: true })
      .filter((f) => f.isFile() && f.name.endsWith('.vmtrace') && !f.name.startsWith('.'))
      .map((f) => (sub ? `${sub}/${f.name}` : f.name));
  const subdirs = readdirSync(tracesDir, { withFileTypes: true }).filter((d) => d.isDirectory() && !d.name.startsWith('.'));
  const files = [...traceFiles(''), ...subdirs.flatMap((d) => traceFiles(d.name))].sort();
  for (const file of files) {
    const trace = join(tracesDir, file);
    const name = file.slice(0, -'.vmtrace'.length);
    const sub = file.includes('/') ? file.slice(0, file.indexOf('/')) : '';
    const images = sub ? new Map([...allImages, ...guestImages(join(guestsDir, sub))]) : allImages;
    const stemGuest = basename(name).replace(/\.step$/, '');
    let header: TraceHeader | undefined;
    let error: string | undefined;
    try {
      const t = await openTrace(trace);
      header = t.header;
      await t.close();
    } catch (e) {
      error = (e as Error).message;
    }
    const candidates = [
      ...(header ? [basename(header.guest.name)] : []),
      `${stemGuest}.bin`,
      stemGuest,
    ].filter((c) => c && c !== '.' && c !== '..');
    const guestName = candidates.find((c) => images.has(c));
    if (!guestName) {
      set.unpaired.push({ trace, reason: `no guest image ${join(guestsDir, candidates[0]!)}` });
      continue;
    }
    set.goldens.push({
      name,
      trace,
      guest: images.get(guestName)!,
      guestName,
      step: header ? header.semantics.singleStep : name.endsWith('.step'),
      ...(header ? { header } : {}),
      ...(error ? { error } : {}),
    });
  }
  if (existsSync(guestsDir)) {
    const used = new Set(set.goldens.filter((g) => !g.name.includes('/')).map((g) => g.guestName));
    set.guestsWithoutGolden = readdirSync(guestsDir)
      .filter((f) => f.endsWith('.bin') && !used.has(f))
      .sort();
  }
  return set;
}

/** Files under guests/ (subdirectories too) by file name; the shallowest one wins. */
function guestImages(dir: string): Map<string, string> {
  const found = new Map<string, string>();
  const queue = [dir];
  while (queue.length) {
    const d = queue.shift()!;
    let entries;
    try {
      entries = readdirSync(d, { withFileTypes: true });
    } catch {
      continue;
    }
    for (const e of entries.sort((a, b) => (a.name < b.name ? -1 : 1))) {
      if (e.name.startsWith('.')) continue;
      if (e.isDirectory()) queue.push(join(d, e.name));
      else if (e.isFile() && !found.has(e.name)) found.set(e.name, join(d, e.name));
    }
  }
  return found;
}

/**
 * The goldens `names` select: a golden's name (`grp_alu.step`, also `traces/grp_alu.step.vmtrace`)
 * selects that golden; otherwise a guest name (`tiny_kernel`, `tiny_kernel.bin`) selects every
 * golden of that guest. No names: all. Throws GoldenError for a name that selects nothing.
 */
export function selectGoldens(set: GoldenSet, names: readonly string[]): Golden[] {
  if (names.length === 0) return set.goldens;
  const chosen = new Set<Golden>();
  for (const raw of names) {
    // `arm64/sieve` (or traces/arm64/sieve.vmtrace): a golden of a subdirectory, or its guest's goldens there
    const n = raw.replace(/^(\.\/)?(traces|guests)\//, '').replace(/\.vmtrace$/, '');
    const dir = n.includes('/') ? n.slice(0, n.lastIndexOf('/') + 1) : '';
    const guest = n.slice(dir.length);
    const byName = set.goldens.filter((g) => g.name === n);
    const inDir = set.goldens.filter((g) => (dir ? g.name.startsWith(dir) : !g.name.includes('/')));
    const hits = byName.length ? byName : inDir.filter((g) => g.guestName === guest || g.guestName.replace(/\.(bin|elf)$/, '') === guest);
    if (!hits.length) {
      const orphan = set.unpaired.find((u) => basename(u.trace) === `${n}.vmtrace`);
      if (orphan) throw new GoldenError(`${orphan.trace}: ${orphan.reason}: nothing to test it against`);
      throw new GoldenError(`no golden trace named '${raw}' under ${join(set.root, 'traces')} (goldens: ${set.goldens.map((g) => g.name).join(', ') || 'none'})`);
    }
    for (const g of hits) chosen.add(g);
  }
  return set.goldens.filter((g) => chosen.has(g));
}

// ---- KVM -----------------------------------------------------------------------------------

export interface KvmProbe {
  available: boolean;
  /** Why recording is not possible here (the KvmUnavailableError message); '' when available. */
  reason: string;
}

/** Whether this machine can record (the native addon loads and the KVM device opens). */
export function probeKvm(): KvmProbe {
  try {
    openKvm();
    return { available: true, reason: '' };
  } catch (e) {
    if (e instanceof KvmUnavailableError) return { available: false, reason: e.message };
    return { available: false, reason: (e as Error).message };
  }
}

// ---- recording like a golden ---------------------------------------------------------------

/**
 * What to record, in the terms of `vmtrace record`'s options (all optional: its defaults apply).
 * The trace header's `options` map holds these under the same names.
 */
export interface RecordSpec {
  /** Boot mode; undefined: detected from the image (--mode auto). */
  mode?: BootMode;
  /** Guest RAM in bytes (--mem). */
  mem?: number;
  /** Flat images: load address (--load). */
  load?: number;
  /** CS:IP in real mode, a linear address otherwise (--entry). */
  entry?: { cs: number; ip: number } | number;
  /** ELF images: start at this symbol (--entry-symbol). */
  entrySymbol?: string;
  /** The device set, `--devices` syntax (`console@0xf1,uart16550`); default: vmtrace's default set. */
  devices?: string;
  /** The console's port (--console-port). */
  consolePort?: number;
  /** --strict. */
  strict?: boolean;
  /** Bytes the guest reads (--input). */
  input?: Uint8Array;
  /** --max-exits. */
  maxExits?: number;
  /** --timeout, ms (recorded in the header). */
  timeoutMs?: number;
  /** --step. */
  step?: boolean;
  /** false: --no-timestamps. */
  timestamps?: boolean;
  /** --cpu: 'builtin' (default), 'host' or a model file's path. Ignored when `cpuid` is given. */
  cpu?: string;
  /**
   * Exact CPUID entries for the vCPU (a golden's `boot.cpuid`, whatever its `cpu.source`), with
   * the header `cpu` and `options.cpu` the re-recording notes (the golden's).
   */
  cpuid?: { entries: CpuidEntry[]; cpu: CpuChoice; option?: unknown };
}

const BOOT_MODES: readonly string[] = ['real', 'protected', 'long'];

function isEntry(v: unknown): v is RecordSpec['entry'] {
  if (typeof v === 'number') return Number.isSafeInteger(v);
  const e = v as { cs?: unknown; ip?: unknown } | null;
  return typeof e === 'object' && e !== null && typeof e.cs === 'number' && typeof e.ip === 'number';
}

/** The port devices a header lists, in `--devices` syntax. */
export function devicesFromHeader(header: TraceHeader): string {
  return header.devices.filter((d) => d.kind === 'port').map((d) => `${d.name}@0x${d.base.toString(16)}`).join(',') || 'none';
}

/**
 * How to record a guest again exactly as the trace's recording was made, from its header: the
 * `options` map (mem, load, entry, input bytes, step, mode, devices, strict, limits — whatever
 * the recording used) and, for what an older recorder did not note there, the header itself
 * (memory size, load address, boot mode, attached devices). `problems` lists what cannot be
 * reproduced (the recording is then not comparable).
 */
export function specFromHeader(header: TraceHeader): { spec: RecordSpec; problems: string[] } {
  const o = (header.options ?? {}) as Record<string, unknown>;
  const num = (k: string) => (typeof o[k] === 'number' && Number.isFinite(o[k]) ? (o[k] as number) : undefined);
  const problems: string[] = [];
  const mode = typeof o.mode === 'string' && BOOT_MODES.includes(o.mode) ? (o.mode as BootMode) : (header.boot.mode as BootMode);
  // Older recorders only made flat real-mode recordings and did not note the format.
  const flat = typeof o.format === 'string' ? o.format === 'flat' : mode === 'real';
  const spec: RecordSpec = {
    mode,
    mem: num('mem') ?? header.memory[0]?.size,
    devices: typeof o.devices === 'string' ? o.devices : devicesFromHeader(header),
    strict: o.strict === true,
    input: o.input instanceof Uint8Array ? new Uint8Array(o.input) : new Uint8Array(0),
    step: typeof o.step === 'boolean' ? o.step : header.semantics.singleStep,
  };
  if (flat) spec.load = num('load') ?? header.guest.loadAddress;
  if (isEntry(o.entry)) spec.entry = o.entry;
  if (typeof o.entrySymbol === 'string') spec.entrySymbol = o.entrySymbol;
  if (o.timestamps === false) spec.timestamps = false;
  const maxExits = num('maxExits');
  if (maxExits !== undefined) spec.maxExits = maxExits;
  const timeoutMs = num('timeoutMs');
  if (timeoutMs !== undefined) spec.timeoutMs = timeoutMs;
  // The CPUID the golden's guest saw, exactly (a 1.0 trace's is the recording host's).
  spec.cpuid = {
    entries: header.boot.cpuid.map((e) => ({ ...e })),
    cpu: header.cpu ?? { source: 'host', name: 'host' },
    option: o.cpu ?? header.cpu?.source ?? 'host',
  };
  const inputBytes = num('inputBytes');
  if (!(o.input instanceof Uint8Array) && inputBytes !== undefined && inputBytes > 0) {
    problems.push(`the golden's header does not store the ${inputBytes} input bytes its recording used (options.inputBytes without options.input)`);
  }
  return { spec, problems };
}

/** The record() options for `spec`; throws ImageError / DeviceSpecError for what cannot be booted. */
export function recordOptionsFor(spec: RecordSpec, image: Uint8Array, imageName: string, output: string): RecordOptions {
  const boot = prepareBoot({
    image,
    imageName,
    ...(spec.mode !== undefined ? { mode: spec.mode } : {}),
    ...(spec.mem !== undefined ? { memBytes: spec.mem } : {}),
    ...(spec.load !== undefined ? { load: spec.load } : {}),
    ...(spec.entry !== undefined ? { entry: spec.entry } : {}),
    ...(spec.entrySymbol !== undefined ? { entrySymbol: spec.entrySymbol } : {}),
  });
  const devices = resolveDevices({
    ...(spec.devices !== undefined ? { devices: spec.devices } : {}),
    ...(spec.consolePort !== undefined ? { consolePort: spec.consolePort } : {}),
  });
  return {
    image,
    imageName,
    output,
    boot,
    devices,
    strict: spec.strict ?? false,
    input: spec.input ?? new Uint8Array(0),
    maxExits: spec.maxExits ?? Infinity,
    timeoutMs: spec.timeoutMs ?? Infinity,
    singleStep: spec.step ?? false,
    timestamps: spec.timestamps ?? true,
    quiet: true,
    ...(spec.cpuid
      ? { cpuidEntries: spec.cpuid.entries, cpuidNote: { cpu: spec.cpuid.cpu, option: spec.cpuid.option } }
      : spec.cpu === undefined || spec.cpu === 'builtin' || spec.cpu === 'host'
        ? { cpu: (spec.cpu ?? 'builtin') as 'builtin' | 'host' }
        : { cpu: { path: spec.cpu, ...loadCpuModelFile(spec.cpu) } }),
  };
}

class NullConsole implements ConsoleSink {
  put(): void {}
  flush(): void {}
}

export interface RecordLikeOptions {
  /** Bound on the recording's wall time, without touching the recorded options (default 60 s). */
  timeoutMs?: number;
  /** Set `stop` to end the recording early (Ctrl-C); `name`: the signal that asked. */
  signal?: { stop: boolean; name?: NodeJS.Signals };
  /** Receives the guest's console output (default: discarded). */
  console?: ConsoleSink;
  /**
   * recordLike(): 'stored' (default) gives the guest the CPUID stored in the header; 'choice'
   * makes it anew from the header's CPU choice (builtin for a 1.0 trace, which noted none) —
   * what updating a golden does, so that it follows the current builtin model.
   */
  cpuid?: 'stored' | 'choice';
  /** Store host times or not, whatever the header says (goldens: false, see recordAndDiff). */
  timestamps?: boolean;
  /** Records written so far, about every 20 ms (a progress display). */
  onProgress?: (records: number) => void;
}

/** How far checking a golden is, for a progress display (`vmtrace test` on a terminal). */
export type GoldenProgress = (p: { phase: 'record' | 'diff' | 'replay'; records: number; exits?: number; bytes?: number }) => void;

export interface RecordLikeResult extends RecordResult {
  /** True when `timeoutMs` (not the guest) ended the recording. */
  timedOut: boolean;
}

/**
 * Records `image` into `output` as `spec` says, bounded by `opts.timeoutMs` (a stop request,
 * so the trace's own options are not changed by the bound).
 */
export async function recordSpec(spec: RecordSpec, image: Uint8Array, imageName: string, output: string, opts: RecordLikeOptions = {}): Promise<RecordLikeResult> {
  const deadline = Date.now() + (opts.timeoutMs ?? DEFAULT_RECORD_TIMEOUT_MS);
  let timedOut = false;
  const outer = opts.signal;
  const signal = {
    get stop(): boolean {
      if (outer?.stop) return true;
      if (Date.now() >= deadline) timedOut = true;
      return timedOut;
    },
    get name(): NodeJS.Signals | undefined {
      return outer?.stop ? outer.name : undefined;
    },
  };
  const result = await record({
    ...recordOptionsFor(spec, image, imageName, output),
    console: opts.console ?? new NullConsole(),
    signal,
    ...(opts.onProgress ? { onProgress: opts.onProgress } : {}),
  });
  return { ...result, timedOut: timedOut && result.endReason === 'interrupted' };
}

/** Records `image` into `output` with the options the header says its recording used. */
export async function recordLike(header: TraceHeader, image: Uint8Array, imageName: string, output: string, opts: RecordLikeOptions = {}): Promise<RecordLikeResult> {
  const { spec, problems } = specFromHeader(header);
  if (problems.length) throw new GoldenError(`cannot re-record like this golden: ${problems.join('; ')}`);
  if (opts.cpuid === 'choice') {
    const source = header.cpu?.source ?? 'builtin';
    // A model file's entries are the stored ones (the file may be gone); builtin and host are made anew.
    if (source !== 'file') {
      delete spec.cpuid;
      spec.cpu = source;
    }
  }
  if (opts.timestamps !== undefined) spec.timestamps = opts.timestamps;
  return recordSpec(spec, image, imageName, output, opts);
}

// ---- checking ------------------------------------------------------------------------------

export interface FieldDifference {
  field: string;
  expected: string;
  actual: string;
}

export interface RecordCheck {
  /** Time to record afresh and diff, ms. */
  ms: number;
  recordMs: number;
  diffMs: number;
  endReason: EndReason | null;
  message: string;
  timedOut: boolean;
  /**
   * True when the fresh recording equals the golden but for host-dependent differences (host
   * facts, timestamps, undefined flags: docs/golden.md); with `exact`, also in those.
   */
  identical: boolean;
  diff: DiffResult | null;
  /** Host-dependent differences the diff counted (diff.hostDependent; timestamps included). */
  hostDependent: number;
  /** Those other than recording times (createdAt, timestamps) in brief, else null: the result line's note. */
  hostNote: string | null;
  /** Header options the fresh recording did not reproduce (the recorder lacks an option). */
  options: FieldDifference[];
  /** Where the fresh recording was kept (failures only), else null. */
  fresh: string | null;
  error: string | null;
}

export interface ReplayCheck {
  ms: number;
  result: ReplayResult | null;
  error: string | null;
}

export type GoldenStatus = 'pass' | 'fail' | 'updated' | 'unchanged';

export interface GoldenResult {
  golden: Golden;
  /** check: `vmtrace test`; update: `vmtrace test --update`. */
  mode: 'check' | 'update';
  /** pass/fail when checking; updated/unchanged (or fail: the golden was not written) with --update. */
  status: GoldenStatus;
  /** False when anything failed (for `updated`: the new golden does not replay). */
  ok: boolean;
  /** Records (exits, or instructions for --step) and exits of the golden, when known. */
  records: number | null;
  exits: number | null;
  /** The fresh recording and its diff against the golden; null when not recorded. */
  record: RecordCheck | null;
  /** Replay of the fresh recording (with KVM), else of the golden (after --update: of the new golden); null when not replayed. */
  replay: ReplayCheck | null;
  /** Set when the guest image no longer matches the golden's (sha256 of each). */
  imageChanged: { expected: string; actual: string } | null;
  /** --update: how the previous golden differed from the new one (first divergence). */
  previous: string | null;
  /** Short reasons for failure, shown on the result line. */
  problems: string[];
  ms: number;
}

export interface CheckOptions {
  /** Record afresh under KVM and diff against the golden (needs KVM). */
  kvm: boolean;
  /** Replay the golden in the interpreter (default true). */
  replay?: boolean;
  /** Directory for the fresh recordings (default: a new temporary directory). */
  workDir?: string;
  /** Keep the fresh recording when it differs (default true); it is always deleted when it matches. */
  keepFailed?: boolean;
  /** Bound on each recording, ms (default 60 s). */
  timeoutMs?: number;
  signal?: { stop: boolean };
  /** Host-dependent differences fail the golden too (`vmtrace test --exact`). Default false. */
  exact?: boolean;
  /** How far recording, diffing and replaying are (a progress display). */
  onProgress?: GoldenProgress;
}

const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

function base(golden: Golden, mode: GoldenResult['mode']): GoldenResult {
  return {
    golden,
    mode,
    status: 'pass',
    ok: true,
    records: null,
    exits: null,
    record: null,
    replay: null,
    imageChanged: null,
    previous: null,
    problems: [],
    ms: 0,
  };
}

function fail(r: GoldenResult, problem: string): void {
  r.ok = false;
  if (r.status === 'pass') r.status = 'fail';
  r.problems.push(problem);
}

/** The first difference in a few words: `differs at record #4: io.data, rax`. */
export function firstDifference(d: DiffResult): string {
  const first = d.first;
  if (first === null) {
    const header = d.header.filter((x) => failsUnder(x.kind, d.options));
    return header.length ? `header differs: ${header.slice(0, 3).map((x) => x.field).join(', ')}` : 'identical';
  }
  const fields = [...first.fields, ...first.registers].map((x) => x.field);
  const shown = fields.slice(0, 4).join(', ') + (fields.length > 4 ? `, … ${fields.length - 4} more` : '');
  if (first.where === 'record') return `differs at record #${first.index}: ${shown}`;
  if (first.where === 'length') {
    const longer = d.expected.records > d.actual.records ? 'golden' : 'fresh recording';
    return `length differs: the ${longer} goes on at record #${first.index}`;
  }
  return `${first.description}: ${shown}`;
}

function stableJson(v: unknown): string {
  return JSON.stringify(v, (_k, x: unknown) => {
    if (typeof x === 'bigint') return `0x${x.toString(16)}`;
    if (x instanceof Uint8Array) return `bytes:${Buffer.from(x).toString('hex')}`;
    if (x && typeof x === 'object' && !Array.isArray(x) && !(x as { type?: string }).type) {
      return Object.fromEntries(Object.entries(x as Record<string, unknown>).sort(([p], [q]) => (p < q ? -1 : p > q ? 1 : 0)));
    }
    if (x && typeof x === 'object' && (x as { type?: string }).type === 'Buffer' && Array.isArray((x as { data?: unknown }).data)) {
      return `bytes:${Buffer.from((x as { data: number[] }).data).toString('hex')}`;
    }
    return x;
  });
}

/** Options both headers note with different values (the recorder did not do as asked). */
export function optionDifferences(golden: TraceHeader, fresh: TraceHeader): FieldDifference[] {
  const a = golden.options ?? {};
  const b = fresh.options ?? {};
  const out: FieldDifference[] = [];
  // Keys only one side has come from another recorder version (a newer one notes more); what
  // they change shows in the trace diff. Keys both have must agree, but for `timestamps`: goldens
  // are recorded without (recordAndDiff), whatever an older golden says.
  for (const key of Object.keys(a)) {
    if (!(key in b) || key === 'timestamps') continue;
    const x = stableJson(a[key]);
    const y = stableJson(b[key]);
    if (x !== y) out.push({ field: `options.${key}`, expected: x, actual: y });
  }
  return out;
}

/**
 * Whether the fresh recording gave its guest another CPUID (or CPU choice) than the golden did:
 * host-dependent to the diff (not a failure), but a reason to rewrite the golden on update.
 */
export function cpuidChanged(diff: DiffResult): boolean {
  return diff.header.some((d) => d.field === 'boot.cpuid' || d.field === 'cpu');
}

async function readHeader(file: string): Promise<TraceHeader> {
  const t = await openTrace(file);
  await t.close();
  return t.header;
}

/** The architecture this machine's KVM runs (vmtrace records x86_64 and aarch64 guests). */
export function hostArch(): ArchName {
  return process.arch === 'arm64' ? 'aarch64' : 'x86_64';
}

async function replayGolden(file: string, onProgress?: GoldenProgress): Promise<ReplayCheck> {
  const t0 = performance.now();
  try {
    const result = await replayTrace(file, onProgress ? { onProgress: (p) => onProgress({ phase: 'replay', records: p.records, exits: p.exits, bytes: p.offset }) } : {});
    return { ms: performance.now() - t0, result, error: null };
  } catch (e) {
    return { ms: performance.now() - t0, result: null, error: (e as Error).message };
  }
}

function noteReplay(r: GoldenResult, check: ReplayCheck): void {
  r.replay = check;
  const res = check.result;
  if (!res) return fail(r, `replay failed: ${check.error}`);
  if (r.records === null && res.ok) {
    r.records = res.matched;
    r.exits = res.exits;
  }
  if (!res.ok) fail(r, `replay diverged at record #${res.divergence!.index} (${res.divergence!.kind})`);
}

function readImage(golden: Golden): Uint8Array {
  return readFileSync(golden.guest);
}

/**
 * Checks one golden: with `kvm`, records its guest afresh with the golden's options and diffs
 * the two traces; unless `replay: false`, replays the fresh trace (without KVM: the golden) in the interpreter. Without `kvm`
 * a guest image that changed since the golden was recorded is a failure (replay alone cannot
 * see it). Never throws for a failing golden: the result says what failed.
 */
/**
 * Records the golden's guest afresh into `output` with the golden's options and diffs the result
 * against the golden, filling `check` (timings, how the run ended, the diff) and the counts of `r`.
 */
async function recordAndDiff(
  golden: Golden,
  header: TraceHeader,
  image: Uint8Array,
  output: string,
  check: RecordCheck,
  r: GoldenResult,
  opts: { timeoutMs?: number; signal?: { stop: boolean }; cpuid?: 'stored' | 'choice'; exact?: boolean; onProgress?: GoldenProgress },
): Promise<{ rec: RecordLikeResult; diff: DiffResult }> {
  const t0 = performance.now();
  let rec: RecordLikeResult;
  const progress = opts.onProgress;
  try {
    rec = await recordLike(header, image, golden.guestName, output, {
      timeoutMs: opts.timeoutMs,
      signal: opts.signal,
      cpuid: opts.cpuid,
      // Goldens store no host times: they are never compared, and without them a re-recording
      // is the same file but for the header's host facts (and a lot smaller).
      timestamps: false,
      ...(progress ? { onProgress: (records: number) => progress({ phase: 'record', records }) } : {}),
    });
  } catch (e) {
    if (!(e instanceof CpuidRejectedError)) throw e;
    const cpu = header.cpu ? `${header.cpu.source} CPU '${header.cpu.name}'` : "recording host's CPU";
    throw new GoldenError(`${golden.name}: this host's KVM rejects the CPUID stored in the golden (${cpu}), so it cannot be re-recorded identically here: ${e.message}`);
  }
  check.recordMs = performance.now() - t0;
  check.endReason = rec.endReason;
  check.message = rec.message;
  check.timedOut = rec.timedOut;
  const td = performance.now();
  progress?.({ phase: 'diff', records: rec.records });
  const diff = await diffTraces(golden.trace, output, { exact: opts.exact ?? false });
  check.diff = diff;
  check.hostDependent = diff.hostDependent;
  check.hostNote = hostDependentSummary(diff, { recordingTimes: false }) || null;
  check.options = optionDifferences(header, await readHeader(output));
  check.diffMs = performance.now() - td;
  check.identical = diff.identical && check.options.length === 0;
  r.records = diff.expected.records;
  r.exits = diff.expected.exits;
  return { rec, diff };
}

function emptyRecordCheck(): RecordCheck {
  return {
    ms: 0,
    recordMs: 0,
    diffMs: 0,
    endReason: null,
    message: '',
    timedOut: false,
    identical: false,
    diff: null,
    hostDependent: 0,
    hostNote: null,
    options: [],
    fresh: null,
    error: null,
  };
}

export async function checkGolden(golden: Golden, opts: CheckOptions): Promise<GoldenResult> {
  const t0 = performance.now();
  const r = base(golden, 'check');
  const header = golden.header;
  if (!header) {
    fail(r, `unreadable golden: ${golden.error}`);
    r.ms = performance.now() - t0;
    return r;
  }
  let image: Uint8Array;
  try {
    image = readImage(golden);
  } catch (e) {
    fail(r, `cannot read ${golden.guest}: ${(e as Error).message}`);
    r.ms = performance.now() - t0;
    return r;
  }
  // KVM records only its own architecture: other goldens are checked by replay alone here
  const kvm = opts.kvm && header.arch === hostArch();
  const actualSha = sha256(image);
  if (actualSha !== header.guest.sha256) {
    r.imageChanged = { expected: header.guest.sha256, actual: actualSha };
    if (!kvm) fail(r, `${golden.guest} changed since the golden was recorded (re-record: vmtrace test --update ${golden.name}${header.arch === hostArch() ? '' : ` on an ${header.arch} host`})`);
  }

  if (kvm) {
    const ownDir = opts.workDir === undefined;
    const dir = opts.workDir ?? mkdtempSync(join(tmpdir(), 'vmtrace-fresh-'));
    const fresh = join(dir, `${golden.name}.vmtrace`);
    const check = emptyRecordCheck();
    r.record = check;
    const tr = performance.now();
    try {
      const { rec, diff } = await recordAndDiff(golden, header, image, fresh, check, r, opts);
      if (rec.timedOut) fail(r, `the recording did not finish within ${fmtMs(opts.timeoutMs ?? DEFAULT_RECORD_TIMEOUT_MS)}`);
      else if (rec.endReason === 'interrupted') fail(r, 'the recording was interrupted');
      if (!diff.identical) fail(r, firstDifference(diff));
      if (check.options.length) fail(r, `the recorder did not reproduce ${check.options.map((o) => o.field).join(', ')}`);
    } catch (e) {
      check.recordMs ||= performance.now() - tr;
      check.error = (e as Error).message;
      fail(r, `recording failed: ${check.error}`);
    }
    check.ms = performance.now() - tr;
    // The fresh recording is what the interpreter must follow now: replay it rather than the
    // golden (the two are the same trace but for timestamps when the diff passed).
    if ((opts.replay ?? true) && check.error === null && existsSync(fresh)) noteReplay(r, await replayGolden(fresh, opts.onProgress));
    const keep = !check.identical && (opts.keepFailed ?? true) && existsSync(fresh);
    if (keep) check.fresh = fresh;
    else rmSync(fresh, { force: true });
    if (ownDir && !keep) rmSync(dir, { recursive: true, force: true });
  }

  if ((opts.replay ?? true) && r.replay === null) noteReplay(r, await replayGolden(golden.trace, opts.onProgress));
  if (r.records === null) await countFromFooter(r);
  r.ms = performance.now() - t0;
  return r;
}

/** Records and exits of the golden from its footer (when neither diff nor replay gave them). */
async function countFromFooter(r: GoldenResult): Promise<void> {
  try {
    const t = await openTrace(r.golden.trace);
    try {
      let records = 0;
      let exits = 0;
      for await (const batch of t.batches()) {
        records += batch.length;
        for (const rec of batch) if (rec.kind === 'exit') exits++;
      }
      r.records = t.footer?.records ?? records;
      r.exits = t.footer?.exits ?? exits;
    } finally {
      await t.close();
    }
  } catch {
    // unreadable: the result already says so
  }
}

export interface UpdateOptions {
  /** Replay the new golden afterwards (default true): a golden must stay replayable. */
  replay?: boolean;
  /** Bound on each recording, ms (default 60 s). */
  timeoutMs?: number;
  signal?: { stop: boolean };
  /** How far recording and replaying are (a progress display). */
  onProgress?: GoldenProgress;
}

/** Why a golden's file should be written anew though its content is the same: an older trace format, or timestamps. */
function staleLayout(h: TraceHeader): string | undefined {
  if (h.format.major < FORMAT_MAJOR || (h.format.major === FORMAT_MAJOR && h.format.minor < FORMAT_MINOR)) return `trace format ${h.format.major}.${h.format.minor} (now ${FORMAT_MAJOR}.${FORMAT_MINOR})`;
  if ((h.options as { timestamps?: unknown }).timestamps !== false) return 'host timestamps (goldens are recorded without them)';
  return undefined;
}

/**
 * Re-records a golden (needs KVM) with its recorded options into `traces/.<name>.tmp-<pid>`; if
 * the new trace differs from the golden (timestamps and host facts ignored), renames it over the
 * golden (`updated`), else deletes it and leaves the golden alone (`unchanged`). A recording that
 * did not finish (timeout, Ctrl-C, error) never replaces a golden (`fail`).
 */
export async function updateGolden(golden: Golden, opts: UpdateOptions = {}): Promise<GoldenResult> {
  const t0 = performance.now();
  const r = base(golden, 'update');
  const header = golden.header;
  if (!header) {
    // An unreadable golden cannot say how it was recorded: record it again by hand.
    fail(r, `unreadable golden (re-record it with vmtrace record): ${golden.error}`);
    r.ms = performance.now() - t0;
    return r;
  }
  if (header.arch !== hostArch()) {
    // recorded under another architecture's KVM (aarch64: npm run test:arm64 -- --update-goldens): kept, and replayed
    const checked = await checkGolden(golden, { ...opts, kvm: false });
    return { ...checked, mode: 'update', status: checked.ok ? 'unchanged' : 'fail' };
  }
  const tmp = join(dirname(golden.trace), `.${golden.name}.tmp-${process.pid}`);
  const check = emptyRecordCheck();
  r.record = check;
  try {
    const { rec, diff } = await recordAndDiff(golden, header, readImage(golden), tmp, check, r, { ...opts, cpuid: 'choice' });
    if (rec.timedOut) fail(r, `the recording did not finish within ${fmtMs(opts.timeoutMs ?? DEFAULT_RECORD_TIMEOUT_MS)}: golden not updated`);
    else if (rec.endReason === 'interrupted' || rec.endReason === 'error') fail(r, `the recording ended early (${rec.message}): golden not updated`);
    else if (check.options.length) fail(r, `the recorder did not reproduce ${check.options.map((o) => o.field).join(', ')}: golden not updated`);
    else if (check.identical && !cpuidChanged(diff) && !staleLayout(header)) r.status = 'unchanged';
    else {
      // The CPUID table is host-dependent to the diff, but a golden whose guest CPU changed is
      // rewritten; so is one in an older trace format or with timestamps (goldens have none).
      r.previous = check.identical && !cpuidChanged(diff) ? staleLayout(header)! : diff.identical ? 'the guest CPUID (header boot.cpuid / cpu)' : firstDifference(diff);
      r.records = diff.actual.records;
      r.exits = diff.actual.exits;
      renameSync(tmp, golden.trace); // atomic: readers see the old golden or the new one
      r.status = 'updated';
      golden.header = await readHeader(golden.trace);
      golden.step = golden.header.semantics.singleStep;
    }
  } catch (e) {
    check.error = (e as Error).message;
    fail(r, `recording failed: ${check.error}: golden not updated`);
  } finally {
    check.ms = performance.now() - t0;
    if (existsSync(tmp)) unlinkSync(tmp);
  }
  if (r.status !== 'fail' && (opts.replay ?? true)) noteReplay(r, await replayGolden(golden.trace, opts.onProgress));
  r.ms = performance.now() - t0;
  return r;
}

// ---- reporting -----------------------------------------------------------------------------

export function fmtMs(ms: number): string {
  if (ms >= 1000) return `${(ms / 1000).toFixed(1)} s`;
  return ms < 10 ? `${ms.toFixed(1)} ms` : `${ms.toFixed(0)} ms`;
}

/** `13 exits`, or for --step goldens `3147 records (679 exits)`. */
export function countText(r: GoldenResult): string {
  if (r.records === null || r.exits === null) return '';
  return r.golden.step ? `${r.records} records (${r.exits} exits)` : `${r.exits} exits`;
}

const LABEL: Record<GoldenStatus, string> = { pass: 'PASS', fail: 'FAIL', updated: 'UPDATED', unchanged: 'UNCHANGED' };

/** Widths for aligned result lines. */
export interface LineLayout {
  status: number;
  name: number;
  count: number;
}

export function lineLayout(goldens: readonly Golden[], update: boolean): LineLayout {
  return { status: update ? 9 : 4, name: Math.max(4, ...goldens.map((g) => g.name.length)), count: 26 };
}

/**
 * One line per golden: `PASS  tiny_kernel  13 exits  record+diff 20 ms, replay 5 ms`. A failed
 * part says why after its timing.
 */
export function formatGoldenLine(r: GoldenResult, layout: LineLayout = { status: 4, name: r.golden.name.length, count: 0 }): string {
  const checking = r.mode === 'check';
  const label = !r.ok && r.status !== 'fail' ? `${LABEL[r.status]}!` : LABEL[r.status];
  const parts: string[] = [];
  if (!r.golden.header) parts.push(`unreadable golden: ${r.golden.error}`);
  if (r.imageChanged && !r.record) parts.push('guest image changed since the golden was recorded');
  const rec = r.record;
  if (rec) {
    let s = `${checking ? 'record+diff' : 'record'} ${fmtMs(rec.ms)}`;
    if (rec.error) s += `: ${rec.error}`;
    else if (rec.timedOut) s += ': did not finish in time';
    else if (checking && rec.diff && !rec.diff.identical) s += `: ${firstDifference(rec.diff)}`;
    else if (rec.options.length) s += `: options not reproduced (${rec.options.map((o) => o.field).join(', ')})`;
    else if (rec.endReason === 'interrupted') s += ': interrupted';
    if (!checking && r.status === 'fail') s += ': golden not updated';
    parts.push(s);
  }
  if (r.replay) {
    let s = `replay ${fmtMs(r.replay.ms)}`;
    const res = r.replay.result;
    if (!res) s += `: ${r.replay.error}`;
    else if (!res.ok) s += `: DIVERGED at record #${res.divergence!.index} (${res.divergence!.kind})`;
    parts.push(s);
  }
  const was = r.previous ? `  (was: ${r.previous})` : '';
  // Host-dependent differences that did not fail: a note, so that they are seen and counted.
  const host = rec?.hostNote && rec.identical ? `  (host-dependent, not failures: ${rec.hostNote})` : '';
  const count = countText(r);
  return `${label.padEnd(layout.status)}  ${r.golden.name.padEnd(layout.name)}  ${count.padEnd(layout.count)}  ${parts.join(', ')}${was}${host}`.trimEnd();
}

/** The full report of a failed golden: the diff (formatDiff) and/or the replay divergence. */
export function formatGoldenReport(r: GoldenResult): string {
  if (r.ok) return '';
  const g = r.golden;
  const L: string[] = [];
  const title = (what: string) => L.push(`${'='.repeat(8)} ${LABEL[r.status]} ${g.name}: ${what}`);
  if (!g.header) {
    title(`the golden ${g.trace} cannot be read`);
    L.push(`  ${g.error}`);
  }
  if (r.imageChanged && !r.record) {
    title(`the guest image ${g.guest} changed since the golden ${g.trace} was recorded`);
    L.push(`  golden's image sha256  ${r.imageChanged.expected}`);
    L.push(`  current image sha256   ${r.imageChanged.actual}`);
    L.push(`  Replay uses the image stored in the golden, so it cannot see the change: re-record the golden`);
    L.push(`  where KVM is available (vmtrace test --update ${g.name}) and commit it with the guest.`);
  }
  const rec = r.record;
  if (rec) {
    if (rec.error) {
      title(`recording ${g.guest} failed`);
      L.push(`  ${rec.error}`);
    } else if (rec.diff && !rec.identical && r.mode === 'check') {
      if (!rec.diff.identical) {
        title(`the fresh recording of ${g.guest} differs from the golden ${g.trace}`);
        if (rec.timedOut) L.push(`(the recording was stopped: it did not finish in time)`);
        if (rec.fresh) L.push(`(fresh recording kept: ${rec.fresh})`);
        L.push(formatDiff(rec.diff).trimEnd());
      }
      if (rec.options.length) {
        title(`the fresh recording did not reproduce the golden's options`);
        for (const o of rec.options) L.push(`  ${o.field}: golden ${o.expected}, fresh ${o.actual}`);
      }
    } else if (r.mode === 'update' && r.status === 'fail') {
      title(r.problems.join('; '));
    }
  }
  const rp = r.replay;
  if (rp && (!rp.result || !rp.result.ok)) {
    title(`the golden ${g.trace} does not replay in the interpreter`);
    if (rp.result) {
      L.push(formatDivergence(rp.result, g.trace));
      L.push(summaryLine(rp.result));
    } else L.push(`  ${rp.error}`);
  }
  return L.join('\n');
}

export interface GoldenSummary {
  total: number;
  passed: number;
  failed: number;
  updated: number;
  unchanged: number;
  ms: number;
}

export function summarizeResults(results: readonly GoldenResult[], ms: number): GoldenSummary {
  return {
    total: results.length,
    passed: results.filter((r) => r.status === 'pass').length,
    failed: results.filter((r) => !r.ok).length,
    updated: results.filter((r) => r.status === 'updated').length,
    unchanged: results.filter((r) => r.status === 'unchanged').length,
    ms,
  };
}

/** `12 passed, 1 failed (13 goldens, 1.2 s)`; with --update `1 updated, 12 unchanged (…)`. */
export function formatSummaryLine(s: GoldenSummary, update: boolean, how: string): string {
  const parts = update
    ? [`${s.updated} updated`, `${s.unchanged} unchanged`, ...(s.failed ? [`${s.failed} failed`] : [])]
    : [`${s.passed} passed`, `${s.failed} failed`];
  return `${parts.join(', ')} (${s.total} golden${s.total === 1 ? '' : 's'}, ${how}, ${fmtMs(s.ms)})`;
}

/** The `--json` object of one golden (docs/golden.md). */
export function goldenJson(r: GoldenResult): Record<string, unknown> {
  const rec = r.record;
  const rp = r.replay;
  return {
    schema: GOLDEN_SCHEMA,
    type: 'golden',
    name: r.golden.name,
    trace: r.golden.trace,
    guest: r.golden.guest,
    step: r.golden.step,
    status: r.status,
    ok: r.ok,
    records: r.records,
    exits: r.exits,
    ms: round(r.ms),
    problems: r.problems,
    imageChanged: r.imageChanged,
    previous: r.previous,
    record: rec && {
      ms: round(rec.ms),
      recordMs: round(rec.recordMs),
      diffMs: round(rec.diffMs),
      endReason: rec.endReason,
      message: rec.message,
      timedOut: rec.timedOut,
      identical: rec.identical,
      firstDifference: rec.diff && !rec.diff.identical ? firstDifference(rec.diff) : null,
      options: rec.options,
      fresh: rec.fresh,
      error: rec.error,
      hostDependent: rec.hostDependent,
      hostNote: rec.hostNote,
      diff: rec.diff && (!rec.diff.identical || rec.hostNote) ? rec.diff : null,
    },
    replay: rp && {
      ms: round(rp.ms),
      error: rp.error,
      ...(rp.result ? (toJson(rp.result, r.golden.trace) as Record<string, unknown>) : { ok: false }),
    },
    report: r.ok ? null : formatGoldenReport(r),
  };
}

function round(ms: number): number {
  return Math.round(ms * 100) / 100;
}
