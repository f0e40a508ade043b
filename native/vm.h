// A KVM virtual machine: guest memory slots and VM-wide setup.
#pragma once
#include <napi.h>

#include <vector>

namespace vmtrace {

class Vm : public Napi::ObjectWrap<Vm> {
 public:
  static Napi::Function Define(Napi::Env env);
  explicit Vm(const Napi::CallbackInfo& info);
  ~Vm() override;
  int fd() const { return fd_; }

 private:
  Napi::Value AddMemory(const Napi::CallbackInfo& info);
#if defined(__x86_64__)
  void SetTssAddr(const Napi::CallbackInfo& info);
#endif

  struct Mapping {
    void* addr;
    size_t size;
  };
  int fd_ = -1;
  std::vector<Mapping> mappings_;
};

}  // namespace vmtrace
