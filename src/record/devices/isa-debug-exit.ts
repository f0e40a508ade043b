// QEMU's isa-debug-exit (here at 0xf4, 4 ports, like `-device isa-debug-exit,iobase=0xf4,iosize=4`):
// a write of v ends the run with exit status (v << 1) | 1. Reads answer 0.
import type { DeviceContext, PortDevice, PortDeviceType } from './device.js';
import type { StopRequest } from './stop.js';

/** The status QEMU exits with after the guest writes `value`. */
export function debugExitStatus(value: number): number {
  return value * 2 + 1;
}

export class IsaDebugExit implements PortDevice {
  readonly name = 'isa-debug-exit';

  constructor(private readonly stop: StopRequest) {}

  portOut(port: number, size: number, value: number): void {
    const status = debugExitStatus(value);
    this.stop.request({
      endReason: 'guest-exit',
      status,
      source: this.name,
      message: `guest exited with status ${status} (wrote 0x${value.toString(16)} to isa-debug-exit port 0x${port.toString(16)}, ${size} byte${size > 1 ? 's' : ''})`,
    });
  }

  portIn(): number {
    return 0;
  }
}

export const isaDebugExitType: PortDeviceType = {
  name: 'isa-debug-exit',
  aliases: ['exit', 'debug-exit'],
  defaultBase: 0xf4,
  ports: 4,
  summary: 'QEMU isa-debug-exit: writing v ends the run with status (v << 1) | 1',
  create: (ctx: DeviceContext) => new IsaDebugExit(ctx.stop),
};
