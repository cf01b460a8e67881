// _C_sm100's NVFP4 GEMM configuration Fp4Gemm1Sm128x128, bf16 and fp16 out:
// one SM an MMA of 128 rows, for small M.

#include "sm100/cutlass_fp4_mm.h"
#include "sm100/fp4_gemm_configs.cuh"
#include "sm1xx/cutlass_fp4_mm_op.h"

namespace nvfp4::sm100 {

NVFP4_DEFINE_FP4_GEMM_ENTRY(fp4_gemm_1sm_128x128x256_m1_128, Fp4Gemm1Sm128x128)

}  // namespace nvfp4::sm100
