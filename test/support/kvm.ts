// Whether this machine can record, and why not: tests that need KVM skip with this reason.
import { loadAddon, openKvm } from '../../src/record/kvm.js';

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

let addonCached: { ok: boolean; reason: string } | undefined;

/** Whether the native addon loads here (without opening the KVM device), and why not. */
export function addonAvailability(): { ok: boolean; reason: string } {
  if (addonCached) return addonCached;
  try {
    loadAddon();
    addonCached = { ok: true, reason: '' };
  } catch (e) {
    addonCached = { ok: false, reason: (e as Error).message };
  }
  return addonCached;
}

const escapeRe = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/**
 * The reason `vmtrace` gives when it cannot record because the KVM device at `device` does not
 * exist (VMTRACE_KVM_DEVICE), as a regexp source to embed in a pinned message. The addon is
 * loaded before the device is opened, so where the addon is not built (or not Linux) that is
 * the reason given instead: tests pin the device message on machines with the addon and the
 * addon's message elsewhere.
 */
export function noKvmReason(device: string): string {
  const addon = addonAvailability();
  return addon.ok ? `${escapeRe(device)} does not exist: this machine has no KVM` : escapeRe(addon.reason);
}
