// vmtrace's exit-status register for aarch64 guests (0x09100000, free in QEMU virt's map): a
// 32-bit write of v ends the run with exit status v (guests that want a status other than
// PSCI SYSTEM_OFF's plain "powered off"). Reads answer 0.
import { EXIT_DEVICE_BASE } from '../../arch/aarch64/layout.js';
import type { MmioDeviceType } from './catalog.js';
import type { DeviceContext, MmioDevice } from './device.js';
import type { StopRequest } from './stop.js';

export class ExitRegister implements MmioDevice {
  readonly name = 'exit-register';

  constructor(private readonly stop: StopRequest) {}

  mmioRead(_address: number, data: Uint8Array): void {
    data.fill(0);
  }

  mmioWrite(address: number, data: Uint8Array): void {
    let status = 0;
    for (let i = Math.min(data.length, 4) - 1; i >= 0; i--) status = status * 256 + data[i]!;
    this.stop.request({
      endReason: 'guest-exit',
      status,
      source: this.name,
      message: `guest exited with status ${status} (wrote 0x${status.toString(16)} to the exit register 0x${address.toString(16)}, ${data.length} bytes)`,
    });
  }
}

export const exitRegisterType: MmioDeviceType = {
  name: 'exit-register',
  defaultBase: EXIT_DEVICE_BASE,
  length: 4,
  summary: 'a 32-bit write of v ends the run with exit status v',
  create: (ctx: DeviceContext) => new ExitRegister(ctx.stop),
};
