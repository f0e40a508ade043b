// Whether this machine can record, and why not: tests that need KVM skip with this reason.
import { openKvm } from '../../src/record/kvm.js';

let cached: { ok: boolean; reason: string } | undefined;

/** Tries what `vmtrace record` does first: load the addon and open the KVM device. */
export function kvmAvailability(): { ok: boolean; reason: string } {
  if (cached) return cached;
  try {
    openKvm();
    cached = { ok: true, reason: '' };
  } catch (e) {
    cached = { ok: false, reason: (e as Error).message };
    // Printed so that a run without KVM says why recording tests were skipped.
    console.warn(`[vmtrace tests] skipping tests that record under KVM: ${cached.reason}`);
  }
  return cached;
}

/** A describe() title that carries the skip reason, so skipped tests say why in the report. */
export function kvmTitle(title: string): string {
  const k = kvmAvailability();
  return k.ok ? title : `${title} [skipped: ${k.reason}]`;
}
