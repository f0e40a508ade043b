// The native KVM layer: thin typed wrappers whose failures name the ioctl and the errno.
import { describe, expect, it } from 'vitest';

import { KVM_CAP, openKvm } from '../../src/record/kvm.js';
import { kvmAvailability, kvmTitle } from '../support/kvm.js';

describe.skipIf(!kvmAvailability().ok)(kvmTitle('native KVM addon'), () => {
  it('reports capabilities, supported CPUID and the kvm_run layout', () => {
    const { addon, kvm } = openKvm();
    expect(kvm.apiVersion()).toBe(12);
    expect(kvm.checkExtension(KVM_CAP.IMMEDIATE_EXIT)).toBeGreaterThan(0);
    const cpuid = kvm.supportedCpuid();
    expect(cpuid.find((e) => e.function === 0)?.eax).toBeGreaterThan(0);
    expect(addon.runLayout).toMatchObject({ exitReason: 8, regsSize: 144, sregsSize: 312 });
  });

  it('exposes guest RAM as an ArrayBuffer without copies, and reads/writes vCPU state', () => {
    const { addon, kvm } = openKvm();
    const vm = new addon.Vm(kvm);
    const ram = new Uint8Array(vm.addMemory(0, 0, 0x10000));
    ram[0x100] = 0xaa;
    expect(new Uint8Array(vm.addMemory(1, 0x20000, 0x1000)).length).toBe(0x1000);
    const vcpu = new addon.Vcpu(kvm, vm, 0);
    const regs = vcpu.getRegs();
    vcpu.setRegs({ ...regs, rax: 0x1122334455667788n, rflags: 2n });
    expect(vcpu.getRegs().rax).toBe(0x1122334455667788n);
    const sregs = vcpu.getSregs();
    vcpu.setSregs({ ...sregs, cs: { ...sregs.cs, base: 0n, selector: 0 } });
    expect(vcpu.getSregs().cs.selector).toBe(0);
    expect(vcpu.getFpu()).toHaveLength(416);
    expect(vcpu.getMsrs([0xc0000080])[0]).toMatchObject({ index: 0xc0000080 }); // EFER
    vcpu.setCpuid(kvm.supportedCpuid());
    vcpu.setGuestDebug(0x3);
    vcpu.setGuestDebug(0);
  });

  it('turns a failing ioctl into an error naming the ioctl and the errno', () => {
    const { addon, kvm } = openKvm();
    const vm = new addon.Vm(kvm);
    vm.addMemory(0, 0, 0x10000);
    let err: (Error & { ioctl?: string; code?: string }) | undefined;
    try {
      vm.addMemory(1, 0x8000, 0x10000); // overlaps slot 0
    } catch (e) {
      err = e as typeof err;
    }
    expect(err?.message).toBe('KVM_SET_USER_MEMORY_REGION failed: EEXIST (File exists)');
    expect(err).toMatchObject({ ioctl: 'KVM_SET_USER_MEMORY_REGION', code: 'EEXIST' });
    const vcpu = new addon.Vcpu(kvm, vm, 0);
    expect(() => vcpu.setMsrs([{ index: 0xdeadbeef, data: 1n }])).toThrow(/^KVM_SET_MSRS \(some MSRs\) failed: EINVAL/);
  });
});
