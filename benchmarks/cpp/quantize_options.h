// Command-line options shared by the quantizer benchmarks (CUTLASS-example style).
#pragma once

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "command_line.h"

struct QuantizeOptions {
  int64_t m;
  int64_t k;
  int64_t padded_k = 0;
  bool swizzled = true;
  int iterations;
  bool help = false;

  QuantizeOptions(int64_t default_m, int64_t default_k, int default_iterations)
      : m(default_m), k(default_k), iterations(default_iterations) {}

  bool parse(int argc, char** argv) {
    for (int i = 1; i < argc; ++i) {
      const std::string arg = argv[i];
      auto value = [&](const char* name) { return option_value(arg, name); };
      if (const char* v = value("m")) m = std::atoll(v);
      else if (const char* v = value("k")) k = std::atoll(v);
      else if (const char* v = value("padded_k")) padded_k = std::atoll(v);
      else if (const char* v = value("iterations")) iterations = std::atoi(v);
      else if (arg == "--linear") swizzled = false;
      else if (arg == "--help") help = true;
      else {
        std::fprintf(stderr, "unknown argument %s\n", argv[i]);
        return false;
      }
    }
    if (padded_k == 0) padded_k = k;
    return m >= 0 && k % 16 == 0 && padded_k % 16 == 0 && padded_k >= k && iterations >= 0;
  }

  void print_usage(const char* program, const char* what) const {
    std::printf(
        "%s: %s\n\n"
        "  --m=<int>          rows (default %ld)\n"
        "  --k=<int>          columns, a multiple of 16 (default %ld)\n"
        "  --padded_k=<int>   stored columns, a multiple of 16 >= k (default k)\n"
        "  --linear           linear block scales instead of the swizzled layout\n"
        "  --iterations=<n>   timed runs; 0 only verifies (default %d)\n\n"
        "Example: %s --m=%ld --k=%ld --iterations=%d\n",
        program, what, long(m), long(k), iterations, program, long(m), long(k), iterations);
  }
};
