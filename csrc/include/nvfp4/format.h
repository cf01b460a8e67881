// NVFP4 format facts as host+device inline functions: the one C++ source of truth.
//
// E2M1 values (4 bits: sign, 2 exponent bits, 1 mantissa bit), one E4M3 block scale per 16
// values along K, one fp32 encode scale `gs` per tensor. Every kernel of the project (CPU, CUDA,
// any architecture) quantizes through `encode_block_scale` below, so all of them produce the same
// bytes; tests tie these functions to the pure-PyTorch reference in nvfp4/reference.py.
//
// This header includes no torch headers: host-only tests and C++ benchmarks use it directly.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>

#if defined(__CUDACC__) || defined(__HIPCC__)
#define NVFP4_HOST_DEVICE __host__ __device__ __forceinline__
#else
#define NVFP4_HOST_DEVICE inline
#endif

namespace nvfp4 {

// Elements that share one block scale.
constexpr int kBlockSize = 16;
// Largest E2M1 magnitude and largest finite E4M3 value.
constexpr float kE2M1Max = 6.0f;
constexpr float kE4M3Max = 448.0f;
// The E4M3 byte that means NaN (S.1111.111 with the sign clear): the scale of a non-finite block.
constexpr uint8_t kE4M3NaN = 0x7F;
// Largest finite fp32, the cap on the per-block reciprocal.
constexpr float kFloatMax = 3.40282346638528859812e+38f;
NVFP4_HOST_DEVICE int64_t round_up(int64_t x, int64_t multiple) {
  return (x + multiple - 1) / multiple * multiple;
}

NVFP4_HOST_DEVICE uint32_t float_bits(float x) {
#if defined(__CUDA_ARCH__)
  return __float_as_uint(x);
#else
  uint32_t bits;
  std::memcpy(&bits, &x, sizeof(bits));
  return bits;
#endif
}

NVFP4_HOST_DEVICE float float_from_bits(uint32_t bits) {
#if defined(__CUDA_ARCH__)
  return __uint_as_float(bits);
#else
  float x;
  std::memcpy(&x, &bits, sizeof(x));
  return x;
#endif
}

NVFP4_HOST_DEVICE bool is_finite(float x) {
  return (float_bits(x) & 0x7F800000u) != 0x7F800000u;
}

// Magnitudes of the eight E2M1 codes with the sign bit clear: 0, 0.5, 1, 1.5 (code / 2), then
// 2, 3, 4 (code - 2), then 6.
NVFP4_HOST_DEVICE float e2m1_magnitude(uint8_t code3) {
  const float code = static_cast<float>(code3);
  return code3 < 4 ? 0.5f * code : (code3 < 7 ? code - 2.0f : 6.0f);
}

// Value of a 4-bit E2M1 code (bit 3 is the sign).
NVFP4_HOST_DEVICE float e2m1_to_float(uint8_t code) {
  const float magnitude = e2m1_magnitude(code & 0x7);
  return (code & 0x8) ? -magnitude : magnitude;
}

// x rounded to the nearest integer, ties to even (IEEE round-to-nearest, the default mode).
NVFP4_HOST_DEVICE int round_half_even(float x) {
#if defined(__CUDA_ARCH__)
  return __float2int_rn(x);
#else
  return static_cast<int>(std::nearbyint(x));
#endif
}

// Round to nearest E2M1, ties to even, saturating to +-6. The E2M1 grid steps by 0.5 below 2, by
// 1 in [2, 4) and by 2 from 4 to 6: |y| counted in its step (a power of two, so exactly) and
// rounded to an integer gives the code. The sign bit of y becomes bit 3, so -0.1 gives 0x8
// (minus zero).
NVFP4_HOST_DEVICE uint8_t e2m1_from_float_rne_satfinite(float y) {
  float a = y < 0.0f ? -y : y;
  a = a < kE2M1Max ? a : kE2M1Max;  // also +Inf; NaN never reaches here (see quantize_block)
  const int magnitude = a < 2.0f   ? round_half_even(a * 2.0f)
                        : a < 4.0f ? round_half_even(a) + 2
                                   : round_half_even(a * 0.5f) + 4;
  return static_cast<uint8_t>(magnitude | ((float_bits(y) >> 28) & 0x8));
}

// Value of an E4M3 (float8_e4m3fn) byte; 0x7F and 0xFF are NaN.
NVFP4_HOST_DEVICE float e4m3_to_float(uint8_t byte) {
  const uint32_t sign = (byte & 0x80u) << 24;
  const uint32_t exponent = (byte >> 3) & 0xF, mantissa = byte & 0x7;
  if (exponent == 0xF && mantissa == 0x7) return float_from_bits(sign | 0x7FC00000u);
  if (exponent == 0) {  // subnormal: mantissa * 2^-9, exact in fp32
    const float magnitude = static_cast<float>(mantissa) * 0.001953125f;
    return sign ? -magnitude : magnitude;
  }
  return float_from_bits(sign | ((exponent + 120u) << 23) | (mantissa << 20));
}

// x / 2^shift rounded to nearest, ties to even, for x < 2^24.
NVFP4_HOST_DEVICE uint32_t shift_right_rne(uint32_t x, int shift) {
  if (shift >= 32) return 0;  // x / 2^shift < 2^-8: rounds to zero
  const uint32_t quotient = x >> shift;
  const uint32_t remainder = x & ((1u << shift) - 1u);
  const uint32_t half = 1u << (shift - 1);
  return quotient + ((remainder > half || (remainder == half && (quotient & 1u))) ? 1u : 0u);
}

// Round a finite v in [0, 448] to E4M3, nearest, ties to even, keeping subnormals (multiples of
// 2^-9). Integer arithmetic only, so the result does not depend on an FPU mode or a compiler.
NVFP4_HOST_DEVICE uint8_t e4m3_from_nonnegative_float_rne(float v) {
  const uint32_t bits = float_bits(v);
  const int biased_exponent = static_cast<int>(bits >> 23);  // sign is clear
  if (biased_exponent == 0) return 0;  // zero or an fp32 subnormal (< 2^-126): rounds to 0
  const int exponent = biased_exponent - 127;
  const uint32_t significand = (bits & 0x7FFFFFu) | 0x800000u;  // 24 bits
  // E4M3 keeps 3 fraction bits at exponents >= -6 and a fixed quantum 2^-9 below.
  const int target_exponent = exponent > -6 ? exponent : -6;
  const uint32_t scaled = shift_right_rne(significand, 20 + (target_exponent - exponent));
  // `scaled` counts quanta of 2^(target_exponent - 3) from 2^target_exponent's binade start; a
  // carry to 16 lands on the next binade's first code, which the addition produces naturally.
  return static_cast<uint8_t>(((target_exponent + 6) << 3) + scaled);
}

// The encode scale's validity: the whole tensor becomes NaN scales and zero codes otherwise.
NVFP4_HOST_DEVICE bool is_valid_global_scale(float gs) {
  return is_finite(gs) && gs > 0.0f;
}

// The dynamic encode scale of a tensor from its amax: finite and positive for every amax.
NVFP4_HOST_DEVICE float global_scale_from_amax(float amax) {
  if (!(amax > 0.0f)) return 1.0f;  // also NaN
  const float gs = (kE2M1Max * kE4M3Max) / amax;
  const float gs_max = 8.50705917302346158658e+37f;  // 2^126
  return gs < gs_max ? gs : gs_max;
}

// The block scale of a finite block with max |x| = amax, and the multiplier that takes its
// values to E2M1 (DESIGN.md section 1, in exactly that order of IEEE fp32 operations). `gs` must
// be a valid encode scale.
struct BlockScale {
  uint8_t byte;    // E4M3
  float inverse;   // x * inverse is rounded to E2M1
};

NVFP4_HOST_DEVICE BlockScale encode_block_scale(float amax, float gs) {
  float scale = (gs * amax) / kE2M1Max;
  scale = scale < kE4M3Max ? scale : kE4M3Max;
  const uint8_t byte = e4m3_from_nonnegative_float_rne(scale);
  const float decoded_scale = e4m3_to_float(byte);
  float inverse = 0.0f;
  if (decoded_scale != 0.0f) {
    inverse = 1.0f / (decoded_scale * (1.0f / gs));
    inverse = inverse < kFloatMax ? inverse : kFloatMax;
  }
  return {byte, inverse};
}

// Step 0 of the recipe and the block max: false for a block holding NaN or Inf, or for any block
// of an invalid gs (the block then gets the NaN scale and zero codes); else amax = max |x_i|.
NVFP4_HOST_DEVICE bool finite_block_amax(const float* x, float gs, float& amax) {
  amax = 0.0f;
  bool finite = is_valid_global_scale(gs);
  for (int i = 0; i < kBlockSize; ++i) {
    finite = finite && is_finite(x[i]);
    amax = fmaxf(amax, fabsf(x[i]));  // equal to a compare-and-select for the finite blocks kept
  }
  return finite;
}

// Quantize one block of 16 fp32 values with encode scale gs: writes 16 codes (one per byte of
// `codes`) and returns the E4M3 scale byte. A block holding NaN or Inf, or any block of an
// invalid gs, gets the NaN scale and zero codes.
NVFP4_HOST_DEVICE uint8_t quantize_block(const float* x, float gs, uint8_t* codes) {
  float amax;
  if (!finite_block_amax(x, gs, amax)) {
    for (int i = 0; i < kBlockSize; ++i) codes[i] = 0;
    return kE4M3NaN;
  }
  const BlockScale scale = encode_block_scale(amax, gs);
  for (int i = 0; i < kBlockSize; ++i) codes[i] = e2m1_from_float_rne_satfinite(x[i] * scale.inverse);
  return scale.byte;
}

// Dequantized value of one code: one exact product, one fp32 division (the caller casts).
NVFP4_HOST_DEVICE float dequantize_value(uint8_t code, uint8_t scale_byte, float gs) {
  return (e2m1_to_float(code) * e4m3_to_float(scale_byte)) / gs;
}

}  // namespace nvfp4
