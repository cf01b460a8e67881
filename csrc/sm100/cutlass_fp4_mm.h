// The configurations of _C_sm100's NVFP4 GEMM (fp4_gemm_configs.cuh), one translation unit each,
// as functions of checked ATen arguments; cutlass_fp4_mm.cpp chooses among them by M.
#pragma once

#include <ATen/ATen.h>

namespace nvfp4::sm100 {

#define NVFP4_SM100_FP4_GEMM(name)                                                                             \
  void name(const at::Tensor& a, const at::Tensor& b, const at::Tensor& block_scale_a,                        \
            const at::Tensor& block_scale_b, const at::Tensor& alpha, const c10::optional<at::Tensor>& bias, \
            at::Tensor& out)
NVFP4_SM100_FP4_GEMM(fp4_gemm_1sm_128x128);  // fp4_gemm_1sm_128x128.cu
NVFP4_SM100_FP4_GEMM(fp4_gemm_2sm_256x128);  // fp4_gemm_2sm_256x128.cu
NVFP4_SM100_FP4_GEMM(fp4_gemm_2sm_256x256);  // fp4_gemm_2sm_256x256.cu
#undef NVFP4_SM100_FP4_GEMM

}  // namespace nvfp4::sm100
