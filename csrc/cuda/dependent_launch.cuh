// Programmatic dependent launch (compute capability 9.0 and later), torch-free.
//
// A kernel launched with programmatic_dependent_launch() may start while the kernel before it in
// the stream still runs: it must call wait_for_prior_grids() before it reads anything that kernel
// writes, or writes anything that kernel reads. Until then it may only touch memory no earlier
// kernel writes (the GEMMs: the prepared weight). A kernel that calls allow_dependent_grids() lets
// such a dependent launch before it finishes (the dependent still waits for it to complete before
// reading its output); without the call the dependent launches as its blocks exit.
#pragma once

#include <cuda_runtime.h>

#include <cstddef>
#include <utility>

namespace nvfp4::cuda {

__device__ __forceinline__ void wait_for_prior_grids() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  asm volatile("griddepcontrol.wait;\n" ::: "memory");
#endif
}

__device__ __forceinline__ void allow_dependent_grids() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  asm volatile("griddepcontrol.launch_dependents;\n" ::: "memory");
#endif
}

// The launch attribute that makes a kernel a programmatic dependent of the one before it.
inline cudaLaunchAttribute programmatic_dependent_launch() {
  cudaLaunchAttribute attribute{};
  attribute.id = cudaLaunchAttributeProgrammaticStreamSerialization;
  attribute.val.programmaticStreamSerializationAllowed = 1;
  return attribute;
}

// Launches `kernel` on `stream`, as a programmatic dependent of the kernel before it where
// `dependent` (a device of compute capability 9.0 or later: older ones have no such launch).
template <typename... Params, typename... Args>
cudaError_t launch_dependent_if(bool dependent, void (*kernel)(Params...), dim3 grid, dim3 block,
                                size_t shared_bytes, cudaStream_t stream, Args&&... args) {
  cudaLaunchConfig_t config{};
  config.gridDim = grid;
  config.blockDim = block;
  config.dynamicSmemBytes = shared_bytes;
  config.stream = stream;
  cudaLaunchAttribute attribute = programmatic_dependent_launch();
  config.attrs = &attribute;
  config.numAttrs = dependent ? 1 : 0;
  return cudaLaunchKernelEx(&config, kernel, std::forward<Args>(args)...);
}

// Launches `kernel` on `stream` as a programmatic dependent of the kernel before it.
template <typename... Params, typename... Args>
cudaError_t launch_dependent(void (*kernel)(Params...), dim3 grid, dim3 block, size_t shared_bytes,
                             cudaStream_t stream, Args&&... args) {
  return launch_dependent_if(true, kernel, grid, block, shared_bytes, stream, std::forward<Args>(args)...);
}

}  // namespace nvfp4::cuda
