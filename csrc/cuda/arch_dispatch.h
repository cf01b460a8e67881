// Runtime dispatch from _C's public CUDA entries to the architecture modules (_C_sm90, _C_sm100,
// _C_sm120). Each module registers private ops named `<family>_<module>` (for example
// `_fp4_gemm_sm100`) with a CUDA kernel; the entry looks the op up for the device's compute
// capability through the dispatcher, so _C never links against an architecture module.
#pragma once

#include <ATen/core/dispatch/Dispatcher.h>
#include <c10/core/Device.h>

#include <string>

namespace nvfp4 {

// The private op `nvfp4::<family>_<module>` that serves `device`. Raises an error naming the GPU,
// its capability and the architecture modules this build holds when no module serves the device
// or the build left the serving module out.
c10::OperatorHandle find_arch_op(const std::string& family, const c10::Device& device);

}  // namespace nvfp4
