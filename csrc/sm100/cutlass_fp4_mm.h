// The configurations of _C_sm100's NVFP4 GEMM (fp4_gemm_configs.cuh), one translation unit each,
// as functions of checked ATen arguments; cutlass_fp4_mm.cpp chooses among them by M.
#pragma once

#include "sm1xx/fp4_gemm_entry.h"

namespace nvfp4::sm100 {

NVFP4_FP4_GEMM_ENTRY(fp4_gemm_1sm_128x128);  // fp4_gemm_1sm_128x128.cu
NVFP4_FP4_GEMM_ENTRY(fp4_gemm_2sm_256x128);  // fp4_gemm_2sm_256x128.cu
NVFP4_FP4_GEMM_ENTRY(fp4_gemm_2sm_256x256);  // fp4_gemm_2sm_256x256.cu

}  // namespace nvfp4::sm100
