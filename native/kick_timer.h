// A periodic signal to the vCPU thread, so that a KVM_RUN that would otherwise never return (a
// guest spinning without exits) returns EINTR and JS regains control for timeouts and Ctrl-C.
// The same for every architecture's vCPU.
#pragma once
#include <napi.h>
#include <time.h>

namespace vmtrace {

class KickTimer {
 public:
  KickTimer() = default;
  KickTimer(const KickTimer&) = delete;
  KickTimer& operator=(const KickTimer&) = delete;
  ~KickTimer() { Stop(); }

  // Arms (or re-arms) the timer on the calling thread with period `ms`; throws errno by name.
  void Start(Napi::Env env, double ms);
  void Stop();

 private:
  timer_t timer_{};
  bool armed_ = false;
};

}  // namespace vmtrace
