{
  "variables": {
    "dt_openmp%": "<!(node -p \"process.env.DIFF_TRANSFORMER_OPENMP === '0' ? 0 : 1\")"
  },
  "targets": [
    {
      "target_name": "diff_transformer_native",
      "sources": [
        "native/src/addon.cc",
        "native/src/linear.cc",
        "native/src/elementwise.cc",
        "native/src/peak.cc",
        "native/src/attention-tiles.cc",
        "native/src/attention.cc",
        "native/src/attention-pairs.cc",
        "native/src/gemm.cc",
        "native/src/decode-threads.cc"
      ],
      "cflags!": ["-fno-exceptions", "-O2", "-O0"],
      "cflags_cc!": ["-fno-exceptions", "-fno-rtti", "-O2", "-O0"],
      "cflags_cc": ["-std=c++17", "-O3", "-fexceptions", "-fno-math-errno", "-fno-trapping-math", "-ffp-contract=fast"],
      "libraries": ["-ldl"],
      "conditions": [
        ["target_arch=='x64'", { "cflags_cc": ["-march=x86-64-v3"] }],
        ["dt_openmp==1", { "cflags_cc": ["-fopenmp"], "ldflags": ["-fopenmp"] }]
      ]
    }
  ]
}
