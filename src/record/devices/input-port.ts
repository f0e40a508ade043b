// Raw input bytes: IN from the data port (base) returns the next byte of --input (0 when none is
// left); IN from the status port (base + 1) returns 1 while bytes remain, 0 after the last. Unlike
// the console's 0-at-the-end convention, this lets a guest read binary input that contains zeros.
import { bytesFrom, type InputBytes } from './console.js';
import type { DeviceContext, PortDevice, PortDeviceType } from './device.js';

export class InputPort implements PortDevice {
  readonly name = 'input';

  constructor(
    private readonly input: InputBytes,
    private readonly base: number,
  ) {}

  portOut(): void {}

  portIn(port: number, size: number): number {
    if (port !== this.base) return this.input.remaining > 0 ? 1 : 0;
    return bytesFrom(size, () => this.input.next());
  }
}

export const inputPortType: PortDeviceType = {
  name: 'input',
  aliases: ['in'],
  defaultBase: 0xf2,
  ports: 2,
  summary: 'raw --input bytes: IN base = next byte, IN base+1 = 1 while bytes remain',
  create: (ctx: DeviceContext, base: number) => new InputPort(ctx.input, base),
};
