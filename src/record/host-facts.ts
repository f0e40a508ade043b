// Facts about the recording host, stored in every trace header: traces from different hosts
// can then be told apart and compared knowingly.
import { existsSync, readFileSync } from 'node:fs';
import { release } from 'node:os';

import type { HostFacts } from '../trace/format.js';

const KVM_MODULES = ['kvm_pvm', 'kvm_intel', 'kvm_amd'];

export function kvmModule(): string {
  const loaded = KVM_MODULES.filter((m) => existsSync(`/sys/module/${m}`));
  return loaded.length ? loaded.join(',') : 'unknown';
}

export function cpuInfo(): { vendor: string; model: string } {
  let text = '';
  try {
    text = readFileSync('/proc/cpuinfo', 'utf8');
  } catch {
    return { vendor: 'unknown', model: 'unknown' };
  }
  const field = (name: string) => new RegExp(`^${name}\\s*:\\s*(.*)$`, 'm').exec(text)?.[1]?.trim() ?? 'unknown';
  return { vendor: field('vendor_id'), model: field('model name') };
}

export function hostFacts(kvmApiVersion: number, syncRegs: boolean): HostFacts {
  const cpu = cpuInfo();
  return {
    kernel: release(),
    kvmApiVersion,
    kvmModule: kvmModule(),
    cpuVendor: cpu.vendor,
    cpuModel: cpu.model,
    syncRegs,
  };
}
