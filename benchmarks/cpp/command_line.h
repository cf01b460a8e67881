// The `--name=value` argument parsing shared by the C++ benchmarks (CUTLASS-example style).
#pragma once

#include <string>

// The value of `arg` when it is `--<name>=<value>`, else null.
inline const char* option_value(const std::string& arg, const char* name) {
  const std::string prefix = std::string("--") + name + "=";
  return arg.rfind(prefix, 0) == 0 ? arg.c_str() + prefix.size() : nullptr;
}
