// vitest helpers for golden traces (`vmtrace/vitest`): record a guest from a test and compare the
// recording with a committed golden trace, failing with the `vmtrace diff` report.
//
//   import { record } from 'vmtrace/vitest';   // importing registers toMatchGoldenTrace
//   await expect(await record('guests/x.bin')).toMatchGoldenTrace('traces/x.vmtrace');
//
// Updating goldens: `vitest -u` (as for snapshots), VMTRACE_UPDATE=1, or `{ update: true }` write
// the recording over a golden that differs or does not exist, as `vmtrace test --update` does.
//
// This is the only module of vmtrace that imports vitest (a devDependency): load it from tests.
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, unlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import { expect, onTestFinished } from 'vitest';

import { cpuidChanged, probeKvm, recordSpec, specFromHeader, type KvmProbe, type RecordLikeResult, type RecordSpec } from '../golden/index.js';
import { diffTraces, formatDiff } from '../inspect/diff.js';
import type { ConsoleSink } from '../record/devices/console.js';
import { CpuidRejectedError } from '../record/machine.js';
import type { RecordResult } from '../record/recorder.js';
import { replayTrace } from '../replay/engine.js';
import type { BootMode, EndReason } from '../trace/format.js';
import { openTrace } from '../trace/reader.js';

/** `vmtrace record`'s options (RecordSpec), with `mode: 'auto'` and text input allowed. */
export interface RecordOptions extends Omit<RecordSpec, 'mode' | 'input'> {
  /** Boot mode (default 'auto': from the image, like `vmtrace record`). */
  mode?: 'auto' | BootMode;
  /** Bytes the guest reads from the console/input devices (a string is taken as UTF-8). */
  input?: string | Uint8Array;
  /**
   * A golden trace whose recorded options (mode, mem, load, entry, input, devices, --step, …) to
   * use, so that the recording is comparable with it; the options above override single fields.
   */
  like?: string;
  /**
   * Trace file to write. Default: a temporary file, deleted when the test that recorded it
   * finishes (at process exit outside a test) unless a match against it failed.
   */
  output?: string;
  /** Safety bound on the recording's wall time, not recorded in the trace (default 60 s). */
  deadlineMs?: number;
}

/** A recording made by record(): pass it to expect(...).toMatchGoldenTrace(golden). */
export interface RecordedTrace {
  /** The trace file. */
  path: string;
  /** The guest image that was recorded. */
  image: string;
  endReason: EndReason;
  /** How the run ended, in words (`guest halted (HLT)`). */
  message: string;
  /** Records written (exits, or instructions with step). */
  records: number;
  /** The guest's console output (latin1 text). */
  console: string;
  result: RecordResult;
}

class CapturedConsole implements ConsoleSink {
  readonly bytes: number[] = [];
  put(byte: number): void {
    this.bytes.push(byte);
  }
  flush(): void {}
}

// Temporary traces: one directory per process. A trace is deleted when the test that recorded it
// finishes (at process exit when recorded outside a test), unless it failed a match: the failure
// message points at it.
let tempDir: string | undefined;
const keep = new Set<string>();

function dropTemp(file: string): void {
  if (keep.has(file)) return;
  rmSync(file, { force: true });
  try {
    if (tempDir && readdirSync(tempDir).length === 0) {
      rmSync(tempDir, { recursive: true, force: true });
      tempDir = undefined;
    }
  } catch {
    // best effort
  }
}

function tempTrace(image: string): string {
  if (!tempDir || !existsSync(tempDir)) {
    const dir = mkdtempSync(join(tmpdir(), 'vmtrace-vitest-'));
    tempDir = dir;
    process.once('exit', () => {
      try {
        for (const f of readdirSync(dir)) if (!keep.has(join(dir, f))) unlinkSync(join(dir, f));
        if (readdirSync(dir).length === 0) rmSync(dir, { recursive: true, force: true });
      } catch {
        // best effort
      }
    });
  }
  let name = basename(image).replace(/\.[^.]*$/, '') || 'guest';
  for (let i = 1; existsSync(join(tempDir, `${name}.vmtrace`)); i++) name = `${basename(image).replace(/\.[^.]*$/, '')}-${i}`;
  return join(tempDir, `${name}.vmtrace`);
}

/** Whether this machine can record (KVM device and native addon): skip recording tests when not. */
export function kvmAvailability(): KvmProbe {
  return probeKvm();
}

/**
 * Records a guest image with vmtrace's recorder into a trace file (default: a temporary one).
 * Defaults are those of `vmtrace record`. Throws KvmUnavailableError where KVM is not available.
 */
export async function record(imagePath: string, options: RecordOptions = {}): Promise<RecordedTrace> {
  const image = readFileSync(imagePath);
  let spec: RecordSpec = {};
  if (options.like) {
    const t = await openTrace(options.like);
    await t.close();
    const like = specFromHeader(t.header);
    if (like.problems.length) throw new Error(`record(${imagePath}, { like: ${options.like} }): ${like.problems.join('; ')}`);
    spec = like.spec;
  }
  const { mode, input, step, like: _like, output: _output, deadlineMs: _deadline, ...rest } = options;
  for (const [k, v] of Object.entries(rest)) if (v !== undefined) (spec as Record<string, unknown>)[k] = v;
  // `like` gives the golden's stored CPUID; an explicit `cpu` choice replaces it.
  if (options.cpu !== undefined && options.cpuid === undefined) delete spec.cpuid;
  if (mode !== undefined) spec.mode = mode === 'auto' ? undefined : mode;
  if (input !== undefined) spec.input = typeof input === 'string' ? new TextEncoder().encode(input) : input;
  if (step !== undefined) spec.step = step;

  const output = options.output ?? tempTrace(imagePath);
  if (options.output === undefined) {
    try {
      onTestFinished(() => dropTemp(output));
    } catch {
      // not inside a test (beforeAll, a helper run at import): removed at process exit
    }
  }
  const console = new CapturedConsole();
  let result: RecordResult;
  try {
    result = await recordSpec(spec, image, basename(imagePath), output, { timeoutMs: options.deadlineMs ?? 60_000, console });
  } catch (e) {
    if (e instanceof CpuidRejectedError && options.like && spec.cpuid) {
      throw new Error(`record(${imagePath}, { like: ${options.like} }): this host's KVM rejects the CPUID stored in that golden (pass cpu: 'builtin' to record with vmtrace's model): ${e.message}`);
    }
    throw e;
  }
  return {
    path: output,
    image: imagePath,
    endReason: result.endReason,
    message: result.message,
    records: result.records,
    console: Buffer.from(console.bytes).toString('latin1'),
    result,
  };
}

export interface GoldenMatchOptions {
  /**
   * Every difference fails, host-dependent ones too (host facts, CPUID table, host model,
   * timestamps, RFLAGS bits left architecturally undefined). Default false: those are not failures.
   */
  exact?: boolean;
  /** Differing host timestamps fail (default false: they differ on every run). */
  timestamps?: boolean;
  /** Differing host facts, recording date, tool version, CPUID and host model fail (default false). */
  host?: boolean;
  /** Records of context around the first divergence in the report (default 3). */
  context?: number;
  /**
   * Write the recording over the golden (atomically) when it differs (or its guest CPUID does)
   * or does not exist, and pass, as `vmtrace test --update` does: a recording that ended early
   * (interrupted, failed, cut off by deadlineMs) or does not replay in the interpreter never
   * replaces a golden, and fails. Default: true when vitest runs in update mode (`vitest -u` /
   * `--update`, as for snapshots) or the environment variable VMTRACE_UPDATE is `1`.
   */
  update?: boolean;
}

/** Copies `from` over `to` atomically (temporary file next to `to`, then rename). */
function writeGolden(from: string, to: string): void {
  mkdirSync(dirname(to), { recursive: true });
  const tmp = join(dirname(to), `.${basename(to).replace(/\.vmtrace$/, '')}.tmp-${process.pid}`);
  try {
    copyFileSync(from, tmp);
    renameSync(tmp, to);
  } finally {
    rmSync(tmp, { force: true });
  }
}

interface MatcherContext {
  isNot: boolean;
  /** vitest's MatcherState.snapshotState (a SnapshotState): says whether vitest runs with -u. */
  snapshotState?: unknown;
}

/**
 * Whether vitest runs in snapshot update mode: `vitest -u` / `--update` (or UPDATE_SNAPSHOT=all)
 * make its update state 'all'; it is 'new' by default and 'none' on CI.
 */
function vitestUpdating(ctx: MatcherContext): boolean {
  const state = ctx.snapshotState as { snapshotUpdateState?: unknown; _updateSnapshot?: unknown } | undefined;
  if (!state) return false;
  return (state.snapshotUpdateState ?? state._updateSnapshot) === 'all';
}

/**
 * Why a recording must not become a golden, as `vmtrace test --update` refuses: it did not
 * finish, or the interpreter cannot replay it (a golden must stay replayable). null: it may.
 */
async function unfitAsGolden(received: unknown, trace: string): Promise<string | null> {
  const rec = received && typeof received === 'object' ? (received as RecordedTrace) : undefined;
  if (rec?.result && (rec.result as Partial<RecordLikeResult>).timedOut) return `the recording did not finish within its deadline (${rec.message})`;
  try {
    const res = await replayTrace(trace);
    if (res.truncated || res.recordedEnd === undefined) return 'the recording is truncated (it did not finish)';
    if (res.recordedEnd === 'interrupted' || res.recordedEnd === 'error') return `the recording ended early (${res.recordedEnd})`;
    if (!res.ok) return `the recording does not replay in the interpreter: diverged at record #${res.divergence!.index} (${res.divergence!.kind})`;
  } catch (e) {
    return `the recording does not replay in the interpreter: ${(e as Error).message}`;
  }
  return null;
}

/** The matcher itself (registered as toMatchGoldenTrace by setupVmtraceMatchers). */
export async function toMatchGoldenTrace(
  this: MatcherContext,
  received: unknown,
  golden: string,
  options: GoldenMatchOptions = {},
): Promise<{ pass: boolean; message: () => string }> {
  const actual =
    typeof received === 'string'
      ? received
      : received && typeof received === 'object' && typeof (received as RecordedTrace).path === 'string'
        ? (received as RecordedTrace).path
        : undefined;
  if (actual === undefined) {
    throw new TypeError(`toMatchGoldenTrace: expected a recording from record() or a trace file path, got ${typeof received}`);
  }
  if (typeof golden !== 'string') throw new TypeError('toMatchGoldenTrace: the golden trace path must be a string');
  const update = (options.update ?? (process.env.VMTRACE_UPDATE === '1' || vitestUpdating(this))) && !this.isNot;
  const goldenPath = resolve(golden);
  /** Writes the recording over the golden unless it is unfit to be one (then the match fails). */
  const replace = async (how: string): Promise<{ pass: boolean; message: () => string }> => {
    const unfit = await unfitAsGolden(received, actual);
    if (unfit) {
      keep.add(actual);
      return { pass: false, message: () => `golden trace ${golden} not ${how}: ${unfit} (the recording is kept at ${actual})` };
    }
    writeGolden(actual, goldenPath);
    return { pass: true, message: () => `golden trace ${golden} ${how} from ${actual}` };
  };
  if (!existsSync(goldenPath)) {
    if (update) return replace('created');
    return {
      pass: false,
      message: () =>
        `golden trace ${golden} does not exist (${goldenPath}).\n` +
        `To create it from this recording, run the test with vitest -u or VMTRACE_UPDATE=1, or record it with\n` +
        `vmtrace record <image> -o ${golden}.`,
    };
  }
  const diff = await diffTraces(goldenPath, actual, { timestamps: options.timestamps, host: options.host, exact: options.exact, context: options.context });
  // As `vmtrace test --update`: a golden whose guest CPUID changed is rewritten too, though the
  // CPUID table is host-dependent to the diff.
  if (update && (!diff.identical || cpuidChanged(diff))) return replace('updated');
  if (!diff.identical) keep.add(actual);
  return {
    pass: diff.identical,
    message: () =>
      diff.identical
        ? `expected ${actual} not to match the golden trace ${golden}, but it does: ${formatDiff(diff).split('\n')[0]}`
        : `expected the recording to match the golden trace ${golden}\n\n${formatDiff(diff).trimEnd()}\n\n` +
          `(the recording is kept at ${actual}; to accept it as the new golden: vitest -u, VMTRACE_UPDATE=1, or vmtrace test --update)`,
  };
}

let registered = false;

/**
 * Registers toMatchGoldenTrace with vitest's expect. Importing this module already does it;
 * calling it again is harmless (e.g. from a setupFiles entry).
 */
export function setupVmtraceMatchers(): void {
  if (registered) return;
  registered = true;
  expect.extend({ toMatchGoldenTrace });
}

setupVmtraceMatchers();

declare module 'vitest' {
  interface Assertion<T = any> {
    /**
     * Compares a trace (a record() result or a trace file path) with a golden trace, record by
     * record; host-dependent differences (host facts, timestamps, undefined flags) do not fail
     * unless `{ exact: true }`. Fails with the `vmtrace diff` report.
     * Asynchronous: `await expect(rec).toMatchGoldenTrace('traces/x.vmtrace')`.
     */
    toMatchGoldenTrace(golden: string, options?: GoldenMatchOptions): Promise<void>;
  }
}
