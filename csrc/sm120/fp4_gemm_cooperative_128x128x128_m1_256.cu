// _C_sm120's NVFP4 GEMM configuration Fp4GemmCooperative128x128x128, bf16 and fp16 out:
// cooperative, 128-wide K tiles.

#include "sm120/cutlass_fp4_mm.h"
#include "sm120/fp4_gemm_configs.cuh"
#include "sm1xx/cutlass_fp4_mm_op.h"

namespace nvfp4::sm120 {

NVFP4_DEFINE_FP4_GEMM_ENTRY(fp4_gemm_cooperative_128x128x128_m1_256, Fp4GemmCooperative128x128x128)

}  // namespace nvfp4::sm120
