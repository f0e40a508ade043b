// What a device model implements, and the buses that route guest accesses to devices by
// port or address range (kvmtool style: devices register ranges, no central switch).
import type { DeviceInfo } from '../../trace/format.js';

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

/** Unclaimed reads answer all ones, as an empty ISA bus or unassigned MMIO does. */
export const UNCLAIMED_BYTE = 0xff;

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

  register(base: number, length: number, device: MmioDevice): void {
    const clash = this.entries.find((e) => base < e.end && e.base < base + length);
    if (clash) throw new Error(`MMIO range 0x${base.toString(16)} overlaps ${clash.device.name}`);
    this.entries.push({ base, end: base + length, device });
  }

  access(address: number, write: boolean, data: Uint8Array): void {
    const dev = this.entries.find((e) => address >= e.base && address < e.end)?.device;
    if (write) dev?.mmioWrite(address, data);
    else if (dev) dev.mmioRead(address, data);
    else data.fill(UNCLAIMED_BYTE);
  }

  get devices(): DeviceInfo[] {
    return this.entries.map((e) => ({ name: e.device.name, kind: 'mmio', base: e.base, length: e.end - e.base }));
  }
}
