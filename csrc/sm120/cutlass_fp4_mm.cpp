// _C_sm120's kernel op of cutlass_scaled_fp4_mm (_cutlass_fp4_mm_sm120), called by the public op's
// CUDA entry in _C with checked arguments: chooses the configuration by M and runs it on a's
// device. The cooperative 128-wide-K configuration (CUTLASS's example) up to M = 256, the
// ping-pong one above; not yet tuned on hardware.

#include <c10/cuda/CUDAGuard.h>
#include <torch/library.h>

#include "sm120/cutlass_fp4_mm.h"

namespace nvfp4::sm120 {
namespace {

void cutlass_fp4_mm(const at::Tensor& a, const at::Tensor& b, const at::Tensor& block_scale_a,
                    const at::Tensor& block_scale_b, const at::Tensor& alpha, const c10::optional<at::Tensor>& bias,
                    at::Tensor& out) {
  const c10::cuda::CUDAGuard device_guard(a.device());
  const auto gemm =
      a.size(0) <= 256 ? fp4_gemm_cooperative_128x128x128_m1_256 : fp4_gemm_pingpong_128x128x256_m257_up;
  gemm(a, b, block_scale_a, block_scale_b, alpha, bias, out);
}

}  // namespace
}  // namespace nvfp4::sm120

TORCH_LIBRARY_IMPL(nvfp4, CUDA, m) { m.impl("_cutlass_fp4_mm_sm120", &nvfp4::sm120::cutlass_fp4_mm); }
