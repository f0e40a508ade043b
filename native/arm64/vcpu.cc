#include "vcpu.h"

#include <signal.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstring>

#include "../errors.h"
#include "../kvm_system.h"
#include "../vm.h"

namespace vmtrace {

namespace {

uint64_t CoreRegId(size_t offset) {
  return KVM_REG_ARM64 | KVM_REG_SIZE_U64 | KVM_REG_ARM_CORE | (offset / sizeof(uint32_t));
}
#define CORE(member) CoreRegId(offsetof(kvm_regs, member))

double NowNs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<double>(ts.tv_sec) * 1e9 + static_cast<double>(ts.tv_nsec);
}

uint64_t BigIntArg(const Napi::Value& v) {
  bool lossless;
  if (v.IsBigInt()) return v.As<Napi::BigInt>().Uint64Value(&lossless);
  return static_cast<uint64_t>(v.As<Napi::Number>().Int64Value());
}

}  // namespace

Napi::Function A64Vcpu::Define(Napi::Env env) {
  return DefineClass(env, "A64Vcpu",
                     {
                         InstanceMethod<&A64Vcpu::Init>("init"),
                         InstanceMethod<&A64Vcpu::Run>("run"),
                         InstanceMethod<&A64Vcpu::Complete>("complete"),
                         InstanceMethod<&A64Vcpu::ReadState>("readState"),
                         InstanceMethod<&A64Vcpu::WriteState>("writeState"),
                         InstanceMethod<&A64Vcpu::GetOneReg>("getOneReg"),
                         InstanceMethod<&A64Vcpu::SetOneReg>("setOneReg"),
                         InstanceMethod<&A64Vcpu::RegIds>("regIds"),
                         InstanceMethod<&A64Vcpu::RunBuffer>("runBuffer"),
                         InstanceMethod<&A64Vcpu::StateBuffer>("stateBuffer"),
                         InstanceMethod<&A64Vcpu::SetGuestDebug>("setGuestDebug"),
                         InstanceMethod<&A64Vcpu::StartKickTimer>("startKickTimer"),
                         InstanceMethod<&A64Vcpu::StopKickTimer>("stopKickTimer"),
                     });
}

A64Vcpu::A64Vcpu(const Napi::CallbackInfo& info) : Napi::ObjectWrap<A64Vcpu>(info) {
  Napi::Env env = info.Env();
  KvmSystem* kvm = KvmSystem::Unwrap(info[0].As<Napi::Object>());
  Vm* vm = Vm::Unwrap(info[1].As<Napi::Object>());
  vm_ref_ = Napi::Persistent(info[1].As<Napi::Object>());
  vm_fd_ = vm->fd();
  unsigned long id = info[2].As<Napi::Number>().Uint32Value();
  Napi::Array enc = info[3].As<Napi::Array>();
  if (enc.Length() != kA64Sysregs - kA64CoreSysregs) {
    throw Napi::RangeError::New(env, "A64Vcpu: expected the encodings of 11 system registers");
  }
  for (int i = 0; i < 31; i++) reg_ids_[i] = CoreRegId(offsetof(kvm_regs, regs.regs) + i * sizeof(uint64_t));
  reg_ids_[31] = CORE(regs.sp);  // sp_el0
  reg_ids_[32] = CORE(sp_el1);
  reg_ids_[33] = CORE(regs.pc);
  reg_ids_[34] = CORE(regs.pstate);
  sysreg_ids_[0] = CORE(elr_el1);
  sysreg_ids_[1] = CORE(spsr[KVM_SPSR_EL1]);
  for (uint32_t i = 0; i < enc.Length(); i++) {
    Napi::Array e = enc.Get(i).As<Napi::Array>();
    auto f = [&](uint32_t k) { return static_cast<uint64_t>(e.Get(k).As<Napi::Number>().Uint32Value()); };
    sysreg_ids_[kA64CoreSysregs + i] = ARM64_SYS_REG(f(0), f(1), f(2), f(3), f(4));
  }
  fd_ = CheckedIoctl(env, vm_fd_, KVM_CREATE_VCPU, reinterpret_cast<void*>(id), "KVM_CREATE_VCPU");
  run_size_ = CheckedIoctl(env, kvm->fd(), KVM_GET_VCPU_MMAP_SIZE, nullptr, "KVM_GET_VCPU_MMAP_SIZE");
  void* p = mmap(nullptr, run_size_, PROT_READ | PROT_WRITE, MAP_SHARED, fd_, 0);
  if (p == MAP_FAILED) ThrowErrno(env, "mmap kvm_run", errno);
  run_ = static_cast<kvm_run*>(p);
}

A64Vcpu::~A64Vcpu() {
  if (run_ != nullptr) munmap(run_, run_size_);
  if (fd_ >= 0) close(fd_);
}

// init(features0) -> target: KVM_ARM_PREFERRED_TARGET, then KVM_ARM_VCPU_INIT with those
// feature bits (1 << KVM_ARM_VCPU_PSCI_0_2) in features[0].
Napi::Value A64Vcpu::Init(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  kvm_vcpu_init init{};
  CheckedIoctl(env, vm_fd_, KVM_ARM_PREFERRED_TARGET, &init, "KVM_ARM_PREFERRED_TARGET");
  init.features[0] |= info[0].As<Napi::Number>().Uint32Value();
  CheckedIoctl(env, fd_, KVM_ARM_VCPU_INIT, &init, "KVM_ARM_VCPU_INIT");
  return Napi::Number::New(env, init.target);
}

int A64Vcpu::RunOnce() {
  state_.t_enter_ns = NowNs();
  int ret = ioctl(fd_, KVM_RUN, 0);
  state_.t_exit_ns = NowNs();
  return ret < 0 ? errno : 0;
}

// run() -> 0 or KVM_RUN's errno (EINTR: the kick timer). Registers are not read: readState().
Napi::Value A64Vcpu::Run(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), RunOnce());
}

// complete() re-enters KVM_RUN with immediate_exit set after an MMIO exit (read data already in
// kvm_run.mmio.data): KVM writes the loaded value to its register and retires the instruction
// without running guest code. EINTR when it did just that.
Napi::Value A64Vcpu::Complete(const Napi::CallbackInfo& info) {
  double t_enter = state_.t_enter_ns;
  double t_exit = state_.t_exit_ns;
  run_->immediate_exit = 1;
  int err = RunOnce();
  run_->immediate_exit = 0;
  // The record's times stay those of the exit, not of the completion.
  state_.t_enter_ns = t_enter;
  state_.t_exit_ns = t_exit;
  return Napi::Number::New(info.Env(), err);
}

// readState(withSysregs) — the 35 registers (and the 13 system registers) into stateBuffer().
void A64Vcpu::ReadState(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  bool sys = info[0].ToBoolean();
  for (int i = 0; i < kA64Regs; i++) {
    kvm_one_reg r{reg_ids_[i], reinterpret_cast<uint64_t>(&state_.regs[i])};
    CheckedIoctl(env, fd_, KVM_GET_ONE_REG, &r, "KVM_GET_ONE_REG");
  }
  if (!sys) return;
  for (int i = 0; i < kA64Sysregs; i++) {
    kvm_one_reg r{sysreg_ids_[i], reinterpret_cast<uint64_t>(&state_.sysregs[i])};
    CheckedIoctl(env, fd_, KVM_GET_ONE_REG, &r, "KVM_GET_ONE_REG (system register)");
  }
}

// writeState() — KVM_SET_ONE_REG of every register and system register from stateBuffer().
void A64Vcpu::WriteState(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  for (int i = 0; i < kA64Regs; i++) {
    kvm_one_reg r{reg_ids_[i], reinterpret_cast<uint64_t>(&state_.regs[i])};
    CheckedIoctl(env, fd_, KVM_SET_ONE_REG, &r, "KVM_SET_ONE_REG");
  }
  for (int i = 0; i < kA64Sysregs; i++) {
    kvm_one_reg r{sysreg_ids_[i], reinterpret_cast<uint64_t>(&state_.sysregs[i])};
    CheckedIoctl(env, fd_, KVM_SET_ONE_REG, &r, "KVM_SET_ONE_REG (system register)");
  }
}

// getOneReg(id: bigint) -> bigint (64-bit registers only).
Napi::Value A64Vcpu::GetOneReg(const Napi::CallbackInfo& info) {
  uint64_t v = 0;
  kvm_one_reg r{BigIntArg(info[0]), reinterpret_cast<uint64_t>(&v)};
  CheckedIoctl(info.Env(), fd_, KVM_GET_ONE_REG, &r, "KVM_GET_ONE_REG");
  return Napi::BigInt::New(info.Env(), v);
}

void A64Vcpu::SetOneReg(const Napi::CallbackInfo& info) {
  uint64_t v = BigIntArg(info[1]);
  kvm_one_reg r{BigIntArg(info[0]), reinterpret_cast<uint64_t>(&v)};
  CheckedIoctl(info.Env(), fd_, KVM_SET_ONE_REG, &r, "KVM_SET_ONE_REG");
}

// regIds() -> {regs: bigint[35], sysregs: bigint[13]}: the one-reg ids in state order.
Napi::Value A64Vcpu::RegIds(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object o = Napi::Object::New(env);
  Napi::Array regs = Napi::Array::New(env, kA64Regs);
  for (int i = 0; i < kA64Regs; i++) regs.Set(i, Napi::BigInt::New(env, reg_ids_[i]));
  Napi::Array sys = Napi::Array::New(env, kA64Sysregs);
  for (int i = 0; i < kA64Sysregs; i++) sys.Set(i, Napi::BigInt::New(env, sysreg_ids_[i]));
  o.Set("regs", regs);
  o.Set("sysregs", sys);
  return o;
}

Napi::Value A64Vcpu::RunBuffer(const Napi::CallbackInfo& info) {
  return Napi::ArrayBuffer::New(info.Env(), run_, run_size_);
}

Napi::Value A64Vcpu::StateBuffer(const Napi::CallbackInfo& info) {
  return Napi::ArrayBuffer::New(info.Env(), &state_, sizeof(state_));
}

// setGuestDebug(control) — KVM_GUESTDBG_ENABLE | KVM_GUESTDBG_SINGLESTEP, or 0 to stop.
void A64Vcpu::SetGuestDebug(const Napi::CallbackInfo& info) {
  kvm_guest_debug dbg{};
  dbg.control = info[0].As<Napi::Number>().Uint32Value();
  CheckedIoctl(info.Env(), fd_, KVM_SET_GUEST_DEBUG, &dbg, "KVM_SET_GUEST_DEBUG");
}

// startKickTimer(intervalMs) — a periodic signal to this thread so KVM_RUN returns EINTR.
void A64Vcpu::StartKickTimer(const Napi::CallbackInfo& info) {
  kick_.Start(info.Env(), info[0].As<Napi::Number>().DoubleValue());
}

void A64Vcpu::StopKickTimer(const Napi::CallbackInfo&) { kick_.Stop(); }

}  // namespace vmtrace
