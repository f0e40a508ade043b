#include "convert.h"

#include <string>

namespace vmtrace {

uint64_t BigIntField(const Napi::Object& obj, const char* name) {
  Napi::Value v = obj.Get(name);
  if (v.IsBigInt()) {
    bool lossless;
    return v.As<Napi::BigInt>().Uint64Value(&lossless);
  }
  if (v.IsNumber()) return static_cast<uint64_t>(v.As<Napi::Number>().Int64Value());
  throw Napi::TypeError::New(obj.Env(), std::string("field '") + name + "' must be a bigint");
}

uint32_t NumberField(const Napi::Object& obj, const char* name) {
  Napi::Value v = obj.Get(name);
  if (v.IsNumber()) return v.As<Napi::Number>().Uint32Value();
  if (v.IsBigInt()) {
    bool lossless;
    return static_cast<uint32_t>(v.As<Napi::BigInt>().Uint64Value(&lossless));
  }
  throw Napi::TypeError::New(obj.Env(), std::string("field '") + name + "' must be a number");
}

#define REG_FIELDS(X) \
  X(rax) X(rbx) X(rcx) X(rdx) X(rsi) X(rdi) X(rsp) X(rbp) X(r8) X(r9) X(r10) X(r11) X(r12) \
  X(r13) X(r14) X(r15) X(rip) X(rflags)

Napi::Object RegsToJs(Napi::Env env, const kvm_regs& regs) {
  Napi::Object o = Napi::Object::New(env);
#define X(f) o.Set(#f, Napi::BigInt::New(env, static_cast<uint64_t>(regs.f)));
  REG_FIELDS(X)
#undef X
  return o;
}

kvm_regs RegsFromJs(const Napi::Object& obj) {
  kvm_regs regs{};
#define X(f) regs.f = BigIntField(obj, #f);
  REG_FIELDS(X)
#undef X
  return regs;
}

static Napi::Object SegmentToJs(Napi::Env env, const kvm_segment& s) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("base", Napi::BigInt::New(env, static_cast<uint64_t>(s.base)));
  o.Set("limit", s.limit);
  o.Set("selector", s.selector);
  o.Set("type", s.type);
  o.Set("present", s.present);
  o.Set("dpl", s.dpl);
  o.Set("db", s.db);
  o.Set("s", s.s);
  o.Set("l", s.l);
  o.Set("g", s.g);
  o.Set("avl", s.avl);
  o.Set("unusable", s.unusable);
  return o;
}

static kvm_segment SegmentFromJs(const Napi::Object& o) {
  kvm_segment s{};
  s.base = BigIntField(o, "base");
  s.limit = NumberField(o, "limit");
  s.selector = static_cast<__u16>(NumberField(o, "selector"));
  s.type = static_cast<__u8>(NumberField(o, "type"));
  s.present = static_cast<__u8>(NumberField(o, "present"));
  s.dpl = static_cast<__u8>(NumberField(o, "dpl"));
  s.db = static_cast<__u8>(NumberField(o, "db"));
  s.s = static_cast<__u8>(NumberField(o, "s"));
  s.l = static_cast<__u8>(NumberField(o, "l"));
  s.g = static_cast<__u8>(NumberField(o, "g"));
  s.avl = static_cast<__u8>(NumberField(o, "avl"));
  s.unusable = static_cast<__u8>(NumberField(o, "unusable"));
  return s;
}

static Napi::Object DtableToJs(Napi::Env env, const kvm_dtable& t) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("base", Napi::BigInt::New(env, static_cast<uint64_t>(t.base)));
  o.Set("limit", t.limit);
  return o;
}

static kvm_dtable DtableFromJs(const Napi::Object& o) {
  kvm_dtable t{};
  t.base = BigIntField(o, "base");
  t.limit = static_cast<__u16>(NumberField(o, "limit"));
  return t;
}

#define SEG_FIELDS(X) X(cs) X(ds) X(es) X(fs) X(gs) X(ss) X(tr) X(ldt)
#define CTL_FIELDS(X) X(cr0) X(cr2) X(cr3) X(cr4) X(cr8) X(efer) X(apic_base)

Napi::Object SregsToJs(Napi::Env env, const kvm_sregs& sregs) {
  Napi::Object o = Napi::Object::New(env);
#define X(f) o.Set(#f, SegmentToJs(env, sregs.f));
  SEG_FIELDS(X)
#undef X
  o.Set("gdt", DtableToJs(env, sregs.gdt));
  o.Set("idt", DtableToJs(env, sregs.idt));
#define X(f) o.Set(#f, Napi::BigInt::New(env, static_cast<uint64_t>(sregs.f)));
  CTL_FIELDS(X)
#undef X
  return o;
}

kvm_sregs SregsFromJs(const Napi::Object& obj, const kvm_sregs& base) {
  kvm_sregs sregs = base;
#define X(f) sregs.f = SegmentFromJs(obj.Get(#f).As<Napi::Object>());
  SEG_FIELDS(X)
#undef X
  sregs.gdt = DtableFromJs(obj.Get("gdt").As<Napi::Object>());
  sregs.idt = DtableFromJs(obj.Get("idt").As<Napi::Object>());
#define X(f) sregs.f = BigIntField(obj, #f);
  CTL_FIELDS(X)
#undef X
  return sregs;
}

}  // namespace vmtrace
