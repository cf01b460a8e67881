// The configurations of _C_sm120's NVFP4 GEMM (fp4_gemm_configs.cuh), one translation unit each,
// as functions of checked ATen arguments; cutlass_fp4_mm.cpp chooses between them by M.
#pragma once

#include "sm1xx/fp4_gemm_entry.h"

namespace nvfp4::sm120 {

NVFP4_FP4_GEMM_ENTRY(fp4_gemm_cooperative_128x128x128);  // fp4_gemm_cooperative_128x128x128.cu
NVFP4_FP4_GEMM_ENTRY(fp4_gemm_pingpong_128x128x256);  // fp4_gemm_pingpong_128x128x256.cu

}  // namespace nvfp4::sm120
