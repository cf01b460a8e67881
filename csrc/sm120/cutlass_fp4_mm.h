// The configurations of _C_sm120's NVFP4 GEMM (fp4_gemm_configs.cuh), one translation unit each,
// as functions of checked ATen arguments, each named by its knobs and the M it serves
// (fp4_gemm_<knobs>_m<first>_<last>, defined in fp4_gemm_<same>.cu); cutlass_fp4_mm.cpp chooses by M.
#pragma once

#include "sm1xx/fp4_gemm_entry.h"

namespace nvfp4::sm120 {

NVFP4_FP4_GEMM_ENTRY(fp4_gemm_cooperative_128x128x128_m1_256);
NVFP4_FP4_GEMM_ENTRY(fp4_gemm_pingpong_128x128x256_m257_up);

}  // namespace nvfp4::sm120
