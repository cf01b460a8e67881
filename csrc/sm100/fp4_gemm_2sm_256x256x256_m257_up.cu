// _C_sm100's NVFP4 GEMM configuration Fp4Gemm2Sm256x256, bf16 and fp16 out:
// a pair of SMs an MMA of 256 x 256, for large M.

#include "sm100/cutlass_fp4_mm.h"
#include "sm100/fp4_gemm_configs.cuh"
#include "sm1xx/cutlass_fp4_mm_op.h"

namespace nvfp4::sm100 {

NVFP4_DEFINE_FP4_GEMM_ENTRY(fp4_gemm_2sm_256x256x256_m257_up, Fp4Gemm2Sm256x256)

}  // namespace nvfp4::sm100
