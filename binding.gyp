{
  "targets": [
    {
      "target_name": "vmtrace_kvm",
      "sources": [
        "native/errors.cc",
        "native/kick_timer.cc",
        "native/kvm_system.cc",
        "native/vm.cc"
      ],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
      "defines": ["NAPI_VERSION=8", "NAPI_CPP_EXCEPTIONS"],
      "cflags!": ["-fno-exceptions"],
      "cflags_cc!": ["-fno-exceptions"],
      "cflags_cc": ["-std=c++17", "-O2", "-Wall", "-Wextra"],
      "conditions": [
        ["target_arch=='arm64'", {
          "sources": ["native/arm64/addon.cc", "native/arm64/vcpu.cc"]
        }, {
          "sources": ["native/addon.cc", "native/convert.cc", "native/vcpu.cc"]
        }],
        ["OS!='linux'", { "type": "none", "sources=": [] }]
      ]
    }
  ]
}
