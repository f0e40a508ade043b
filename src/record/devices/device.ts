// What a device model implements, and the buses that route guest accesses to devices by
// port or address range (kvmtool style: devices register ranges, no central switch).
import type { DeviceInfo } from '../../trace/format.js';
import type { ConsoleSink, InputBytes } from './console.js';
import type { StopRequest } from './stop.js';

export interface PortDevice {
  readonly name: string;
  /** Value for an IN of `size` bytes (1, 2 or 4) from `port`. */
  portIn(port: number, size: number): number;
  portOut(port: number, size: number, value: number): void;
}

export interface MmioDevice {
  readonly name: string;
  /** Fills `data` (the access's bytes, little-endian) for a read at `address`. */
  mmioRead(address: number, data: Uint8Array): void;
  mmioWrite(address: number, data: Uint8Array): void;
}

/** What devices are built with: the shared console output, --input, and a way to end the run. */
export interface DeviceContext {
  sink: ConsoleSink;
  input: InputBytes;
  stop: StopRequest;
}

/** A kind of port device, one per file (debugcon.ts, uart16550.ts, …); catalog.ts lists them. */
export interface PortDeviceType {
  /** Canonical name: what the trace header's `devices[].name` says. */
  readonly name: string;
  /** Other names the CLI accepts (`uart`, `exit`, …). */
  readonly aliases: readonly string[];
  readonly defaultBase: number;
  /** Number of consecutive ports claimed from the base. */
  readonly ports: number;
  /** One line for docs and --help. */
  readonly summary: string;
  create(ctx: DeviceContext, base: number): PortDevice;
}

/** Unclaimed reads answer all ones, as an empty ISA bus or unassigned MMIO does. */
export const UNCLAIMED_BYTE = 0xff;

/** How a bus treats accesses nothing claims. */
export interface BusOptions {
  /**
   * When set, the bus files stop requests here: under `strict`, for an unclaimed access; and once
   * any stop was requested it stops dispatching (accesses after the end are not part of the run).
   */
  stop?: StopRequest;
  /** --strict: an unclaimed access ends the run with an error. */
  strict?: boolean;
}

function valueText(data: Uint8Array, at: number, size: number): string {
  return '0x' + readLE(data, at, size).toString(16);
}

function readLE(data: Uint8Array, at: number, size: number): number {
  let v = 0;
  for (let i = size - 1; i >= 0; i--) v = v * 256 + data[at + i]!;
  return v;
}

function writeLE(data: Uint8Array, at: number, size: number, value: number): void {
  for (let i = 0; i < size; i++) {
    data[at + i] = value & 0xff;
    value = Math.floor(value / 256);
  }
}

export class PortBus {
  private readonly byPort: Array<PortDevice | undefined> = new Array(0x10000);
  private readonly ranges: DeviceInfo[] = [];

  constructor(private readonly options: BusOptions = {}) {}

  register(base: number, length: number, device: PortDevice): void {
    for (let p = base; p < base + length; p++) {
      const other = this.byPort[p];
      if (other) throw new Error(`port 0x${p.toString(16)} is claimed by both ${other.name} and ${device.name}`);
      this.byPort[p] = device;
    }
    this.ranges.push({ name: device.name, kind: 'port', base, length });
  }

  claimed(port: number): boolean {
    return this.byPort[port] !== undefined;
  }

  /** Handles one IO exit: `data` holds size*count bytes, written by the guest or to be filled. */
  access(port: number, size: number, count: number, out: boolean, data: Uint8Array): void {
    const dev = this.byPort[port];
    const stop = this.options.stop;
    if (stop && (stop.requested || (dev === undefined && this.options.strict))) {
      if (!stop.requested) {
        const what = out ? `OUT of ${size} byte${size > 1 ? 's' : ''} (${valueText(data, 0, size)})` : `IN of ${size} byte${size > 1 ? 's' : ''}`;
        stop.request({ endReason: 'error', source: 'port bus', wantsRip: true, message: `--strict: unclaimed port 0x${port.toString(16)}: ${what}` });
      }
      if (!out) data.fill(UNCLAIMED_BYTE, 0, size * count);
      return;
    }
    for (let i = 0; i < count; i++) {
      const at = i * size;
      if (out) dev?.portOut(port, size, readLE(data, at, size));
      else if (dev) writeLE(data, at, size, dev.portIn(port, size));
      else data.fill(UNCLAIMED_BYTE, at, at + size);
    }
  }

  get devices(): DeviceInfo[] {
    return [...this.ranges];
  }
}

export class MmioBus {
  private readonly entries: Array<{ base: number; end: number; device: MmioDevice }> = [];

  constructor(private readonly options: BusOptions = {}) {}

  register(base: number, length: number, device: MmioDevice): void {
    const clash = this.entries.find((e) => base < e.end && e.base < base + length);
    if (clash) throw new Error(`MMIO range 0x${base.toString(16)} overlaps ${clash.device.name}`);
    this.entries.push({ base, end: base + length, device });
  }

  access(address: number, write: boolean, data: Uint8Array): void {
    const dev = this.entries.find((e) => address >= e.base && address < e.end)?.device;
    const stop = this.options.stop;
    if (stop && (stop.requested || (dev === undefined && this.options.strict))) {
      if (!stop.requested) {
        const n = data.length;
        const what = write ? `write of ${n} byte${n > 1 ? 's' : ''} (${valueText(data, 0, Math.min(n, 6))})` : `read of ${n} byte${n > 1 ? 's' : ''}`;
        stop.request({ endReason: 'error', source: 'MMIO bus', wantsRip: true, message: `--strict: unclaimed MMIO address 0x${address.toString(16)}: ${what}` });
      }
      if (!write) data.fill(UNCLAIMED_BYTE);
      return;
    }
    if (write) dev?.mmioWrite(address, data);
    else if (dev) dev.mmioRead(address, data);
    else data.fill(UNCLAIMED_BYTE);
  }

  get devices(): DeviceInfo[] {
    return this.entries.map((e) => ({ name: e.device.name, kind: 'mmio', base: e.base, length: e.end - e.base }));
  }
}
