#include "kick_timer.h"

#include <signal.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>

#include "errors.h"

namespace vmtrace {

namespace {

int KickSignal() { return SIGRTMIN + 4; }

void IgnoreKick(int) {}

}  // namespace

void KickTimer::Start(Napi::Env env, double ms) {
  struct sigaction sa{};
  sa.sa_handler = IgnoreKick;
  sa.sa_flags = SA_RESTART;  // other syscalls restart; KVM_RUN still returns EINTR
  sigemptyset(&sa.sa_mask);
  if (sigaction(KickSignal(), &sa, nullptr) < 0) ThrowErrno(env, "sigaction", errno);
  if (!armed_) {
    sigevent sev{};
    sev.sigev_notify = SIGEV_THREAD_ID;
    sev.sigev_signo = KickSignal();
    sev._sigev_un._tid = static_cast<pid_t>(syscall(SYS_gettid));
    if (timer_create(CLOCK_MONOTONIC, &sev, &timer_) < 0) ThrowErrno(env, "timer_create", errno);
    armed_ = true;
  }
  itimerspec its{};
  its.it_interval.tv_sec = static_cast<time_t>(ms / 1000);
  its.it_interval.tv_nsec = static_cast<long>((ms - static_cast<double>(its.it_interval.tv_sec) * 1000) * 1e6);
  its.it_value = its.it_interval;
  if (timer_settime(timer_, 0, &its, nullptr) < 0) ThrowErrno(env, "timer_settime", errno);
}

void KickTimer::Stop() {
  if (!armed_) return;
  timer_delete(timer_);
  armed_ = false;
}

}  // namespace vmtrace
