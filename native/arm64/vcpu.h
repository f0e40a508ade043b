// An arm64 KVM vCPU: KVM_ARM_VCPU_INIT, the record registers by KVM_GET/SET_ONE_REG (arm64 has
// no KVM_GET_REGS and no sync regs), KVM_RUN and MMIO completion. src/arch/aarch64/record/kvm.ts
// is the TypeScript side.
#pragma once
#include <linux/kvm.h>
#include <napi.h>
#include <time.h>

#include <cstdint>
#include "../kick_timer.h"

namespace vmtrace {

// The record's registers: x0-x30, sp_el0, sp_el1, pc, pstate (src/arch/aarch64/state.ts).
constexpr int kA64Regs = 35;
// The system registers: elr_el1 and spsr_el1 (KVM core registers), then the ones JS names by
// their (op0, op1, CRn, CRm, op2) encoding.
constexpr int kA64CoreSysregs = 2;
constexpr int kA64Sysregs = 13;

// What the vCPU shares with JS (stateBuffer()): the registers readState() last read and the
// times of the last KVM_RUN. Layout exported as runLayout.state*.
struct A64State {
  uint64_t regs[kA64Regs];
  uint64_t sysregs[kA64Sysregs];
  double t_enter_ns;  // CLOCK_MONOTONIC just before KVM_RUN
  double t_exit_ns;   // ... and just after it returned
};

class A64Vcpu : public Napi::ObjectWrap<A64Vcpu> {
 public:
  static Napi::Function Define(Napi::Env env);
  // new A64Vcpu(kvmSystem, vm, id, sysregEncodings: [op0, op1, crn, crm, op2][11])
  explicit A64Vcpu(const Napi::CallbackInfo& info);
  ~A64Vcpu() override;

 private:
  Napi::Value Init(const Napi::CallbackInfo& info);
  Napi::Value Run(const Napi::CallbackInfo& info);
  Napi::Value Complete(const Napi::CallbackInfo& info);
  void ReadState(const Napi::CallbackInfo& info);
  void WriteState(const Napi::CallbackInfo& info);
  Napi::Value GetOneReg(const Napi::CallbackInfo& info);
  void SetOneReg(const Napi::CallbackInfo& info);
  Napi::Value RegIds(const Napi::CallbackInfo& info);
  Napi::Value RunBuffer(const Napi::CallbackInfo& info);
  Napi::Value StateBuffer(const Napi::CallbackInfo& info);
  void SetGuestDebug(const Napi::CallbackInfo& info);
  void StartKickTimer(const Napi::CallbackInfo& info);
  void StopKickTimer(const Napi::CallbackInfo& info);
  int RunOnce();

  int fd_ = -1;
  int vm_fd_ = -1;
  Napi::ObjectReference vm_ref_;  // keeps the Vm (and its fd) alive as long as this vCPU
  kvm_run* run_ = nullptr;
  size_t run_size_ = 0;
  uint64_t reg_ids_[kA64Regs] = {};
  uint64_t sysreg_ids_[kA64Sysregs] = {};
  A64State state_ = {};
  KickTimer kick_;
};

}  // namespace vmtrace
