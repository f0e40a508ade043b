// vmtrace as a library: record (needs Linux KVM), replay, read/write traces, inspect and diff.
export { record, summarize, defaultTraceName, RECORD_EXIT_CODES } from './record/recorder.js';
export type { RecordOptions, RecordResult } from './record/recorder.js';
export { KvmUnavailableError } from './record/kvm.js';
export { replayTrace, cpuFromHeader } from './replay/engine.js';
export type { ReplayResult, ReplayOptions, Divergence, DivergenceKind } from './replay/engine.js';
export { formatDivergence, summaryLine } from './replay/report.js';
export { openTrace, readTrace, TraceError } from './trace/reader.js';
export type { OpenedTrace } from './trace/reader.js';
export { verifyTrace } from './trace/verify.js';
export type { VerifyResult } from './trace/verify.js';
export { TraceWriter } from './trace/writer.js';
export type { WriterOptions } from './trace/writer.js';
export * from './trace/format.js';
export { EXIT, exitReasonName } from './trace/exit-reasons.js';
export * from './cpu-state.js';
export { ConsoleDecoder } from './devices/console-output.js';
