// gdb's `monitor …` commands (qRcmd) for a replay: where the replay stands, a record of the
// trace, the divergence report, and moving to a record or instruction count. Each returns the
// text gdb prints.
import { REG_NAMES, SEGMENT_NAMES } from '../../cpu-state.js';
import { bytesAscii, bytesHex, describePayload, hx } from '../../inspect/util.js';
import type { TraceRecord } from '../../trace/format.js';
import { oneLine } from '../../text/sanitize.js';
import type { DebugTarget, StopReason } from '../debug-target.js';
import type { ReplayResult } from '../engine.js';
import { formatDivergence } from '../report.js';

export interface MonitorContext {
  target: DebugTarget;
  /** The trace's file name, for the divergence report. */
  trace: string;
}

export interface MonitorReply {
  text: string;
  /** The replay moved: gdb's cached registers and frames are stale. */
  moved: boolean;
  /** The command was not understood or failed. */
  failed?: boolean;
}

interface Command {
  usage: string;
  help: string;
  run(args: string[], ctx: MonitorContext): Promise<MonitorReply>;
}

const REFRESH = 'gdb still shows the old state: run `maintenance flush register-cache` (or `stepi`/`reverse-stepi`) to see the new one';

const text = (t: string): MonitorReply => ({ text: t, moved: false });
const failure = (t: string): MonitorReply => ({ text: t, moved: false, failed: true });

/** A number argument: decimal or 0x hex. */
function count(arg: string | undefined): number | undefined {
  if (arg === undefined || !/^(0x[0-9a-f]+|\d+)$/i.test(arg)) return undefined;
  const v = Number(arg);
  return Number.isSafeInteger(v) ? v : undefined;
}

function where(t: DebugTarget): string {
  const p = t.position;
  return `instruction ${p.instructions}, ${p.records} record(s) matched, mode ${t.mode}`;
}

/** What a stop during a seek means, in words. */
function describeStop(s: StopReason): string {
  switch (s.kind) {
    case 'divergence':
      return `the replay diverged at record #${s.divergence.index} (${s.divergence.kind}): ${s.divergence.message}`;
    case 'end':
      return `the end of the trace: ${s.result.note ?? `${s.result.matched} records matched`}`;
    case 'start':
      return 'the start of the replay';
    case 'interrupted':
      return 'interrupted';
    case 'breakpoint':
      return `a breakpoint at ${hx(s.address)}`;
    case 'watchpoint':
      return `a ${s.watch} watchpoint at ${hx(s.address)}`;
    case 'step':
      return 'a step';
  }
}

function recordLines(rec: TraceRecord): string[] {
  const lines = [`record #${rec.seq} (${rec.kind}) at byte offset ${rec.offset}: ${oneLine(describePayload(rec, 64))}`];
  if (rec.io) lines.push(`  port ${hx(rec.io.port)}, ${rec.io.direction}, size ${rec.io.size}, count ${rec.io.count}, data ${bytesHex(rec.io.data, 64)} "${oneLine(bytesAscii(rec.io.data, 64))}"`);
  if (rec.mmio) lines.push(`  address ${hx(rec.mmio.address)}, ${rec.mmio.write ? 'write' : 'read'}, length ${rec.mmio.length}, data ${bytesHex(rec.mmio.data, 64)}`);
  if (rec.detail) lines.push(`  detail ${oneLine(JSON.stringify(rec.detail))}`);
  lines.push(`  time ${rec.timeNs} ns since the start, ${rec.runNs} ns in KVM_RUN`);
  lines.push('  registers after the exit:');
  for (let i = 0; i < REG_NAMES.length; i += 4) {
    lines.push(`    ${REG_NAMES.slice(i, i + 4).map((n) => `${n.padStart(6)} ${hx(rec.regs[n]).padEnd(18)}`).join('').trimEnd()}`);
  }
  const s = rec.sregs;
  lines.push(`    ${SEGMENT_NAMES.slice(0, 6).map((n) => `${n} ${hx(s[n].selector)}`).join('  ')}`);
  lines.push(`    cr0 ${hx(s.cr0)}  cr3 ${hx(s.cr3)}  cr4 ${hx(s.cr4)}  efer ${hx(s.efer)}${rec.sregsChanged ? '  (segment/control registers changed at this record)' : ''}`);
  return lines;
}

/** formatDivergence wants a whole result; the stop reason has the divergence and the position. */
function resultOf(t: DebugTarget, d: Extract<StopReason, { kind: 'divergence' }>['divergence']): ReplayResult {
  return {
    ok: false,
    matched: t.position.records,
    exits: 0,
    instructions: t.position.instructions,
    singleStep: t.header.semantics.singleStep,
    recordedEnd: undefined,
    truncated: false,
    undefinedFlags: { adopted: 0 },
    divergence: d,
  };
}

export function divergenceReport(ctx: MonitorContext, d: Extract<StopReason, { kind: 'divergence' }>['divergence']): string {
  return formatDivergence(resultOf(ctx.target, d), ctx.trace);
}

async function seekReply(ctx: MonitorContext, goal: string, stop: StopReason | undefined): Promise<MonitorReply> {
  const now = where(ctx.target);
  if (stop) return { text: `stopped before ${goal}: ${describeStop(stop)}\nnow at ${now}\n${REFRESH}`, moved: true, failed: stop.kind === 'interrupted' };
  return { text: `now at ${now} (${goal})\n${REFRESH}`, moved: true };
}

const COMMANDS: Record<string, Command> = {
  help: {
    usage: 'help',
    help: 'this list',
    run: async () => text(helpText()),
  },
  record: {
    usage: 'record',
    help: 'where the replay stands: instruction count, records matched, the next record, the mode',
    run: async (_args, { target }) => {
      const next = await target.recordAt(target.position.records);
      const ahead = next ? `next record: #${next.seq} ${oneLine(describePayload(next))}` : 'no record after this one (end of the trace)';
      const stopped = target.stopped ? `\nforward execution ends here: ${describeStop(target.stopped)}` : '';
      return text(`at ${where(target)}\n${ahead}${stopped}`);
    },
  },
  exit: {
    usage: 'exit [N]',
    help: 'record N of the trace (default: the last one matched): reason, port/address, data, registers',
    run: async (args, { target }) => {
      const last = target.position.records - 1;
      const index = args[0] === undefined ? Math.max(last, 0) : count(args[0]);
      if (index === undefined) return failure(`monitor exit: '${oneLine(args[0]!)}' is not a record number (decimal or 0x hex)`);
      const rec = await target.recordAt(index);
      if (!rec) return failure(`monitor exit: the trace has no record #${index}`);
      const state = index <= last ? 'matched' : 'not reached yet';
      return text([...recordLines(rec), `  (${state} in this replay)`].join('\n'));
    },
  },
  divergence: {
    usage: 'divergence',
    help: 'the divergence report, once forward execution has met the first divergence',
    run: async (_args, ctx) => {
      const s = ctx.target.stopped;
      if (s?.kind === 'divergence') return text(divergenceReport(ctx, s.divergence));
      if (s?.kind === 'end') return text(`no divergence: the replay reached the end of the trace (${describeStop(s)})`);
      return text('no divergence met so far (`continue` runs forward to the first one, or to the end of the trace)');
    },
  },
  'seek-record': {
    usage: 'seek-record N',
    help: 'go to the state right after record N was matched (its registers are the record\'s)',
    run: async (args, ctx) => {
      const n = count(args[0]);
      if (n === undefined) return failure('usage: monitor seek-record N (a record number, decimal or 0x hex)');
      return seekReply(ctx, `record #${n}`, await ctx.target.seekRecord(n));
    },
  },
  seek: {
    usage: 'seek N',
    help: 'go to the state after N instructions (steps) from the start',
    run: async (args, ctx) => {
      const n = count(args[0]);
      if (n === undefined) return failure('usage: monitor seek N (an instruction count, decimal or 0x hex)');
      return seekReply(ctx, `instruction ${n}`, await ctx.target.seekInstruction(n));
    },
  },
};

function helpText(): string {
  const w = Math.max(...Object.values(COMMANDS).map((c) => c.usage.length));
  return ['vmtrace monitor commands:', ...Object.values(COMMANDS).map((c) => `  monitor ${c.usage.padEnd(w)}  ${c.help}`)].join('\n');
}

export async function runMonitor(line: string, ctx: MonitorContext): Promise<MonitorReply> {
  const [name = 'help', ...args] = line.trim().split(/\s+/).filter(Boolean);
  const cmd = Object.hasOwn(COMMANDS, name) ? COMMANDS[name] : undefined;
  if (!cmd) return failure(`vmtrace: unknown monitor command '${oneLine(name)}'\n${helpText()}`);
  return cmd.run(args, ctx);
}
