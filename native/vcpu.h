// A KVM vCPU: the kvm_run area, register access and KVM_RUN itself.
#pragma once
#include <linux/kvm.h>
#include <napi.h>
#include <time.h>
#include "kick_timer.h"

namespace vmtrace {

// One exit as KVM_RUN left it, copied out of kvm_run so that several exits can be run back to
// back before JS looks at them (see RunBatch). Layout exported as runLayout.ring*.
struct ExitSnapshot {
  int32_t err;           // 0, or the errno of KVM_RUN
  uint32_t exit_reason;
  double t_enter_ns;     // CLOCK_MONOTONIC just before KVM_RUN
  double t_exit_ns;      // ... and just after it returned
  kvm_regs regs;
  kvm_sregs sregs;
  uint8_t io_direction;
  uint8_t io_size;
  uint16_t io_port;
  uint32_t io_count;
  uint64_t io_data_offset;
  uint8_t io_data[8];    // the first bytes of the IO data (all of a single OUT)
};
constexpr int kExitRingSlots = 256;

class Vcpu : public Napi::ObjectWrap<Vcpu> {
 public:
  static Napi::Function Define(Napi::Env env);
  explicit Vcpu(const Napi::CallbackInfo& info);
  ~Vcpu() override;

 private:
  // Hot path: no allocation, errno returned as a number rather than thrown.
  Napi::Value RunBatch(const Napi::CallbackInfo& info);
  Napi::Value Complete(const Napi::CallbackInfo& info);
  int RunOnce(int slot);

  Napi::Value RunBuffer(const Napi::CallbackInfo& info);
  Napi::Value ExitRing(const Napi::CallbackInfo& info);
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
  ExitSnapshot ring_[kExitRingSlots] = {};
  KickTimer kick_;
};

}  // namespace vmtrace
