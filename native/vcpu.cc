#include "vcpu.h"

#include <signal.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <algorithm>
#include <cstring>
#include <vector>

#include "convert.h"
#include "errors.h"
#include "kvm_abi.h"
#include "kvm_system.h"
#include "vm.h"

namespace vmtrace {

namespace {

double NowNs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<double>(ts.tv_sec) * 1e9 + static_cast<double>(ts.tv_nsec);
}

}  // namespace

Napi::Function Vcpu::Define(Napi::Env env) {
  return DefineClass(env, "Vcpu",
                     {
                         InstanceMethod<&Vcpu::RunBatch>("runBatch"),
                         InstanceMethod<&Vcpu::Complete>("complete"),
                         InstanceMethod<&Vcpu::RunBuffer>("runBuffer"),
                         InstanceMethod<&Vcpu::ExitRing>("exitRing"),
                         InstanceMethod<&Vcpu::EnableSyncRegs>("enableSyncRegs"),
                         InstanceMethod<&Vcpu::GetRegs>("getRegs"),
                         InstanceMethod<&Vcpu::SetRegs>("setRegs"),
                         InstanceMethod<&Vcpu::GetSregs>("getSregs"),
                         InstanceMethod<&Vcpu::SetSregs>("setSregs"),
                         InstanceMethod<&Vcpu::GetFpu>("getFpu"),
                         InstanceMethod<&Vcpu::SetFpu>("setFpu"),
                         InstanceMethod<&Vcpu::GetMsrs>("getMsrs"),
                         InstanceMethod<&Vcpu::SetMsrs>("setMsrs"),
                         InstanceMethod<&Vcpu::SetCpuid>("setCpuid"),
                         InstanceMethod<&Vcpu::SetGuestDebug>("setGuestDebug"),
                         InstanceMethod<&Vcpu::Translate>("translate"),
                         InstanceMethod<&Vcpu::StartKickTimer>("startKickTimer"),
                         InstanceMethod<&Vcpu::StopKickTimer>("stopKickTimer"),
                     });
}

// new Vcpu(kvmSystem, vm, id)
Vcpu::Vcpu(const Napi::CallbackInfo& info) : Napi::ObjectWrap<Vcpu>(info) {
  Napi::Env env = info.Env();
  KvmSystem* kvm = KvmSystem::Unwrap(info[0].As<Napi::Object>());
  Vm* vm = Vm::Unwrap(info[1].As<Napi::Object>());
  unsigned long id = info[2].As<Napi::Number>().Uint32Value();
  fd_ = CheckedIoctl(env, vm->fd(), KVM_CREATE_VCPU, reinterpret_cast<void*>(id), "KVM_CREATE_VCPU");
  run_size_ = CheckedIoctl(env, kvm->fd(), KVM_GET_VCPU_MMAP_SIZE, nullptr, "KVM_GET_VCPU_MMAP_SIZE");
  void* p = mmap(nullptr, run_size_, PROT_READ | PROT_WRITE, MAP_SHARED, fd_, 0);
  if (p == MAP_FAILED) ThrowErrno(env, "mmap kvm_run", errno);
  run_ = static_cast<kvm_run*>(p);
}

Vcpu::~Vcpu() {
  if (run_ != nullptr) munmap(run_, run_size_);
  if (fd_ >= 0) close(fd_);
}

// One KVM_RUN, its exit snapshotted into ring_[slot]. Without KVM_CAP_SYNC_REGS the registers
// are fetched here into kvm_run's s.regs, so callers read them from one layout either way.
int Vcpu::RunOnce(int slot) {
  ExitSnapshot& e = ring_[slot];
  e.t_enter_ns = NowNs();
  int ret = ioctl(fd_, KVM_RUN, 0);
  e.t_exit_ns = NowNs();
  e.err = ret < 0 ? errno : 0;
  if (!sync_regs_ && (e.err == 0 || e.err == EINTR)) {
    ioctl(fd_, KVM_GET_REGS, &run_->s.regs.regs);
    ioctl(fd_, KVM_GET_SREGS, &run_->s.regs.sregs);
  }
  e.exit_reason = run_->exit_reason;
  e.regs = run_->s.regs.regs;
  e.sregs = run_->s.regs.sregs;
  if (e.err == 0 && run_->exit_reason == KVM_EXIT_IO) {
    e.io_direction = run_->io.direction;
    e.io_size = run_->io.size;
    e.io_port = run_->io.port;
    e.io_count = run_->io.count;
    e.io_data_offset = run_->io.data_offset;
    memcpy(e.io_data, reinterpret_cast<char*>(run_) + run_->io.data_offset, sizeof(e.io_data));
  }
  return e.err;
}

// runBatch(max, continueOnOut) -> number of exits snapshotted into the ring (at least 1).
// With continueOnOut it keeps running while each exit is a single OUT, which needs nothing from
// the VMM (the caller has established that this host completes OUT before exiting): the guest
// then runs back to back and JS handles the batch afterwards, in order. It stops at any other
// exit, an error, or `max` exits; the last exit is the one still in kvm_run.
Napi::Value Vcpu::RunBatch(const Napi::CallbackInfo& info) {
  int max = std::min(info[0].As<Napi::Number>().Int32Value(), kExitRingSlots);
  bool continue_on_out = info[1].As<Napi::Boolean>().Value();
  int n = 0;
  while (n < max) {
    int err = RunOnce(n++);
    bool single_out = err == 0 && run_->exit_reason == KVM_EXIT_IO &&
                      run_->io.direction == KVM_EXIT_IO_OUT && run_->io.count == 1;
    if (!continue_on_out || !single_out) break;
  }
  return Napi::Number::New(info.Env(), n);
}

// complete() re-enters KVM_RUN with immediate_exit set: KVM finishes the instruction behind the
// last IO/MMIO exit (RIP, RAX of an IN) without running further guest code. Returns EINTR when
// it did just that, 0 if finishing it produced another exit (e.g. the next batch of a rep
// ins/outs), snapshotted into ring slot 0.
Napi::Value Vcpu::Complete(const Napi::CallbackInfo& info) {
  run_->immediate_exit = 1;
  int err = RunOnce(0);
  run_->immediate_exit = 0;
  return Napi::Number::New(info.Env(), err);
}

Napi::Value Vcpu::RunBuffer(const Napi::CallbackInfo& info) {
  return Napi::ArrayBuffer::New(info.Env(), run_, run_size_);
}

Napi::Value Vcpu::ExitRing(const Napi::CallbackInfo& info) {
  return Napi::ArrayBuffer::New(info.Env(), ring_, sizeof(ring_));
}

// enableSyncRegs(on) — KVM then stores regs and sregs into kvm_run at every exit.
Napi::Value Vcpu::EnableSyncRegs(const Napi::CallbackInfo& info) {
  sync_regs_ = info[0].As<Napi::Boolean>().Value();
  run_->kvm_valid_regs = sync_regs_ ? (KVM_SYNC_X86_REGS | KVM_SYNC_X86_SREGS) : 0;
  return Napi::Boolean::New(info.Env(), sync_regs_);
}

Napi::Value Vcpu::GetRegs(const Napi::CallbackInfo& info) {
  kvm_regs regs;
  CheckedIoctl(info.Env(), fd_, KVM_GET_REGS, &regs, "KVM_GET_REGS");
  return RegsToJs(info.Env(), regs);
}

void Vcpu::SetRegs(const Napi::CallbackInfo& info) {
  kvm_regs regs = RegsFromJs(info[0].As<Napi::Object>());
  CheckedIoctl(info.Env(), fd_, KVM_SET_REGS, &regs, "KVM_SET_REGS");
}

Napi::Value Vcpu::GetSregs(const Napi::CallbackInfo& info) {
  kvm_sregs sregs;
  CheckedIoctl(info.Env(), fd_, KVM_GET_SREGS, &sregs, "KVM_GET_SREGS");
  return SregsToJs(info.Env(), sregs);
}

void Vcpu::SetSregs(const Napi::CallbackInfo& info) {
  kvm_sregs current;
  CheckedIoctl(info.Env(), fd_, KVM_GET_SREGS, &current, "KVM_GET_SREGS");
  kvm_sregs sregs = SregsFromJs(info[0].As<Napi::Object>(), current);
  CheckedIoctl(info.Env(), fd_, KVM_SET_SREGS, &sregs, "KVM_SET_SREGS");
}

// The FPU state as raw bytes of struct kvm_fpu (416 bytes): opaque to vmtrace, kept for the trace.
Napi::Value Vcpu::GetFpu(const Napi::CallbackInfo& info) {
  Napi::Buffer<uint8_t> out = Napi::Buffer<uint8_t>::New(info.Env(), sizeof(kvm_fpu));
  CheckedIoctl(info.Env(), fd_, KVM_GET_FPU, out.Data(), "KVM_GET_FPU");
  return out;
}

void Vcpu::SetFpu(const Napi::CallbackInfo& info) {
  Napi::Uint8Array bytes = info[0].As<Napi::Uint8Array>();
  if (bytes.ByteLength() != sizeof(kvm_fpu)) {
    throw Napi::RangeError::New(info.Env(), "setFpu expects the 416 bytes of struct kvm_fpu");
  }
  kvm_fpu fpu;
  memcpy(&fpu, bytes.Data(), sizeof(fpu));
  CheckedIoctl(info.Env(), fd_, KVM_SET_FPU, &fpu, "KVM_SET_FPU");
}

static std::vector<char> MsrBuffer(size_t n) {
  std::vector<char> buf(sizeof(KvmMsrsHead) + n * sizeof(kvm_msr_entry), 0);
  reinterpret_cast<KvmMsrsHead*>(buf.data())->nmsrs = static_cast<uint32_t>(n);
  return buf;
}

// getMsrs([index...]) -> [{index, data: bigint}]; an MSR KVM cannot read is an error naming it.
Napi::Value Vcpu::GetMsrs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Array indices = info[0].As<Napi::Array>();
  std::vector<char> buf = MsrBuffer(indices.Length());
  void* msrs = buf.data();
  kvm_msr_entry* entries_out = MsrEntries(msrs);
  for (uint32_t i = 0; i < indices.Length(); i++) {
    entries_out[i].index = indices.Get(i).As<Napi::Number>().Uint32Value();
  }
  int got = CheckedIoctl(env, fd_, kGetMsrs, msrs, "KVM_GET_MSRS");
  if (static_cast<uint32_t>(got) != indices.Length()) ThrowErrno(env, "KVM_GET_MSRS (some MSRs)", EINVAL);
  Napi::Array out = Napi::Array::New(env, got);
  for (int i = 0; i < got; i++) {
    Napi::Object o = Napi::Object::New(env);
    o.Set("index", entries_out[i].index);
    o.Set("data", Napi::BigInt::New(env, static_cast<uint64_t>(entries_out[i].data)));
    out.Set(i, o);
  }
  return out;
}

void Vcpu::SetMsrs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Array entries = info[0].As<Napi::Array>();
  std::vector<char> buf = MsrBuffer(entries.Length());
  void* msrs = buf.data();
  kvm_msr_entry* entries_out = MsrEntries(msrs);
  for (uint32_t i = 0; i < entries.Length(); i++) {
    Napi::Object e = entries.Get(i).As<Napi::Object>();
    entries_out[i].index = NumberField(e, "index");
    entries_out[i].data = BigIntField(e, "data");
  }
  int set = CheckedIoctl(env, fd_, kSetMsrs, msrs, "KVM_SET_MSRS");
  if (static_cast<uint32_t>(set) != entries.Length()) ThrowErrno(env, "KVM_SET_MSRS (some MSRs)", EINVAL);
}

// setCpuid([{function, index, flags, eax, ebx, ecx, edx}])
void Vcpu::SetCpuid(const Napi::CallbackInfo& info) {
  Napi::Array entries = info[0].As<Napi::Array>();
  std::vector<char> buf(sizeof(KvmCpuid2Head) + entries.Length() * sizeof(kvm_cpuid_entry2), 0);
  auto* cpuid = reinterpret_cast<KvmCpuid2Head*>(buf.data());
  cpuid->nent = entries.Length();
  kvm_cpuid_entry2* out = CpuidEntries(cpuid);
  for (uint32_t i = 0; i < entries.Length(); i++) {
    Napi::Object e = entries.Get(i).As<Napi::Object>();
    kvm_cpuid_entry2& d = out[i];
    d.function = NumberField(e, "function");
    d.index = NumberField(e, "index");
    d.flags = NumberField(e, "flags");
    d.eax = NumberField(e, "eax");
    d.ebx = NumberField(e, "ebx");
    d.ecx = NumberField(e, "ecx");
    d.edx = NumberField(e, "edx");
  }
  CheckedIoctl(info.Env(), fd_, kSetCpuid2, cpuid, "KVM_SET_CPUID2");
}

// setGuestDebug(control) — e.g. KVM_GUESTDBG_ENABLE | KVM_GUESTDBG_SINGLESTEP, or 0 to stop.
void Vcpu::SetGuestDebug(const Napi::CallbackInfo& info) {
  kvm_guest_debug dbg{};
  dbg.control = info[0].As<Napi::Number>().Uint32Value();
  CheckedIoctl(info.Env(), fd_, KVM_SET_GUEST_DEBUG, &dbg, "KVM_SET_GUEST_DEBUG");
}

// translate(linear: bigint) -> {physical: bigint, valid, writeable, usermode}
Napi::Value Vcpu::Translate(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  bool lossless;
  kvm_translation tr{};
  tr.linear_address = info[0].As<Napi::BigInt>().Uint64Value(&lossless);
  CheckedIoctl(env, fd_, KVM_TRANSLATE, &tr, "KVM_TRANSLATE");
  Napi::Object o = Napi::Object::New(env);
  o.Set("physical", Napi::BigInt::New(env, static_cast<uint64_t>(tr.physical_address)));
  o.Set("valid", Napi::Boolean::New(env, tr.valid != 0));
  o.Set("writeable", Napi::Boolean::New(env, tr.writeable != 0));
  o.Set("usermode", Napi::Boolean::New(env, tr.usermode != 0));
  return o;
}

// startKickTimer(intervalMs) — a periodic signal to this thread so KVM_RUN returns EINTR.
void Vcpu::StartKickTimer(const Napi::CallbackInfo& info) {
  kick_.Start(info.Env(), info[0].As<Napi::Number>().DoubleValue());
}

void Vcpu::StopKickTimer(const Napi::CallbackInfo&) { kick_.Stop(); }

}  // namespace vmtrace
