// Whether this machine can record, and why not: tests that need KVM skip with this reason.
import { existsSync } from 'node:fs';

import { ADDON_PATH } from '../../src/record/kvm.js';

export function kvmAvailability(): { ok: boolean; reason: string } {
  const device = process.env.VMTRACE_KVM_DEVICE ?? '/dev/kvm';
  if (process.platform !== 'linux') return { ok: false, reason: `not Linux (${process.platform})` };
  if (!existsSync(device)) return { ok: false, reason: `${device} does not exist` };
  if (!existsSync(ADDON_PATH)) return { ok: false, reason: 'the KVM addon is not built (npm run build:addon)' };
  return { ok: true, reason: '' };
}

/** A describe() title that carries the skip reason, so skipped tests say why in the report. */
export function kvmTitle(title: string): string {
  const k = kvmAvailability();
  return k.ok ? title : `${title} [skipped: ${k.reason}]`;
}
