// _C_sm120's NVFP4 GEMM configuration Fp4GemmPingpong128x128x256, bf16 and fp16 out:
// ping-pong, 256-wide K tiles, for large M.

#include "sm120/cutlass_fp4_mm.h"
#include "sm120/fp4_gemm_configs.cuh"
#include "sm1xx/cutlass_fp4_mm_op.h"

namespace nvfp4::sm120 {

NVFP4_DEFINE_FP4_GEMM_ENTRY(fp4_gemm_pingpong_128x128x256_m257_up, Fp4GemmPingpong128x128x256)

}  // namespace nvfp4::sm120
