// The guest's console text as a trace shows it: which OUT exits (aarch64: MMIO writes to a
// PL011's data register) carry console bytes, decided from the devices the trace header lists. Shared by replay (printing as exits match),
// `replay --no-exec` and `inspect --console`, so they agree on what "console output" is.
import type { DeviceInfo, TraceRecord } from '../trace/format.js';

/** Devices whose OUT bytes are console text, by the name the recorder registers them under. */
const TEXT_DEVICES = new Set(['console', 'debugcon']);
const UART_DEVICES = new Set(['uart', 'uart16550']);
const UART_THR = 0;
const UART_LCR = 3;
const LCR_DLAB = 0x80;
/** MMIO UARTs whose data register (at the base) prints what is written to it. */
const MMIO_UART_DEVICES = new Set(['pl011']);

/** The MMIO addresses whose writes carry console bytes (a PL011's data register, UARTDR at its base): the low byte of each write. */
export function mmioConsoleAddresses(devices: DeviceInfo[]): number[] {
  return devices.filter((d) => d.kind === 'mmio' && MMIO_UART_DEVICES.has(d.name)).map((d) => d.base);
}

export class ConsoleDecoder {
  private readonly text: DeviceInfo[];
  private readonly uarts: Array<{ device: DeviceInfo; dlab: boolean }>;
  /** Data-register addresses of the MMIO UARTs. */
  private readonly mmioData: number[];

  constructor(devices: DeviceInfo[]) {
    this.text = devices.filter((d) => d.kind === 'port' && TEXT_DEVICES.has(d.name));
    this.uarts = devices.filter((d) => d.kind === 'port' && UART_DEVICES.has(d.name)).map((device) => ({ device, dlab: false }));
    this.mmioData = mmioConsoleAddresses(devices);
  }

  /** The console bytes this record carries, or undefined. Call for every record, in order. */
  bytes(rec: TraceRecord): Uint8Array | undefined {
    const io = rec.io;
    if (io) return io.direction === 'out' ? this.out(io.port, io.size, io.data) : undefined;
    const m = rec.mmio;
    return m && m.write ? this.mmioWrite(m.address, m.data) : undefined;
  }

  /** The console byte of an MMIO write of `data` at `address` (a UART data register takes the low byte), or undefined. */
  mmioWrite(address: number, data: Uint8Array): Uint8Array | undefined {
    return this.mmioData.includes(address) && data.length > 0 ? data.subarray(0, 1) : undefined;
  }

  /** Whether an OUT to `port` may carry console text (a cheap pre-check for scanners). */
  claims(port: number): boolean {
    return this.isText(port) || this.uarts.some((u) => port === u.device.base || port === u.device.base + UART_LCR);
  }

  /** Whether OUT bytes to `port` are console text as they are (no UART register). A plain loop: replay asks for every OUT it matches. */
  isText(port: number): boolean {
    for (const d of this.text) if (port >= d.base && port < d.base + d.length) return true;
    return false;
  }

  /** The console bytes of an OUT of `data` (size-byte units) to `port`, or undefined. */
  out(port: number, size: number, data: Uint8Array): Uint8Array | undefined {
    if (this.isText(port)) return data;
    for (const u of this.uarts) {
      const reg = port - u.device.base;
      if (reg === UART_LCR) u.dlab = (data[data.length - size]! & LCR_DLAB) !== 0;
      else if (reg === UART_THR && !u.dlab) return size === 1 ? data : data.filter((_, i) => i % size === 0);
    }
    return undefined;
  }

  /** Ports that carry console text, for messages. */
  get ports(): number[] {
    return [...this.text.flatMap((d) => Array.from({ length: d.length }, (_, i) => d.base + i)), ...this.uarts.map((u) => u.device.base)];
  }
}

/** Bytes a ConsoleWriter gathers before it writes. */
const WRITE_BYTES = 64 * 1024;

/**
 * The guest's console on its way out in pieces: one write per many OUT exits instead of one per
 * byte, and at least every `flushMs` while bytes wait (so slow output still shows as it comes).
 * Whoever writes anything else to the terminal (stderr) calls flush() first, to keep the order.
 */
export class ConsoleWriter {
  private readonly buf = new Uint8Array(WRITE_BYTES);
  private n = 0;
  private readonly timer: NodeJS.Timeout;

  /** `write` may keep the array it is given (it is the writer's no longer). */
  constructor(
    private readonly write: (bytes: Uint8Array) => void,
    flushMs = 100,
  ) {
    this.timer = setInterval(() => this.flush(), flushMs);
    this.timer.unref();
  }

  push(bytes: Uint8Array): void {
    if (this.n + bytes.length > this.buf.length) {
      this.flush();
      if (bytes.length > this.buf.length) {
        this.write(Uint8Array.from(bytes));
        return;
      }
    }
    this.buf.set(bytes, this.n);
    this.n += bytes.length;
  }

  flush(): void {
    if (this.n === 0) return;
    const out = this.buf.slice(0, this.n);
    this.n = 0;
    this.write(out);
  }

  /** Writes what is left and stops the timer. */
  close(): void {
    clearInterval(this.timer);
    this.flush();
  }
}
