// The gdb remote protocol commands over a replay (DebugTarget), for one gdb connection: queries,
// registers, memory, breakpoints and watchpoints (kept in the replay's breakpoint set, never
// written into guest memory), forward and reverse execution, and `monitor` commands.
// docs/debugging.md lists what is supported and how each stop is reported.
import type { DebugTarget, RunControl, StopReason, WatchKind, Watchpoint } from '../debug-target.js';
import type { Divergence } from '../engine.js';
import { summaryLine } from '../report.js';
import { divergenceReport, runMonitor, type MonitorContext } from './monitor.js';
import { escapeBinary, fromHex, toHex, unescapeBinary } from './packets.js';
import { architectureFor, decodeWrites, encodeAll, encodeRegister, layoutFor, MODE_WORDS, type Architecture, type GuestMode, type Layout, type RegisterState } from './registers.js';
import { targetXml } from './target-xml.js';

/** Largest packet gdb may send us (qSupported PacketSize) and the unit our long replies are cut in. */
export const PACKET_SIZE = 0x4000;
const THREAD = 1;

/** gdb signal numbers (target-independent, include/gdb/signals.def). */
export const SIGNAL = { INT: 2, TRAP: 5, EMT: 7 } as const;
/**
 * The signal of a divergence stop: SIGEMT ("Emulation trap"), which gdb stops at and prints
 * whatever it was doing. A SIGTRAP would be taken for the end of a step by `next`/`step`,
 * which would then step again into the same divergence forever.
 */
export const DIVERGENCE_SIGNAL = SIGNAL.EMT;

const FEATURES = [
  `PacketSize=${PACKET_SIZE.toString(16)}`,
  'qXfer:features:read+',
  'ReverseStep+',
  'ReverseContinue+',
  'swbreak+',
  'hwbreak+',
  'QStartNoAckMode+',
].join(';');

/** The connection the stub talks through (server.ts). */
export interface StubIo {
  /** Sends one packet (framed and acknowledged by the connection). */
  send(payload: string | Uint8Array): void;
  /** Acknowledgements off after this packet's reply (QStartNoAckMode). */
  noAck(): void;
  /** gdb sent Ctrl-C (0x03) since the last run ended. */
  interrupted(): boolean;
  clearInterrupt(): void;
}

export interface StubOptions {
  /** The trace file, for reports. */
  trace: string;
  /** What to type in gdb to reconnect (`target remote 127.0.0.1:1234`), for the mode-switch message. */
  reconnect: string;
}

/** What the connection does after a packet: go on, or end it (detach: keep the server; kill: end it). */
export type After = 'serve' | 'detach' | 'kill';

type Handler = (args: string, raw: Buffer) => Promise<After | void> | After | void;

const WATCH_KINDS: Record<string, WatchKind> = { '2': 'write', '3': 'read', '4': 'access' };
const WATCH_FIELD: Record<WatchKind, string> = { write: 'watch', read: 'rwatch', access: 'awatch' };

const hexNumber = (text: string): number | undefined => (/^[0-9a-fA-F]{1,13}$/.test(text) && Number.isSafeInteger(parseInt(text, 16)) ? parseInt(text, 16) : undefined);

const LINEAR_BITS = 48n;
/**
 * A guest address from gdb as the replay's linear address: the low 48 bits (what the
 * interpreter keeps in 64-bit mode; gdb sends upper-half addresses sign-extended to 64).
 */
function linearAddress(text: string): number | undefined {
  if (!/^[0-9a-fA-F]{1,16}$/.test(text)) return undefined;
  return Number(BigInt(`0x${text}`) & ((1n << LINEAR_BITS) - 1n));
}

/** A linear address as gdb knows it: canonical (bit 47 extended) in the 64-bit layout. */
function gdbAddress(address: number, layout: Layout): string {
  const v = BigInt(address);
  const upper = layout.name === 'amd64' && v >> (LINEAR_BITS - 1n) === 1n;
  return (upper ? v | (((1n << 64n) - 1n) ^ ((1n << LINEAR_BITS) - 1n)) : v).toString(16);
}

export class GdbStub {
  private readonly swBreaks = new Set<number>();
  private readonly hwBreaks = new Set<number>();
  private readonly watches: Watchpoint[] = [];
  /** The layout gdb was given (fixed when it reads target.xml), and the XML it read. */
  private layout: Layout;
  private xml: string | undefined;
  /** The mode gdb was last told about (at the description fetch, or by a mode-switch message). */
  private told: GuestMode;
  /** The divergence whose report gdb was shown (later stops at it get one line). */
  private reported: Divergence | undefined;
  private readonly monitor: MonitorContext;
  private readonly handlers: Record<string, Handler>;

  constructor(
    private readonly target: DebugTarget,
    private readonly io: StubIo,
    private readonly opts: StubOptions,
  ) {
    this.told = target.mode;
    this.layout = layoutFor(this.told);
    this.monitor = { target, trace: opts.trace };
    this.handlers = {
      '?': () => this.io.send(this.stopCode(this.target.stopped?.kind === 'divergence' ? DIVERGENCE_SIGNAL : SIGNAL.TRAP)),
      g: () => this.io.send(encodeAll(this.layout, this.state())),
      G: (a) => this.writeRegisters(0, a),
      p: (a) => this.readRegister(a),
      P: (a) => {
        const [n, v] = a.split('=');
        const num = hexNumber(n ?? '');
        if (num === undefined || v === undefined) return this.error('bad P packet');
        this.writeRegisters(num, v);
      },
      m: (a) => this.readMemory(a),
      M: (a) => this.writeMemory(a),
      X: (_a, raw) => this.writeBinary(raw),
      // C/S: the signal gdb passes is dropped (a replay cannot deliver one)
      c: (a) => this.resume(a, this.forward),
      C: (a) => this.resume(a.replace(/^[0-9a-fA-F]{2};?/, ''), this.forward),
      s: (a) => this.resume(a, this.step),
      S: (a) => this.resume(a.replace(/^[0-9a-fA-F]{2};?/, ''), this.step),
      b: (a) => this.reverse(a),
      v: (a) => this.vPacket(a),
      Z: (a) => this.breakpoint(a, true),
      z: (a) => this.breakpoint(a, false),
      H: (a) => this.io.send(this.isThread(a.slice(1)) ? 'OK' : 'E01'),
      T: (a) => this.io.send(this.isThread(a) ? 'OK' : 'E01'),
      q: (a) => this.query(a),
      Q: (a) => this.set(a),
      k: () => 'kill',
      D: () => {
        this.io.send('OK');
        return 'detach';
      },
    };
  }

  /** Answers one packet (its payload as received, binary data still escaped). */
  async handle(packet: Buffer): Promise<After> {
    const text = packet.toString('latin1');
    const handler = this.handlers[text[0] ?? ''];
    if (!handler) {
      this.io.send(''); // unknown: the empty reply
      return 'serve';
    }
    try {
      return (await handler(text.slice(1), packet.subarray(1))) ?? 'serve';
    } catch (e) {
      // the replay failed under a query (an unreadable record, …): gdb gets an error, the stub goes on
      this.error(`${text[0]} failed: ${e instanceof Error ? e.message : String(e)}`.replace(/[^\x20-\x7e]/g, '?'));
      return 'serve';
    }
  }

  private state(): RegisterState {
    return { regs: this.target.regs(), sregs: this.target.sregs(), x87: this.target.x87?.() };
  }

  /** An error reply with its reason: gdb shows the text for some packets (P), ignores it for others. */
  private error(reason: string): void {
    this.io.send(`E.${reason}`);
  }

  private isThread(id: string): boolean {
    return id === '0' || id === '-1' || hexNumber(id) === THREAD;
  }

  // ------------------------------------------------------------------------ registers, memory

  private readRegister(args: string): void {
    const n = hexNumber(args);
    const def = n === undefined ? undefined : this.layout.registers[n];
    if (!def) return this.io.send('E01');
    this.io.send(encodeRegister(def, this.state()));
  }

  private writeRegisters(first: number, hex: string): void {
    const changes = decodeWrites(this.layout, first, hex, this.state());
    if (typeof changes === 'string') return this.error(changes);
    this.target.setRegs(changes);
    this.io.send('OK');
  }

  private addressLength(args: string): { address: number; length: number; rest: string } | undefined {
    const m = /^([0-9a-fA-F]{1,16}),([0-9a-fA-F]{1,8})(?::([\s\S]*))?$/.exec(args);
    if (!m) return undefined;
    const address = linearAddress(m[1]!);
    const length = parseInt(m[2]!, 16);
    if (address === undefined) return undefined;
    return { address, length, rest: m[3] ?? '' };
  }

  /** What is readable from `address` on: the whole range, or up to the first unmapped page. */
  private readable(address: number, length: number): Uint8Array | null {
    const whole = this.target.readLinear(address, length);
    if (whole) return whole;
    const parts: Uint8Array[] = [];
    for (let at = address; at < address + length; ) {
      const n = Math.min(address + length - at, 0x1000 - (at % 0x1000));
      const part = this.target.readLinear(at, n);
      if (!part) break;
      parts.push(part);
      at += n;
    }
    return parts.length ? Buffer.concat(parts) : null;
  }

  private readMemory(args: string): void {
    const a = this.addressLength(args);
    if (!a || a.rest) return this.io.send('E01');
    const bytes = this.readable(a.address, Math.min(a.length, PACKET_SIZE / 2));
    // E14 (EFAULT): gdb's m packet takes only Enn as an error
    this.io.send(bytes ? toHex(bytes) : 'E14');
  }

  private writeMemory(args: string): void {
    const a = this.addressLength(args);
    const bytes = a && fromHex(a.rest);
    if (!a || !bytes || bytes.length !== a.length) return this.io.send('E01');
    this.io.send(this.target.writeLinear(a.address, bytes) ? 'OK' : 'E14');
  }

  private writeBinary(raw: Buffer): void {
    const colon = raw.indexOf(0x3a);
    const a = colon < 0 ? undefined : this.addressLength(raw.subarray(0, colon).toString('latin1'));
    const bytes = a && unescapeBinary(raw.subarray(colon + 1));
    if (!a || !bytes || bytes.length !== a.length) return this.io.send('E01');
    // gdb probes X support with an empty write
    this.io.send(bytes.length === 0 || this.target.writeLinear(a.address, bytes) ? 'OK' : 'E14');
  }

  // --------------------------------------------------------------------- breakpoints, watchpoints

  private breakpoint(args: string, insert: boolean): void {
    const m = /^([0-4]),([0-9a-fA-F]{1,16}),([0-9a-fA-F]{1,8})(;.*)?$/.exec(args);
    const address = m ? linearAddress(m[2]!) : undefined;
    if (!m || address === undefined) return this.io.send('E01');
    const type = m[1]!;
    if (type === '0' || type === '1') {
      const set = type === '0' ? this.swBreaks : this.hwBreaks;
      if (insert) set.add(address);
      else set.delete(address);
      return this.io.send('OK');
    }
    const w: Watchpoint = { kind: WATCH_KINDS[type]!, address, length: parseInt(m[3]!, 16) };
    const at = this.watches.findIndex((x) => x.kind === w.kind && x.address === w.address && x.length === w.length);
    if (insert && at < 0) this.watches.push(w);
    if (!insert && at >= 0) this.watches.splice(at, 1);
    this.io.send('OK');
  }

  private readonly forward = () => this.target.continue(this.control());
  private readonly step = () => this.target.stepInstruction({ watchpoints: [...this.watches] });

  private control(): RunControl {
    return {
      breakpoints: new Set([...this.swBreaks, ...this.hwBreaks]),
      watchpoints: [...this.watches],
      interrupted: () => this.io.interrupted(),
    };
  }

  // ------------------------------------------------------------------------------- execution

  /** c/s [ADDR]: resume (at ADDR if given) and report the stop. */
  private async resume(address: string, run: () => Promise<StopReason>): Promise<void> {
    if (address) {
      if (!/^[0-9a-fA-F]{1,16}$/.test(address)) return this.io.send('E01');
      this.target.setRegs({ rip: BigInt(`0x${address}`) });
    }
    await this.run(run);
  }

  private async reverse(args: string): Promise<void> {
    if (args === 'c') return this.run(() => this.target.reverseContinue(this.control()));
    if (args === 's') return this.run(() => this.target.reverseStepInstruction());
    this.io.send('');
  }

  private async run(run: () => Promise<StopReason>): Promise<void> {
    let stop: StopReason;
    try {
      stop = await run();
    } catch (e) {
      // the replay failed (an unreadable record, …): say why, and stop where it is
      this.console(`vmtrace: the replay stopped on an error: ${e instanceof Error ? e.message : String(e)}\n`);
      this.io.send(this.stopCode(SIGNAL.TRAP));
      return;
    } finally {
      this.io.clearInterrupt();
    }
    this.reportStop(stop);
  }

  private reportStop(stop: StopReason): void {
    this.announceMode();
    switch (stop.kind) {
      case 'step':
        return this.io.send(this.stopCode(SIGNAL.TRAP));
      case 'breakpoint':
        return this.io.send(this.stopCode(SIGNAL.TRAP, this.swBreaks.has(stop.address) ? 'swbreak:' : 'hwbreak:'));
      case 'watchpoint':
        return this.io.send(this.stopCode(SIGNAL.TRAP, `${WATCH_FIELD[stop.watch]}:${gdbAddress(stop.address, this.layout)}`));
      case 'interrupted':
        return this.io.send(this.stopCode(SIGNAL.INT));
      case 'start':
        return this.io.send(this.stopCode(SIGNAL.TRAP, 'replaylog:begin'));
      case 'end':
        this.console(`vmtrace: end of the trace: ${summaryLine(stop.result)}\n`);
        return this.io.send(this.stopCode(SIGNAL.TRAP, 'replaylog:end'));
      case 'divergence': {
        const d = stop.divergence;
        const again = this.reported?.index === d.index && this.reported.message === d.message;
        this.reported = d;
        this.console(
          again
            ? `vmtrace: forward execution ends here, at the divergence at record #${d.index} (\`monitor divergence\` shows the report)\n`
            : `vmtrace: the replay diverges from the recording here (\`monitor divergence\` repeats this):\n${divergenceReport(this.monitor, d)}\n`,
        );
        return this.io.send(this.stopCode(DIVERGENCE_SIGNAL));
      }
    }
  }

  /** A stop reply: `T05swbreak:;thread:1;`. */
  private stopCode(signal: number, field?: string): string {
    return `T${signal.toString(16).padStart(2, '0')}${field ? `${field};` : ''}thread:${THREAD.toString(16)};`;
  }

  /** Text on gdb's console (O packets: only while the target runs, i.e. before a stop reply). */
  private console(text: string): void {
    const hex = toHex(Buffer.from(text, 'utf8'));
    for (let at = 0; at < hex.length; at += PACKET_SIZE / 2) this.io.send(`O${hex.slice(at, at + PACKET_SIZE / 2)}`);
  }

  /** The guest changed mode since gdb was told: how to get the matching layout or disassembly. */
  private announceMode(): void {
    const mode = this.target.mode;
    if (mode === this.told) return;
    const before = this.told;
    this.told = mode;
    const arch: Architecture = architectureFor(mode);
    if (layoutFor(mode) !== this.layout) {
      this.console(
        `vmtrace: the guest switched from ${MODE_WORDS[before]} to ${MODE_WORDS[mode]}: its registers are ${layoutFor(mode).name === 'amd64' ? '64' : '32'}-bit now, ` +
          `but this connection keeps the ${this.layout.name} layout gdb read at the start (values cut to it). For the ${layoutFor(mode).name} one, reconnect ` +
          `(the replay stays here): \`disconnect\`, \`file\` (gdb refuses the new layout with an ELF of the old width loaded), ` +
          `\`${this.opts.reconnect}\`, then \`add-symbol-file ELF\` for its symbols (docs/debugging.md, "Mode switches").\n`,
      );
    } else if (arch !== architectureFor(before)) {
      this.console(`vmtrace: the guest switched from ${MODE_WORDS[before]} to ${MODE_WORDS[mode]}: \`set architecture ${arch}\` to disassemble its code.\n`);
    }
  }

  // ------------------------------------------------------------------------------ v, q, Q

  private async vPacket(args: string): Promise<void> {
    if (args === 'Cont?') return this.io.send('vCont;c;C;s;S');
    if (!args.startsWith('Cont;')) return this.io.send('');
    // the first action that applies to our thread (no thread id, -1, or ours)
    for (const action of args.slice(5).split(';')) {
      const [what = '', thread] = action.split(':');
      if (thread !== undefined && !this.isThread(thread)) continue;
      if (/^(c|C[0-9a-fA-F]{2})$/.test(what)) return this.run(this.forward);
      if (/^(s|S[0-9a-fA-F]{2})$/.test(what)) return this.run(this.step);
      return this.io.send('E01');
    }
    this.io.send('E01');
  }

  private async query(args: string): Promise<void> {
    const [name = '', rest = ''] = splitOnce(args, /[:,]/);
    switch (name) {
      case 'Supported':
        return this.io.send(FEATURES);
      case 'Xfer':
        return this.xfer(rest);
      case 'C':
        return this.io.send(`QC${THREAD.toString(16)}`);
      case 'Attached':
        // "attached to an existing process": gdb's quit detaches (the server keeps the replay) rather than kills
        return this.io.send('1');
      case 'fThreadInfo':
        return this.io.send(`m${THREAD.toString(16)}`);
      case 'sThreadInfo':
        return this.io.send('l');
      case 'Rcmd':
        return this.rcmd(rest);
      default:
        return this.io.send('');
    }
  }

  private xfer(args: string): void {
    const m = /^features:read:([^:]*):([0-9a-fA-F]+),([0-9a-fA-F]+)$/.exec(args);
    if (!m) return args.startsWith('features:') ? this.io.send('E01') : this.io.send('');
    if (m[1] !== 'target.xml') return this.io.send('E00');
    const offset = parseInt(m[2]!, 16);
    const length = parseInt(m[3]!, 16);
    if (offset === 0 || !this.xml) {
      // gdb reads the description when it connects: the layout is the guest's mode then
      this.told = this.target.mode;
      this.layout = layoutFor(this.told);
      this.xml = targetXml(this.layout, architectureFor(this.told));
    }
    const bytes = Buffer.from(this.xml, 'latin1');
    const chunk = bytes.subarray(offset, offset + Math.min(length, PACKET_SIZE / 2));
    const last = offset + chunk.length >= bytes.length;
    this.io.send(Buffer.concat([Buffer.from(last ? 'l' : 'm'), escapeBinary(chunk)]));
  }

  private async rcmd(hex: string): Promise<void> {
    const bytes = fromHex(hex);
    if (!bytes) return this.io.send('E01');
    const reply = await runMonitor(Buffer.from(bytes).toString('utf8'), this.monitor);
    this.console(`${reply.text}\n`);
    if (reply.moved) this.announceMode();
    // E01 makes gdb fail the command (after printing why), so a script stops there
    this.io.send(reply.failed ? 'E01' : 'OK');
  }

  private set(args: string): void {
    if (args === 'StartNoAckMode') {
      this.io.send('OK');
      this.io.noAck();
      return;
    }
    this.io.send('');
  }
}

function splitOnce(text: string, sep: RegExp): [string, string] {
  const m = sep.exec(text);
  return m ? [text.slice(0, m.index), text.slice(m.index + 1)] : [text, ''];
}
