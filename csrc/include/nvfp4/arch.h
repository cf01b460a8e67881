// Which architecture module (nvfp4._C_sm90, _C_sm100, _C_sm120) serves a GPU. Torch-free.
#pragma once

namespace nvfp4 {

// The module suffix for compute capability major.minor, or "" when no module targets it. sm_90a
// code runs only on 9.0; the SM100 and SM120 modules hold every 10.x and 12.x target they build.
inline const char* arch_module_for_capability(int major, int minor) {
  if (major == 9 && minor == 0) return "sm90";
  if (major == 10) return "sm100";
  if (major == 12) return "sm120";
  return "";
}

}  // namespace nvfp4
