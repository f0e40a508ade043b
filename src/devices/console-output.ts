// The guest's console text as a trace shows it: which OUT exits carry console bytes, decided
// from the devices the trace header lists. Shared by replay (printing as exits match),
// `replay --no-exec` and `inspect --console`, so they agree on what "console output" is.
import type { DeviceInfo, TraceRecord } from '../trace/format.js';

/** Devices whose OUT bytes are console text, by the name the recorder registers them under. */
const TEXT_DEVICES = new Set(['console', 'debugcon']);
const UART_DEVICES = new Set(['uart', 'uart16550']);
const UART_THR = 0;
const UART_LCR = 3;
const LCR_DLAB = 0x80;

export class ConsoleDecoder {
  private readonly text: DeviceInfo[];
  private readonly uarts: Array<{ device: DeviceInfo; dlab: boolean }>;

  constructor(devices: DeviceInfo[]) {
    this.text = devices.filter((d) => d.kind === 'port' && TEXT_DEVICES.has(d.name));
    this.uarts = devices.filter((d) => d.kind === 'port' && UART_DEVICES.has(d.name)).map((device) => ({ device, dlab: false }));
  }

  /** The console bytes this record carries, or undefined. Call for every record, in order. */
  bytes(rec: TraceRecord): Uint8Array | undefined {
    const io = rec.io;
    if (!io || io.direction !== 'out') return undefined;
    if (this.text.some((d) => io.port >= d.base && io.port < d.base + d.length)) return io.data;
    for (const u of this.uarts) {
      const reg = io.port - u.device.base;
      if (reg === UART_LCR) u.dlab = (io.data[io.data.length - 1]! & LCR_DLAB) !== 0;
      else if (reg === UART_THR && !u.dlab) return io.data.filter((_, i) => i % io.size === 0);
    }
    return undefined;
  }
}
