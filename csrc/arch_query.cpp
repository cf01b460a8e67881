// Queries without tensor arguments, answered the same on every build (CPU-only included).

#include <torch/library.h>

#include <string>

#include "nvfp4/arch.h"

namespace nvfp4 {
namespace {

std::string arch_module_for(int64_t major, int64_t minor) {
  return arch_module_for_capability(static_cast<int>(major), static_cast<int>(minor));
}

}  // namespace

TORCH_LIBRARY_IMPL(nvfp4, CompositeImplicitAutograd, m) {
  m.impl("_arch_module_for_capability", &arch_module_for);
}

}  // namespace nvfp4
