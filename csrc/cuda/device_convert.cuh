// Device-side conversions shared by the architecture-neutral CUDA kernels (torch-free): element loads as
// float, float stores to the element type, and the E2M1 rounding of DESIGN.md section 1 (the
// PTX conversion instruction where the target has it, the software rounding of format.h
// elsewhere; both round to nearest even and saturate to +-6).
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <cstdint>

#include "nvfp4/format.h"

// sm_100a/103a/120a/121a and the 10.x/12.x family targets have cvt.rn.satfinite.e2m1x2.f32.
#if defined(__CUDA_ARCH_FEAT_SM100_ALL) || defined(__CUDA_ARCH_FEAT_SM103_ALL) ||   \
    defined(__CUDA_ARCH_FEAT_SM120_ALL) || defined(__CUDA_ARCH_FEAT_SM121_ALL) ||   \
    (defined(__CUDA_ARCH_FAMILY_SPECIFIC__) &&                                      \
     (__CUDA_ARCH_FAMILY_SPECIFIC__ == 1000 || __CUDA_ARCH_FAMILY_SPECIFIC__ == 1030 || \
      __CUDA_ARCH_FAMILY_SPECIFIC__ == 1200 || __CUDA_ARCH_FAMILY_SPECIFIC__ == 1210))
#define NVFP4_HAS_E2M1_CVT 1
#else
#define NVFP4_HAS_E2M1_CVT 0
#endif

namespace nvfp4::cuda {

__device__ __forceinline__ float to_float(float x) { return x; }
__device__ __forceinline__ float to_float(__half x) { return __half2float(x); }
__device__ __forceinline__ float to_float(__nv_bfloat16 x) { return __bfloat162float(x); }

template <typename T>
__device__ __forceinline__ T from_float(float x);
template <>
__device__ __forceinline__ float from_float<float>(float x) { return x; }
template <>
__device__ __forceinline__ __half from_float<__half>(float x) { return __float2half_rn(x); }
template <>
__device__ __forceinline__ __nv_bfloat16 from_float<__nv_bfloat16>(float x) { return __float2bfloat16_rn(x); }

// Two floats rounded to T (16-bit) as one 32-bit pair, `low` in the low half (at the lower address
// in memory): one conversion instruction for both.
template <typename T>
__device__ __forceinline__ uint32_t pair_from_floats(float low, float high);
template <>
__device__ __forceinline__ uint32_t pair_from_floats<__half>(float low, float high) {
  const __half2 pair = __floats2half2_rn(low, high);
  return *reinterpret_cast<const uint32_t*>(&pair);
}
template <>
__device__ __forceinline__ uint32_t pair_from_floats<__nv_bfloat16>(float low, float high) {
  const __nv_bfloat162 pair = __floats2bfloat162_rn(low, high);
  return *reinterpret_cast<const uint32_t*>(&pair);
}

// The E4M3 byte of a block scale v in [0, 448]: the conversion instruction from sm_89 on (round
// to nearest even, subnormals kept, like the integer rounding of format.h, which the exhaustive
// test tests/cpp/test_format_cuda.cu checks), the integer rounding itself before.
__device__ __forceinline__ uint8_t e4m3_from_scale(float v) {
#if __CUDA_ARCH__ >= 890
  uint16_t pair;
  // The first source operand goes to the upper byte.
  asm("cvt.rn.satfinite.e4m3x2.f32 %0, %1, %2;" : "=h"(pair) : "f"(0.0f), "f"(v));
  return static_cast<uint8_t>(pair & 0xFFu);
#else
  return e4m3_from_nonnegative_float_rne(v);
#endif
}

// Two E2M1 codes in one byte: `low` in bits 0..3, `high` in bits 4..7.
__device__ __forceinline__ uint8_t e2m1x2_from_floats(float low, float high) {
#if NVFP4_HAS_E2M1_CVT
  uint32_t byte;
  // The first source operand goes to the upper nibble.
  asm("{\n"
      "  .reg .b8 packed;\n"
      "  cvt.rn.satfinite.e2m1x2.f32 packed, %1, %2;\n"
      "  cvt.u32.u8 %0, packed;\n"
      "}"
      : "=r"(byte)
      : "f"(high), "f"(low));
  return static_cast<uint8_t>(byte);
#else
  return static_cast<uint8_t>(e2m1_from_float_rne_satfinite(low) | (e2m1_from_float_rne_satfinite(high) << 4));
#endif
}

}  // namespace nvfp4::cuda
