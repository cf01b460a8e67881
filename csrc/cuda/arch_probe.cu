// _cuda_arch_probe: the architecture-neutral CUDA part of nvfp4._C (sm_80 + PTX and every
// requested architecture).

#include <torch/library.h>

#include "cuda/arch_probe.cuh"

TORCH_LIBRARY_IMPL(nvfp4, CUDA, m) { m.impl("_cuda_arch_probe", &nvfp4::run_arch_probe); }
