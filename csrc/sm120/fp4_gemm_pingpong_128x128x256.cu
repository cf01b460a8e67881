// _C_sm120's NVFP4 GEMM configuration Fp4GemmPingpong128x128x256 (ping-pong, 256-wide K tiles, for large M), bf16 and fp16 out.

#include <cutlass/bfloat16.h>
#include <cutlass/half.h>

#include "sm120/cutlass_fp4_mm.h"
#include "sm120/fp4_gemm_configs.cuh"
#include "sm1xx/cutlass_fp4_mm_op.h"

namespace nvfp4::sm120 {

void fp4_gemm_pingpong_128x128x256(const at::Tensor& a, const at::Tensor& b, const at::Tensor& block_scale_a,
                 const at::Tensor& block_scale_b, const at::Tensor& alpha, const c10::optional<at::Tensor>& bias,
                 at::Tensor& out) {
  if (out.scalar_type() == at::kHalf) {
    sm1xx::run_cutlass_fp4_mm<Fp4GemmPingpong128x128x256<cutlass::half_t>>(a, b, block_scale_a, block_scale_b, alpha, bias, out);
  } else {
    sm1xx::run_cutlass_fp4_mm<Fp4GemmPingpong128x128x256<cutlass::bfloat16_t>>(a, b, block_scale_a, block_scale_b, alpha, bias, out);
  }
}

}  // namespace nvfp4::sm120
