// _C_sm100's kernel op of cutlass_scaled_fp4_mm (_cutlass_fp4_mm_sm100), called by the public op's
// CUDA entry in _C with checked arguments: chooses the configuration by M and runs it on a's
// device. The M ranges follow the tile sizes (an MMA of 128 rows on one SM up to M = 128, of 256
// rows on a pair above); they have not been tuned on hardware.

#include <c10/cuda/CUDAGuard.h>
#include <torch/library.h>

#include "sm100/cutlass_fp4_mm.h"

namespace nvfp4::sm100 {
namespace {

void cutlass_fp4_mm(const at::Tensor& a, const at::Tensor& b, const at::Tensor& block_scale_a,
                    const at::Tensor& block_scale_b, const at::Tensor& alpha, const c10::optional<at::Tensor>& bias,
                    at::Tensor& out) {
  const c10::cuda::CUDAGuard device_guard(a.device());
  const int64_t m = a.size(0);
  const auto gemm = m <= 128   ? fp4_gemm_1sm_128x128x256_m1_128
                    : m <= 256 ? fp4_gemm_2sm_256x128x256_m129_256
                               : fp4_gemm_2sm_256x256x256_m257_up;
  gemm(a, b, block_scale_a, block_scale_b, alpha, bias, out);
}

}  // namespace
}  // namespace nvfp4::sm100

TORCH_LIBRARY_IMPL(nvfp4, CUDA, m) { m.impl("_cutlass_fp4_mm_sm100", &nvfp4::sm100::cutlass_fp4_mm); }
