// Facts about an arm64 recording host for the trace header: kernel, KVM (built into the arm64
// kernel: module 'kvm'), and the CPU as MIDR_EL1 names it (arm64 /proc/cpuinfo has no model name).
import { existsSync, readFileSync } from 'node:fs';
import { release } from 'node:os';

import type { HostFacts } from '../../../trace/format.js';

const IMPLEMENTERS: Record<number, string> = { 0x00: 'software (e.g. QEMU TCG)', 0x41: 'Arm', 0x42: 'Broadcom', 0x43: 'Cavium', 0x48: 'HiSilicon', 0x4e: 'NVIDIA', 0x51: 'Qualcomm', 0x61: 'Apple', 0xc0: 'Ampere' };

function readText(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return '';
  }
}

export function a64CpuInfo(): { vendor: string; model: string } {
  const midrText = readText('/sys/devices/system/cpu/cpu0/regs/identification/midr_el1').trim();
  const cpuinfo = readText('/proc/cpuinfo');
  const field = (name: string) => new RegExp(`^${name}\\s*:\\s*(.*)$`, 'm').exec(cpuinfo)?.[1]?.trim();
  let implementer = Number(field('CPU implementer') ?? NaN);
  let part = field('CPU part');
  if (midrText) {
    const midr = Number(midrText);
    implementer = (midr >>> 24) & 0xff;
    part = `0x${((midr >>> 4) & 0xfff).toString(16).padStart(3, '0')}`;
  }
  if (!Number.isFinite(implementer)) return { vendor: 'unknown', model: 'unknown' };
  const vendor = `${IMPLEMENTERS[implementer] ?? 'implementer'} (0x${implementer.toString(16).padStart(2, '0')})`;
  return { vendor, model: `${midrText ? `MIDR_EL1 ${midrText}, ` : ''}part ${part ?? 'unknown'}` };
}

export function a64HostFacts(kvmApiVersion: number): HostFacts {
  const cpu = a64CpuInfo();
  return {
    kernel: release(),
    kvmApiVersion,
    kvmModule: existsSync('/sys/module/kvm') ? 'kvm' : 'unknown',
    cpuVendor: cpu.vendor,
    cpuModel: cpu.model,
    syncRegs: false, // arm64 KVM has no KVM_CAP_SYNC_REGS: registers come from KVM_GET_ONE_REG
  };
}
