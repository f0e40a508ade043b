import { Command } from 'commander';

import { a64DisasmExitRows, collectA64Disassembly, describeA64Missing, type A64Disassembler } from '../inspect/disasm-a64.js';
import { collectDisassembly, describeDisasmStop, disasmExitLineHeader, disasmExitRows, formatDisasmExitRow, type DisasmExitRow, type DisasmStop } from '../inspect/disasm-exits.js';
import { exitLines } from '../inspect/exit-lines.js';
import { exitLineHeader, traceArch, type ExitFilter } from '../inspect/exits.js';
import { HTML_DETAIL_RECORDS, HtmlReportSink } from '../inspect/html.js';
import { PERFETTO_SLICE_LIMIT, PerfettoWriter, perfettoFormatOf, perfettoGroup, recordsInRange, type PerfettoFormat, type PerfettoOptions } from '../inspect/perfetto.js';
import { ConsoleCollector, formatSummary, scanTrace, summarize, type TraceSink } from '../inspect/summary.js';
import { hx, parseReason } from '../inspect/util.js';
import { registerLayout } from '../arch/index.js';
import { EXIT } from '../trace/exit-reasons.js';
import { describeWriteError, refuseOutputIsInput, sameFile } from './files.js';
import { parseCount, parseInteger, parsePort, UsageError } from './parse.js';
import { SUMMARIES } from './summaries.js';

const HELP_AFTER = `
Without a view option, prints a summary of the header (guest, image sha256, memory, mode, host,
tool and format version, when it was recorded, whether the trace is complete and how the run
ended) and exit statistics per exit reason, per IO port and per MMIO address: count, share of
all exits and host time spent in KVM_RUN (entry to exit) min/avg/max in µs.

Views (stdout):
  --exits      one line per record: index, time, reason, port/address, direction, size, data
               in hex and ASCII, RIP (aarch64: pc) and the registers that changed since the
               previous record (by the trace's architecture's names).
               Filters (they imply --exits): --reason, --port, --addr, --from, --to, --limit
               (--from/--to alone with --perfetto: the exported range, no listing).
  --disasm     with --exits: also the instruction that made each record (CS:IP, bytes, text),
               as the guest executed it: the trace is replayed alongside the listing (slower),
               and the changed registers as old→new. Where replay diverges, the records from
               there are listed without it and one line on stderr says where and why. With
               --html: the same in the report's exit table. Alone it implies --exits.
               aarch64: each instruction is read from the trace's initial memory (its
               image) at the exiting PC, without a replay: code the guest writes at run
               time is not seen, and one stderr line names the first record whose
               instruction lies outside that memory.
  --console    the guest's console output (bytes of OUT exits to the console port; aarch64:
               MMIO writes to the PL011 data register), raw.
  --json       machine-readable: the summary as one JSON object, --exits as NDJSON (one
               object per line), --console as one object. Fields: docs/inspect.md.
Exports (files, in addition to the view):
  --perfetto FILE   a timeline for https://ui.perfetto.dev: Chrome Trace Event JSON (also
                    chrome://tracing), or Perfetto protobuf for FILE.pftrace or
                    --perfetto-format proto (smaller, opens faster). Records --from/--to
                    only; above --perfetto-limit records (default 100000; 0: no limit)
                    runs of consecutive records are merged into slices with counts.
  --html FILE       a self-contained HTML report (summary, timeline, charts, console)

Exit codes: 0 done (also for a truncated trace: the summary says so), 2 bad usage or not a
readable trace.

Examples:
  vmtrace inspect tiny_kernel.vmtrace
  vmtrace inspect tiny_kernel.vmtrace --exits --reason IO --port 0xf1 --limit 20
  vmtrace inspect tiny_kernel.vmtrace --console
  vmtrace inspect tiny_kernel.vmtrace --exits --json | jq .rip
  vmtrace inspect hello-32.vmtrace --exits --disasm --reason IO --limit 5
  vmtrace inspect tiny_kernel.vmtrace --html report.html --perfetto trace.json
  vmtrace inspect count.vmtrace --perfetto count.pftrace --from 1000 --to 50000`;

interface Flags {
  exits: boolean;
  disasm: boolean;
  console: boolean;
  json: boolean;
  perfetto?: string;
  perfettoFormat?: string;
  perfettoLimit?: string;
  html?: string;
  reason: string[];
  port: string[];
  addr: string[];
  from?: string;
  to?: string;
  limit?: string;
  consolePort?: string;
}

// An empty value stays, to be refused by its parser ('' is not a port); empty list items are dropped.
const collect = (v: string, prev: string[]) => [...prev, ...(v.trim() === '' ? [''] : v.split(',').map((s) => s.trim()).filter(Boolean))];

export function inspectCommand(): Command {
  return new Command('inspect')
    .description(SUMMARIES.inspect)
    .argument('<trace>', 'trace file written by vmtrace record')
    .option('--exits', 'list the records, one line each', false)
    .option('--disasm', 'add the executed instruction and old→new register changes to --exits and the --html exit table (replays the trace)', false)
    .option('--console', "write the guest's console output (raw bytes) to stdout", false)
    .option('--json', 'JSON output (NDJSON for --exits)', false)
    .option('--perfetto <file>', 'also write a Perfetto timeline: Chrome Trace Event JSON, or protobuf for .pftrace (see --perfetto-format)')
    .option('--perfetto-format <format>', 'json or proto (default: proto for a .pftrace/.perfetto-trace/.pb/.proto file, else json)')
    .option('--perfetto-limit <n>', `most slices --perfetto draws (default ${PERFETTO_SLICE_LIMIT}); beyond, consecutive records are merged (0: no limit)`)
    .option('--html <file>', 'also write a self-contained HTML report')
    .option('--reason <reason>', 'only these exit reasons: name (IO, HLT, MMIO, …) or code; repeatable or comma list', collect, [])
    .option('--port <port>', 'only IO exits on this port (0xf1); repeatable or comma list', collect, [])
    .option('--addr <address>', 'only MMIO exits whose access covers this address; repeatable or comma list', collect, [])
    .option('--from <n>', 'first record index to list or export (inclusive)')
    .option('--to <n>', 'last record index to list or export (inclusive)')
    .option('--limit <n>', 'list at most n records')
    .option('--console-port <port>', 'console port(s) for --console (default: the header\'s console device, else 0xf1)', undefined)
    .addHelpText('after', HELP_AFTER)
    .action(async (file: string, flags: Flags, cmd: Command) => {
      cmd.setOptionValue('exitCode', await runInspect(file, flags));
    });
}

/** The --exits filter; `listing`: options that only the listing takes (all but --from/--to). */
function filterFrom(flags: Flags): { filter: ExitFilter | undefined; listing: boolean } {
  const f: ExitFilter = {};
  let any = false;
  let listing = false;
  if (flags.reason.length) {
    f.reasons = flags.reason.map((r) => {
      const code = parseReason(r);
      if (code === undefined) throw new UsageError(`--reason: unknown exit reason '${r}' (names: ${Object.keys(EXIT).join(', ')}; or a number)`);
      return code;
    });
    listing = true;
  }
  if (flags.port.length) {
    f.ports = flags.port.map((p) => parsePort(p, '--port'));
    listing = true;
  }
  if (flags.addr.length) {
    f.addresses = flags.addr.map((a) => parseInteger(a, '--addr', { hex: true, expected: 'a guest-physical address below 2^53 (hex with 0x, or decimal)' }));
    listing = true;
  }
  if (flags.from !== undefined) {
    f.from = parseInteger(flags.from, '--from');
    any = true;
  }
  if (flags.to !== undefined) {
    f.to = parseInteger(flags.to, '--to');
    any = true;
  }
  if (flags.limit !== undefined) {
    f.limit = parseCount(flags.limit, '--limit');
    listing = true;
  }
  if (f.from !== undefined && f.to !== undefined && f.to < f.from) throw new UsageError(`--to ${f.to} is before --from ${f.from}`);
  return { filter: any || listing ? f : undefined, listing };
}

function perfettoFormat(flags: Flags & { perfetto: string }): PerfettoFormat {
  const f = flags.perfettoFormat;
  if (f === undefined) return perfettoFormatOf(flags.perfetto);
  if (f !== 'json' && f !== 'proto') throw new UsageError(`--perfetto-format: '${f}' is not a format; expected json or proto`);
  return f;
}

/** Buffered stdout that stops quietly when the reader goes away (`| head`). */
class Out {
  private chunks: (string | Uint8Array)[] = [];
  private size = 0;
  closed = false;

  constructor() {
    // EPIPE (the reader went away) or any other write error: stop writing, quietly.
    process.stdout.on('error', () => {
      this.closed = true;
    });
  }

  write(s: string | Uint8Array): void {
    if (this.closed) return;
    this.chunks.push(s);
    this.size += s.length;
    if (this.size >= 1 << 16) this.flush();
  }

  flush(): void {
    if (!this.chunks.length || this.closed) return;
    const allText = this.chunks.every((c) => typeof c === 'string');
    // one chunk (an --exits chunk of lines, 128 KiB) goes as it is, not copied
    const data =
      this.chunks.length === 1 ? this.chunks[0]! : allText ? (this.chunks as string[]).join('') : Buffer.concat(this.chunks.map((c) => (typeof c === 'string' ? Buffer.from(c) : c)));
    this.chunks = [];
    this.size = 0;
    process.stdout.write(data);
  }

  async drain(): Promise<void> {
    this.flush();
    if (process.stdout.writableNeedDrain && !this.closed) {
      await new Promise<void>((resolve) => {
        const done = () => {
          process.stdout.off('drain', done);
          process.stdout.off('error', done);
          resolve();
        };
        process.stdout.on('drain', done);
        process.stdout.on('error', done);
      });
    }
  }
}

async function runInspect(file: string, flags: Flags): Promise<number> {
  const { filter, listing } = filterFrom(flags);
  // --disasm applies to the listing and the HTML table; alone it asks for the listing. With
  // --perfetto, a range alone (--from/--to) is the export's.
  const wantExits = flags.exits || listing || (filter !== undefined && !flags.perfetto) || (flags.disasm && !flags.html);
  if (wantExits && flags.console) throw new UsageError('--console cannot be combined with --exits or its filters (--reason, --port, --addr, --from, --to, --limit) or --disasm without --html');
  const consolePorts = flags.consolePort === undefined ? undefined : flags.consolePort.split(',').map((p) => parsePort(p, '--console-port'));
  if (consolePorts && !flags.console) throw new UsageError('--console-port only applies to --console');
  if ((flags.perfettoFormat !== undefined || flags.perfettoLimit !== undefined) && !flags.perfetto) {
    throw new UsageError(`--${flags.perfettoFormat !== undefined ? 'perfetto-format' : 'perfetto-limit'} only applies to --perfetto`);
  }
  if (flags.perfetto === '' || flags.html === '') throw new UsageError(`--${flags.perfetto === '' ? 'perfetto' : 'html'}: empty file name; give the file to write`);
  if (flags.perfetto && flags.html && sameFile(flags.perfetto, flags.html)) throw new UsageError(`--perfetto and --html need different files (both are ${flags.perfetto})`);
  // Opening an export truncates it: never the trace being read.
  if (flags.perfetto) refuseOutputIsInput({ what: '--perfetto', path: flags.perfetto }, [{ what: 'trace being inspected', path: file }]);
  if (flags.html) refuseOutputIsInput({ what: '--html', path: flags.html }, [{ what: 'trace being inspected', path: file }]);

  const arch = await traceArch(file);
  const layout = registerLayout(arch);
  // aarch64: instructions from the header's initial memory, no replay (src/inspect/disasm-a64.ts)
  const a64: A64Disassembler | undefined = flags.disasm && arch === 'aarch64' ? (await import('../arch/aarch64/interp/index.js')).disassemble : undefined;
  const onA64Missing = (m: DisasmStop) => {
    out.flush();
    process.stderr.write(describeA64Missing(m) + '\n');
  };
  const out = new Out();
  const sinks: TraceSink[] = [];
  let perfetto: PerfettoWriter | undefined;
  let html: HtmlReportSink | undefined;
  const a64Html = flags.html && a64 ? await collectA64Disassembly(file, HTML_DETAIL_RECORDS, a64) : undefined;
  const htmlDisasm = flags.html && flags.disasm ? (a64Html ?? (await collectDisassembly(file, HTML_DETAIL_RECORDS))) : undefined;
  const perfettoLimit = flags.perfettoLimit === undefined ? PERFETTO_SLICE_LIMIT : parseInteger(flags.perfettoLimit, '--perfetto-limit');
  let perfettoOptions: PerfettoOptions | undefined;
  if (flags.perfetto) {
    const { from = 0, to } = filter ?? {};
    // the records in the range decide whether they are merged (a quick pass, unless evident)
    const evident = perfettoLimit === 0 || (to !== undefined && to - from + 1 <= perfettoLimit);
    const group = evident ? 1 : perfettoGroup(await recordsInRange(file, from, to), perfettoLimit);
    perfettoOptions = { format: perfettoFormat({ ...flags, perfetto: flags.perfetto }), from, to, group };
  }
  try {
    if (flags.perfetto) sinks.push((perfetto = new PerfettoWriter(flags.perfetto, perfettoOptions)));
    if (flags.html) sinks.push((html = new HtmlReportSink(flags.html, file, { disasm: htmlDisasm })));
  } catch (e) {
    perfetto?.abort();
    const option = perfetto ? '--html' : '--perfetto';
    throw new UsageError(`cannot write ${option} file ${option === '--html' ? flags.html : flags.perfetto}: ${describeWriteError(e)}; choose another ${option} file`);
  }

  let truncated = false;
  try {
    if (wantExits) {
      if (sinks.length) truncated = (await scanTrace(file, sinks)).end.truncated;
      if (!flags.json) out.write((flags.disasm ? disasmExitLineHeader(layout) : exitLineHeader(layout)) + '\n');
      const onStop = (stop: DisasmStop) => {
        out.flush(); // the note goes after the rows listed with disassembly
        process.stderr.write(describeDisasmStop(stop, 'those records are listed without it') + '\n');
      };
      if (flags.disasm) {
        let n = 0;
        const rows: AsyncGenerator<DisasmExitRow> = a64 ? a64DisasmExitRows(file, a64, filter, onA64Missing) : disasmExitRows(file, filter, onStop);
        for await (const row of rows) {
          out.write((flags.json ? JSON.stringify(row) : formatDisasmExitRow(row)) + '\n');
          if (++n % 4096 === 0) await out.drain();
          if (out.closed) break;
        }
      } else {
        // chunks of lines straight from the scanner: one write each, waiting for a slow reader
        for await (const chunk of exitLines(file, filter, flags.json)) {
          out.write(chunk);
          await out.drain();
          if (out.closed) break;
        }
      }
    } else if (flags.console) {
      const cons = new ConsoleCollector(flags.json ? 64 << 20 : 0, flags.json ? undefined : (d) => out.write(Buffer.from(d)), consolePorts);
      const scan = await scanTrace(file, [cons, ...sinks]);
      truncated = scan.end.truncated;
      if (flags.json) {
        const data = Buffer.from(cons.data());
        out.write(
          JSON.stringify({
            schema: 'vmtrace-inspect-console/1',
            ports: cons.portList.map((p) => hx(p)),
            bytes: cons.bytes,
            keptBytes: data.length,
            text: data.toString('utf8'),
            base64: data.toString('base64'),
          }) + '\n',
        );
      }
    } else {
      const summary = await summarize(file, sinks);
      truncated = summary.end.truncated;
      out.write(flags.json ? JSON.stringify({ schema: 'vmtrace-inspect-summary/1', ...summary }, null, 2) + '\n' : formatSummary(summary));
    }
  } catch (e) {
    perfetto?.abort();
    // A failed write of an export (disk full, …): say which file, in one line.
    const failed = exportFailure(e, perfetto, html);
    if (failed) throw new UsageError(`cannot write ${failed.option} file ${failed.path}: ${describeWriteError(e)}; choose another ${failed.option} file`);
    throw e;
  }
  await out.drain();
  if (perfetto) process.stderr.write(perfettoNote(perfetto, perfettoLimit));
  if (html) process.stderr.write(`vmtrace: wrote ${html.path} (HTML report)\n`);
  const htmlStop = html?.model?.disasm.stop;
  if (a64Html?.missing) onA64Missing(a64Html.missing);
  if (htmlStop) process.stderr.write(describeDisasmStop(htmlStop, "the HTML report's exit table shows those records without it") + '\n');
  if (truncated && (wantExits || flags.console)) process.stderr.write(`vmtrace: note: ${file} is truncated (no footer): the recording did not finish\n`);
  return 0;
}

/** The stderr line about the Perfetto file: what it holds, and whether records were merged. */
function perfettoNote(p: PerfettoWriter, limit: number): string {
  const n = (x: number) => x.toLocaleString('en-US');
  const what = p.format === 'proto' ? 'Perfetto protobuf' : 'Chrome Trace Event JSON';
  const merged = p.group > 1 ? `, merged in windows of ${n(p.group)} as the range holds more than --perfetto-limit ${n(limit)}` : '';
  const where = p.format === 'proto' ? 'https://ui.perfetto.dev' : 'https://ui.perfetto.dev or chrome://tracing';
  return `vmtrace: wrote ${p.path} (${what}: ${n(p.records)} records as ${n(p.slices)} slices${merged}; ${n(p.events)} events) — open it in ${where}\n`;
}

/** Which export a write error came from (undefined: not an export's write error). */
function exportFailure(e: unknown, perfetto: PerfettoWriter | undefined, html: HtmlReportSink | undefined): { option: string; path: string } | undefined {
  const err = e as NodeJS.ErrnoException;
  if (!err || typeof err.syscall !== 'string' || !['write', 'open', 'close', 'fsync'].includes(err.syscall)) return undefined;
  if (html && err.path === html.path) return { option: '--html', path: html.path };
  if (perfetto && err.path === perfetto.path) return { option: '--perfetto', path: perfetto.path };
  if (err.path !== undefined) return undefined;
  // No path (a write): the HTML report is written last, once its model is made.
  if (html && (html.model !== undefined || !perfetto)) return { option: '--html', path: html.path };
  return perfetto ? { option: '--perfetto', path: perfetto.path } : undefined;
}
