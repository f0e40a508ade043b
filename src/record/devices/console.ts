// The classic demo's console port (0xf1 by default): OUT prints a byte, IN reads the next byte
// of the user's input, 0 once it is exhausted. Also home of the output sink and the input stream
// that every console-like device shares (console, debugcon, uart16550, input).
import type { DeviceContext, PortDevice, PortDeviceType } from './device.js';

/** Where guest console bytes go: buffered, flushed at newlines and when the VMM asks. */
export interface ConsoleSink {
  put(byte: number): void;
  flush(): void;
}

export class StdoutSink implements ConsoleSink {
  private buf = Buffer.alloc(1 << 16);
  private used = 0;

  /** `beforeWrite`: told each chunk just before it goes to stdout (a progress line makes room). */
  constructor(
    private readonly enabled: boolean,
    private readonly beforeWrite?: (bytes: Buffer) => void,
  ) {}

  put(byte: number): void {
    if (!this.enabled) return;
    this.buf[this.used++] = byte;
    if (byte === 0x0a || this.used === this.buf.length) this.flush();
  }

  flush(): void {
    if (this.used === 0) return;
    const bytes = Buffer.from(this.buf.subarray(0, this.used));
    this.used = 0;
    this.beforeWrite?.(bytes);
    // Once the reader has gone (`| head`: EPIPE), the console output has nowhere to go.
    if (!process.stdout.destroyed) process.stdout.write(bytes);
  }
}

/** The bytes of --input, consumed in order by whichever device reads them. */
/** Prints the `size` bytes of an OUT value, low byte first. */
export function putBytes(sink: ConsoleSink, size: number, value: number): void {
  for (let i = 0; i < size; i++) {
    sink.put(value & 0xff);
    value >>>= 8;
  }
}

/** An IN value of `size` bytes, low byte first, each from `next`. */
export function bytesFrom(size: number, next: () => number): number {
  let v = 0;
  for (let i = 0; i < size; i++) v |= next() << (8 * i);
  return v >>> 0;
}

export class InputBytes {
  private pos = 0;
  constructor(private readonly bytes: Uint8Array) {}

  /** Bytes not read yet. */
  get remaining(): number {
    return this.bytes.length - this.pos;
  }

  /** Next input byte, or 0 at the end. */
  next(): number {
    return this.pos < this.bytes.length ? this.bytes[this.pos++]! : 0;
  }
}

export class ConsolePort implements PortDevice {
  readonly name = 'console';

  constructor(
    private readonly sink: ConsoleSink,
    private readonly input: InputBytes,
  ) {}

  portOut(_port: number, size: number, value: number): void {
    putBytes(this.sink, size, value);
  }

  portIn(_port: number, size: number): number {
    return bytesFrom(size, () => this.input.next());
  }
}

export const consoleType: PortDeviceType = {
  name: 'console',
  aliases: ['f1'],
  defaultBase: 0xf1,
  ports: 1,
  summary: "the seed's console: OUT prints a byte, IN reads the next --input byte (0 at the end)",
  create: (ctx: DeviceContext) => new ConsolePort(ctx.sink, ctx.input),
};
