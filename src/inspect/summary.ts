// `vmtrace inspect` default view as a library: the header in brief, how the trace ended and the
// exit statistics, computed in one streaming pass that other consumers (console text, Perfetto,
// HTML) can join as sinks.
import type { ArchName } from '../arch/index.js';
import { ConsoleDecoder, mmioConsoleAddresses } from '../devices/console-output.js';
import type { DeviceInfo, HostFacts, TraceFooter, TraceHeader, TraceRecord } from '../trace/format.js';
import { openTrace, type OpenedTrace, type TraceScanner } from '../trace/reader.js';
import { StatsAccumulator, type ExitStats, type StatRow } from './stats.js';
import { col, humanBytes, humanNs, hx, usFromNs } from './util.js';
import { oneLine } from '../text/sanitize.js';

/** The header, in brief and JSON-safe (addresses as `0x…` strings). */
export interface TraceInfo {
  file: string;
  /** Trace format version, `major.minor`. */
  format: string;
  /** The guest's architecture (`x86_64` for traces before format 3.1). */
  arch: ArchName;
  tool: { name: string; version: string };
  /** When the recording started (ISO 8601). */
  createdAt: string;
  guest: { name: string; sha256: string; imageBytes: number; loadAddress: string };
  memory: { base: string; size: number; kind: string }[];
  /** boot: x86 `real`/`protected`/`long`; aarch64 `el1`. */
  mode: { boot: string; singleStep: boolean };
  host: HostFacts;
  /** The guest's CPU model (`cpu` in the header; null in 1.0 traces) and the host model probed at record time. */
  cpu: { source: string; name: string } | null;
  hostModel: { flagRules: number; unfitted: string[]; stepJoins: string[] } | null;
  devices: { name: string; kind: string; base: string; length: number }[];
  options: Record<string, unknown>;
}

/** How the file ended. */
export interface TraceEnd {
  /** True when the file has a footer. */
  complete: boolean;
  truncated: boolean;
  /** Byte offset of an incomplete record at the end of a truncated file. */
  truncatedAt: number | null;
  endReason: string | null;
  message: string | null;
  status: number | null;
  /** Counts the footer states (they must agree with what was read). */
  footerExits: number | null;
  footerRecords: number | null;
}

export interface Summary {
  trace: TraceInfo;
  end: TraceEnd;
  stats: ExitStats;
  console: { ports: string[]; bytes: number };
}

export function traceInfo(file: string, h: TraceHeader): TraceInfo {
  return {
    file,
    format: `${h.format.major}.${h.format.minor}`,
    arch: h.arch,
    tool: { name: String(h.tool?.name ?? 'unknown'), version: String(h.tool?.version ?? 'unknown') },
    createdAt: h.createdAt,
    guest: { name: h.guest.name, sha256: h.guest.sha256, imageBytes: h.guest.image.length, loadAddress: hx(h.guest.loadAddress) },
    memory: h.memory.map((m) => ({ base: hx(m.base), size: m.size, kind: m.kind })),
    mode: { boot: h.boot.mode, singleStep: h.semantics.singleStep },
    host: h.host,
    cpu: h.cpu ?? null,
    hostModel: h.hostModel
      ? {
          flagRules: Object.keys(h.hostModel.flags).length,
          unfitted: Object.entries(h.hostModel.flags).filter(([, r]) => r.includes('=?')).map(([k]) => k),
          stepJoins: h.hostModel.step.joins,
        }
      : null,
    devices: h.devices.map((d) => ({ name: d.name, kind: d.kind, base: hx(d.base), length: d.length })),
    options: h.options,
  };
}

export function traceEnd(t: { footer: TraceFooter | undefined; truncated: boolean; truncatedAt: number | undefined }): TraceEnd {
  const f = t.footer;
  return {
    complete: f !== undefined,
    truncated: t.truncated,
    truncatedAt: t.truncatedAt ?? null,
    endReason: f?.endReason ?? null,
    message: f?.message ?? null,
    status: f?.status ?? null,
    footerExits: f?.exits ?? null,
    footerRecords: f?.records ?? null,
  };
}

/**
 * Collects what the guest wrote to its console: the OUT bytes the header's console devices
 * (console, debugcon, a 16550's transmit register) carry — or, with explicit `ports`, every OUT
 * byte to those ports — and the low byte of every MMIO write to a PL011's data register.
 */
export class ConsoleCollector implements TraceSink {
  bytes = 0;
  private decoder: ConsoleDecoder | undefined;
  /** The kept bytes: buf[0, kept), grown by doubling up to `keep` (one console byte per exit is common). */
  private buf = new Uint8Array(0);
  private kept = 0;
  /** True when more than `keep` bytes were written (only the first `keep` are kept). */
  overflow = false;
  /** PL011 data register addresses (from the header's devices; none on x86). */
  private uartData: number[] = [];

  /**
   * @param keep bytes to keep in memory (default 1 MiB); `onBytes` sees all of them.
   */
  constructor(
    private readonly keep = 1 << 20,
    private readonly onBytes?: (data: Uint8Array) => void,
    private readonly ports?: number[],
  ) {}

  header(h: TraceHeader): void {
    const devices: DeviceInfo[] = this.ports
      ? this.ports.map((base) => ({ name: 'console', kind: 'port', base, length: 1 }))
      : h.devices.length
        ? h.devices
        : [{ name: 'console', kind: 'port', base: 0xf1, length: 1 }];
    this.decoder = new ConsoleDecoder(devices);
    this.uartData = mmioConsoleAddresses(h.devices);
  }

  /** Where console bytes go: ports, then PL011 data register addresses. */
  get portList(): number[] {
    return [...(this.decoder?.ports ?? []), ...this.uartData];
  }

  record(r: TraceRecord): void {
    const m = r.mmio;
    if (m !== undefined) {
      if (m.write && m.data.length && this.uartData.includes(m.address)) this.take(m.data, 0, 1, true);
      return;
    }
    const bytes = this.decoder?.bytes(r);
    if (bytes) this.take(bytes);
  }

  scan(s: TraceScanner): void {
    if (!s.hasIo) {
      if (s.hasMmio && s.mmioWrite && s.mmioLen && this.uartData.includes(s.mmioAddress)) this.take(s.mmioData, s.mmioAt, 1, true);
      return;
    }
    if (!s.ioOut || !this.decoder?.claims(s.ioPort)) return;
    // The scanner's bytes are reused by the next record: take() copies what it keeps. Text
    // ports (one console byte per exit is common) are taken in place, without a view object.
    if (this.decoder.isText(s.ioPort)) return this.take(s.ioData, s.ioAt, s.ioLen, true);
    const bytes = this.decoder.out(s.ioPort, s.ioSize, s.ioData.subarray(s.ioAt, s.ioAt + s.ioLen));
    if (bytes) this.take(bytes, 0, bytes.length, true);
  }

  /** Takes data[at, at + len). */
  private take(data: Uint8Array, at = 0, len = data.length, reused = false): void {
    this.bytes += len;
    // onBytes may keep what it gets
    if (this.onBytes) this.onBytes(reused || at !== 0 || len !== data.length ? data.slice(at, at + len) : data);
    if (this.kept < this.keep) {
      const n = Math.min(len, this.keep - this.kept);
      if (this.kept + n > this.buf.length) {
        const grown = new Uint8Array(Math.min(this.keep, Math.max(this.kept + n, 2 * this.buf.length, 4096)));
        grown.set(this.buf.subarray(0, this.kept));
        this.buf = grown;
      }
      for (let i = 0; i < n; i++) this.buf[this.kept + i] = data[at + i]!;
      this.kept += n;
      if (n < len) this.overflow = true;
    } else if (len) this.overflow = true;
  }

  /** The kept console bytes (a copy). */
  data(): Uint8Array {
    return Buffer.from(this.buf.subarray(0, this.kept));
  }
}

export interface TraceSink {
  header?(h: TraceHeader, trace: OpenedTrace): void;
  record(r: TraceRecord, index: number): void;
  /**
   * Optional, instead of record(): takes the record a scanner is on (valid only during the
   * call). When every sink has it, scanTrace makes no record objects at all.
   */
  scan?(s: TraceScanner, index: number): void;
  end?(end: TraceEnd, records: number): void;
}

export interface ScanResult {
  header: TraceHeader;
  info: TraceInfo;
  end: TraceEnd;
  records: number;
}

/**
 * Streams `file` once, handing every record to every sink. Throws TraceError for a bad file; a
 * truncated file is read up to its last complete record.
 */
export async function scanTrace(file: string, sinks: TraceSink[]): Promise<ScanResult> {
  const trace = await openTrace(file);
  try {
    for (const s of sinks) s.header?.(trace.header, trace);
    const scanning = sinks.filter((k) => k.scan !== undefined);
    const others = sinks.filter((k) => k.scan === undefined);
    const s = trace.scan();
    let records = 0;
    do {
      records = scanAvailable(s, scanning, others, records);
    } while (await s.read());
    const end = traceEnd(trace);
    for (const k of sinks) k.end?.(end, records);
    return { header: trace.header, info: traceInfo(file, trace.header), end, records };
  } finally {
    await trace.close();
  }
}

/**
 * Hands the records already in memory to the sinks; returns the next index. A plain function
 * (called once per read buffer), so V8 optimizes its loop, which it would not in scanTrace.
 */
function scanAvailable(s: TraceScanner, scanning: TraceSink[], others: TraceSink[], index: number): number {
  while (s.next()) {
    for (let i = 0; i < scanning.length; i++) scanning[i]!.scan!(s, index);
    if (others.length) {
      const r = s.record();
      for (let i = 0; i < others.length; i++) others[i]!.record(r, index);
    }
    index++;
  }
  return index;
}

/** Statistics as a sink. */
export class StatsSink implements TraceSink {
  readonly acc = new StatsAccumulator();
  record(r: TraceRecord): void {
    this.acc.add(r);
  }
  scan(s: TraceScanner): void {
    this.acc.addScan(s);
  }
}

/** Header summary, end state, exit statistics and console byte count of a trace, in one pass. */
export async function summarize(file: string, extraSinks: TraceSink[] = []): Promise<Summary> {
  const stats = new StatsSink();
  const cons = new ConsoleCollector(0);
  const scan = await scanTrace(file, [stats, cons, ...extraSinks]);
  return {
    trace: scan.info,
    end: scan.end,
    stats: stats.acc.result(),
    console: { ports: cons.portList.map((p) => hx(p)), bytes: cons.bytes },
  };
}

// ---- text rendering ---------------------------------------------------------------------------

function endLine(s: Summary): string {
  const e = s.end;
  const n = s.stats;
  const counts = n.steps ? `${n.records} records (${n.exits} exits, ${n.steps} steps)` : `${n.records} exits`;
  if (e.complete) {
    const status = e.status !== null ? `, exit status ${e.status}` : '';
    return `complete — ${e.message} [${e.endReason}${status}], ${counts}`;
  }
  const at = e.truncatedAt !== null ? ` (incomplete record at byte ${e.truncatedAt})` : '';
  return `TRUNCATED — the file ends without a footer after ${counts}${at}; the recording did not finish`;
}

function table(title: string, keyHeader: string, rows: (StatRow & { bytes?: number })[], withBytes: boolean): string[] {
  const out = [title];
  if (rows.length === 0) return [...out, '  (none)'];
  const keyW = Math.max(keyHeader.length, ...rows.map((r) => r.key.length)) + 2;
  const head = [
    col(keyHeader, keyW),
    col('Samples', 9, true),
    col('Samples%', 10, true),
    col('Time%', 9, true),
    col('Min µs', 11, true),
    col('Avg µs', 11, true),
    col('Max µs', 11, true),
  ];
  if (withBytes) head.push(col('Bytes', 10, true));
  out.push('  ' + head.join('').trimEnd());
  for (const r of rows) {
    const cells = [
      col(r.key, keyW),
      col(String(r.count), 9, true),
      col(r.percent.toFixed(2) + '%', 10, true),
      col(r.timePercent.toFixed(2) + '%', 9, true),
      col(usFromNs(r.run.minNs), 11, true),
      col(usFromNs(r.run.avgNs), 11, true),
      col(usFromNs(r.run.maxNs), 11, true),
    ];
    if (withBytes) cells.push(col(String(r.bytes ?? 0), 10, true));
    out.push('  ' + cells.join(''));
  }
  return out;
}

function hostModelLine(t: TraceInfo): string {
  const m = t.hostModel;
  if (!m && t.arch === 'aarch64') return 'none (aarch64 traces need none)';
  if (!m) return 'none (format 1.0 trace: replay uses built-in undefined-flag values)';
  const unfitted = m.unfitted.length ? `, no rule fits ${m.unfitted.join(' ')}` : '';
  const joins = m.stepJoins.length ? m.stepJoins.join(' ') : 'none';
  return `undefined-flag rules for ${m.flagRules} instruction classes and sizes${unfitted}; single-step joins: ${joins} (docs/exit-semantics.md)`;
}

/** `real mode` (x86: the architecture goes without saying, as before aarch64 traces) or `aarch64, EL1`. */
function modeText(t: TraceInfo): string {
  return t.arch === 'x86_64' ? `${t.mode.boot} mode` : `${t.arch}, ${t.mode.boot.toUpperCase()}`;
}

function guestCpuText(t: TraceInfo): string {
  if (t.cpu) return `${t.cpu.name} (${t.cpu.source})`;
  if (t.arch === 'aarch64') {
    const target = t.options['kvmTarget'];
    return `KVM's arm64 vCPU${typeof target === 'number' ? ` (KVM_ARM_VCPU_INIT target ${target})` : ''}`;
  }
  return "the host's CPUID (format 1.0 trace)";
}

/** The human-readable summary `vmtrace inspect` prints. */
export function formatSummary(s: Summary): string {
  const t = s.trace;
  const st = s.stats;
  const mem = t.memory.map((m) => `${humanBytes(m.size)} ${m.kind.toUpperCase()} at ${m.base}`).join(', ') || 'none';
  const devices = t.devices.map((d) => `${d.name} ${d.kind} ${d.base}${d.length > 1 ? `+${d.length}` : ''}`).join(', ') || 'none';
  const h = t.host;
  const lines = [
    `Trace      ${t.file}`,
    `Status     ${endLine(s)}`,
    `Guest      ${t.guest.name}, ${t.guest.imageBytes} bytes loaded at ${t.guest.loadAddress}`,
    `Image      sha256 ${t.guest.sha256}`,
    `Memory     ${mem}`,
    `Mode       ${modeText(t)}; ${t.mode.singleStep ? 'single-step trace (one record per instruction)' : 'exit trace (one record per vCPU exit)'}`,
    `Devices    ${devices}`,
    `Host       Linux ${h.kernel}, KVM module ${h.kvmModule} (API ${h.kvmApiVersion}), CPU ${h.cpuVendor} ${h.cpuModel}`,
    `Guest CPU  ${guestCpuText(t)}`,
    `Host model ${hostModelLine(t)}`,
    `Recorded   ${t.createdAt} by ${t.tool.name} ${t.tool.version}, trace format ${t.format}`,
  ];
  if (st.firstTimeNs !== null && st.lastTimeNs !== null) {
    lines.push(
      `Timeline   first exit ${humanNs(st.firstTimeNs)}, last ${humanNs(st.lastTimeNs)} after the recording started; ` +
        `${humanNs(st.run.totalNs)} in KVM_RUN`,
    );
  }
  if (s.console.bytes) lines.push(`Console    ${s.console.bytes} bytes written to ${s.console.ports.join(', ')} (vmtrace inspect --console)`);
  lines.push('');
  lines.push(...table(`Exit reasons (${st.records} ${st.steps ? 'records' : 'exits'}; time = host time in KVM_RUN, entry to exit)`, 'Reason', st.byReason, false));
  lines.push('');
  lines.push(...table('IO ports', 'Port:dir', st.byPort, true));
  lines.push('');
  lines.push(...table('MMIO addresses', 'Address:dir', st.byMmio, true));
  // every line is one line: trace strings (guest and device names, host facts, the footer
  // message…) cannot break it or reach the terminal as control characters
  return lines.map(oneLine).join('\n') + '\n';
}
