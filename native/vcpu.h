// A KVM vCPU: the kvm_run area, register access and KVM_RUN itself.
#pragma once
#include <linux/kvm.h>
#include <napi.h>
#include <time.h>

namespace vmtrace {

class Vcpu : public Napi::ObjectWrap<Vcpu> {
 public:
  static Napi::Function Define(Napi::Env env);
  explicit Vcpu(const Napi::CallbackInfo& info);
  ~Vcpu() override;

 private:
  // Hot path: no allocation, errno returned as a number rather than thrown.
  Napi::Value Run(const Napi::CallbackInfo& info);
  Napi::Value Complete(const Napi::CallbackInfo& info);
  int RunOnce();

  Napi::Value RunBuffer(const Napi::CallbackInfo& info);
  Napi::Value TimingBuffer(const Napi::CallbackInfo& info);
  Napi::Value EnableSyncRegs(const Napi::CallbackInfo& info);
  Napi::Value GetRegs(const Napi::CallbackInfo& info);
  void SetRegs(const Napi::CallbackInfo& info);
  Napi::Value GetSregs(const Napi::CallbackInfo& info);
  void SetSregs(const Napi::CallbackInfo& info);
  Napi::Value GetFpu(const Napi::CallbackInfo& info);
  void SetFpu(const Napi::CallbackInfo& info);
  Napi::Value GetMsrs(const Napi::CallbackInfo& info);
  void SetMsrs(const Napi::CallbackInfo& info);
  void SetCpuid(const Napi::CallbackInfo& info);
  void SetGuestDebug(const Napi::CallbackInfo& info);
  Napi::Value Translate(const Napi::CallbackInfo& info);
  void StartKickTimer(const Napi::CallbackInfo& info);
  void StopKickTimer(const Napi::CallbackInfo& info);

  int fd_ = -1;
  kvm_run* run_ = nullptr;
  size_t run_size_ = 0;
  bool sync_regs_ = false;
  // [0] = CLOCK_MONOTONIC ns just before the last KVM_RUN, [1] = just after it returned.
  double timing_[2] = {0, 0};
  timer_t kick_timer_{};
  bool kick_armed_ = false;
};

}  // namespace vmtrace
