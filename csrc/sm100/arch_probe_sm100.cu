// nvfp4._C_sm100: compiled only for the sm_100 family (its own -gencode flags). The private
// probe op shows the module loads, registers through the dispatcher and runs sm_100 code.

#include <torch/library.h>

#include "cuda/arch_probe.cuh"
#include "python_module.h"

NVFP4_EMPTY_PYTHON_MODULE(_C_sm100)

TORCH_LIBRARY_IMPL(nvfp4, CUDA, m) { m.impl("_arch_probe_sm100", &nvfp4::run_arch_probe); }
