// The Bochs/QEMU debug console (port 0xe9 by default): OUT prints the byte, IN answers 0xe9 so
// a guest can tell the port is there (QEMU's `readback` default).
import { bytesFrom, putBytes, type ConsoleSink } from './console.js';
import type { DeviceContext, PortDevice, PortDeviceType } from './device.js';

export const DEBUGCON_READBACK = 0xe9;

export class DebugCon implements PortDevice {
  readonly name = 'debugcon';

  constructor(private readonly sink: ConsoleSink) {}

  portOut(_port: number, size: number, value: number): void {
    putBytes(this.sink, size, value);
  }

  portIn(_port: number, size: number): number {
    return bytesFrom(size, () => DEBUGCON_READBACK);
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
