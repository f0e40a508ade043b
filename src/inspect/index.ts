// vmtrace inspect/diff as a library (no CLI needed): summaries, exit listings, console text,
// Perfetto and HTML exports, and the trace diff.
export { RecordCursor, forEachRecord } from './cursor.js';
export { StatsAccumulator, TimeHistogram } from './stats.js';
export type { ExitStats, StatRow, ReasonRow, PortRow, MmioRow, RunTime } from './stats.js';
export {
  summarize,
  scanTrace,
  formatSummary,
  traceInfo,
  traceEnd,
  ConsoleCollector,
  StatsSink,
} from './summary.js';
export type { Summary, TraceInfo, TraceEnd, TraceSink, ScanResult } from './summary.js';
export { exitRows, exitRow, formatExitRow, formatChanges, matches, exitLineHeader, traceArch, EXIT_LINE_HEADER } from './exits.js';
export type { ExitFilter, ExitRow, ExitRowOptions } from './exits.js';
export { exitLines } from './exit-lines.js';
export { disasmExitRows, formatDisasmExitRow, collectDisassembly, ReplayDisassembly, disasmExitLineHeader, DISASM_EXIT_LINE_HEADER } from './disasm-exits.js';
export { a64DisasmExitRows, collectA64Disassembly, initialWordAt, type A64Disassembler } from './disasm-a64.js';
export type { DisasmExitRow, DisasmStop, ExitInsn, CollectedDisassembly } from './disasm-exits.js';
export { PerfettoWriter, PERFETTO_SLICE_LIMIT, perfettoFormatOf, perfettoGroup, recordsInRange } from './perfetto.js';
export type { PerfettoFormat, PerfettoOptions } from './perfetto.js';
export { HtmlReportSink, renderHtml } from './html.js';
export type { HtmlModel, HtmlReportOptions } from './html.js';
export {
  diffTraces,
  formatDiff,
  ArchMismatchError,
  compareRecords,
  compareHeaders,
  briefRecord,
  classOf,
  failsUnder,
  hostDependentSummary,
  DIFFERENCE_KINDS,
  HOST_DEPENDENT_KINDS,
} from './diff.js';
export type { DiffOptions, DiffResult, DifferenceClass, DifferenceKind, FieldDiff, FirstDivergence, ContextLine, TraceSide, RecordDiff } from './diff.js';
export { undefinedFlagMasks, replayedUndefinedFlags, UndefinedFlagMasks, type UndefinedFlagsAt } from './undefined-flags.js';
export { writeSyntheticTrace, syntheticHeader, writeSyntheticA64Trace, syntheticA64Header, syntheticA64Image } from './synthetic.js';
export type { SyntheticOptions, SyntheticA64Options } from './synthetic.js';
export { parseReason } from './util.js';
// The reader's scanner, which TraceSink.scan() receives.
export type { TraceScanner, ScanMark } from '../trace/reader.js';
