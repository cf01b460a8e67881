// A kernel that reports the architecture it was compiled for. Every CUDA module of the package
// compiles it with its own -gencode flags, so running it proves which machine code the device
// actually executed (the build probes of csrc/ops.cpp).
#pragma once

#include <ATen/ATen.h>
#include <c10/cuda/CUDAException.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>

namespace nvfp4 {
namespace {  // one copy per module: each is compiled for a different architecture

__global__ void write_cuda_arch(int* out) {
#if defined(__CUDA_ARCH__)
  *out = __CUDA_ARCH__;
#endif
}

at::Tensor run_arch_probe(const at::Tensor& anchor) {
  TORCH_CHECK(anchor.is_cuda(), "anchor must be a CUDA tensor (it names the device to probe), got ",
              anchor.device());
  const c10::cuda::OptionalCUDAGuard device_guard(anchor.device());
  at::Tensor out = at::empty({1}, anchor.options().dtype(at::kInt));
  write_cuda_arch<<<1, 1, 0, c10::cuda::getCurrentCUDAStream()>>>(out.mutable_data_ptr<int>());
  C10_CUDA_KERNEL_LAUNCH_CHECK();
  return out;
}

}  // namespace
}  // namespace nvfp4
