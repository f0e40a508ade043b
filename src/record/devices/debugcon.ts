// The Bochs/QEMU debug console (port 0xe9 by default): OUT prints the byte, IN answers 0xe9 so
// a guest can tell the port is there (QEMU's `readback` default).
import type { ConsoleSink } from './console.js';
import type { DeviceContext, PortDevice, PortDeviceType } from './device.js';

export const DEBUGCON_READBACK = 0xe9;

export class DebugCon implements PortDevice {
  readonly name = 'debugcon';

  constructor(private readonly sink: ConsoleSink) {}

  portOut(_port: number, size: number, value: number): void {
    for (let i = 0; i < size; i++) {
      this.sink.put(value & 0xff);
      value >>>= 8;
    }
  }

  portIn(_port: number, size: number): number {
    let v = 0;
    for (let i = 0; i < size; i++) v |= DEBUGCON_READBACK << (8 * i);
    return v >>> 0;
  }
}

export const debugconType: PortDeviceType = {
  name: 'debugcon',
  aliases: ['e9'],
  defaultBase: 0xe9,
  ports: 1,
  summary: 'Bochs/QEMU debug console: OUT prints a byte, IN reads 0xe9',
  create: (ctx: DeviceContext) => new DebugCon(ctx.sink),
};
