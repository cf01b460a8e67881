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

// min(a, b) for a b that is not NaN (a NaN gives b): fminf on the GPU, one instruction; a
// compare on the host, where fminf is a library call.
NVFP4_HOST_DEVICE float min_of_not_nan(float a, float b) {
#if defined(__CUDA_ARCH__)
  return fminf(a, b);
#else
  return a < b ? a : b;
#endif
}

// max(a, b) for a b that is not NaN (a NaN gives b).
NVFP4_HOST_DEVICE float max_of_not_nan(float a, float b) {
#if defined(__CUDA_ARCH__)
  return fmaxf(a, b);
#else
  return a > b ? a : b;
#endif
}

NVFP4_HOST_DEVICE bool is_finite(float x) {
  return (float_bits(x) & 0x7F800000u) != 0x7F800000u;
}

// Magnitude of the E2M1 code c (0..7, given as a float): convex and piecewise linear, the
// largest of c / 2 (codes 0..4: 0, 0.5, 1, 1.5, 2), c - 2 (4..6: 2, 3, 4) and 2c - 8 (6, 7: 4, 6).
NVFP4_HOST_DEVICE float e2m1_magnitude_of_code(float c) {
  return max_of_not_nan(max_of_not_nan(c * 0.5f, c - 2.0f), c * 2.0f - 8.0f);
}

// Magnitudes of the eight E2M1 codes with the sign bit clear.
NVFP4_HOST_DEVICE float e2m1_magnitude(uint8_t code3) {
  return e2m1_magnitude_of_code(static_cast<float>(code3));
}

// Value of a 4-bit E2M1 code (bit 3 is the sign).
NVFP4_HOST_DEVICE float e2m1_to_float(uint8_t code) {
  const float magnitude = e2m1_magnitude(code & 0x7);
  return (code & 0x8) ? -magnitude : magnitude;
}

// Adding 2^23 to an fp32 in [0, 2^23) rounds it to an integer, ties to even, and leaves that
// integer in the low mantissa bits of the sum.
constexpr float kRoundingMagic = 8388608.0f;
constexpr uint32_t kRoundingMagicBits = 0x4B000000u;

// The E2M1 code (0..7) of a magnitude a >= 0, rounded to nearest, ties to even, saturating to 6
// (+Inf and NaN give 7), held as the fp32 2^23 + code. As a function of a, the code is concave
// and piecewise linear: 2a below 2 (grid step 0.5), a + 2 in [2, 4) (step 1), a / 2 + 4 from 4
// (step 2). So it is the least of the three lines, and rounding each line to an integer keeps
// that order. Each line's product is exact (a power-of-two factor) and its one rounding is the
// 2^23 addition: six fp32 operations with the clamp, no branch, no conversion instruction.
NVFP4_HOST_DEVICE float e2m1_code_plus_magic(float a) {
  a = min_of_not_nan(a, kE2M1Max);
  const float fine = a * 2.0f + kRoundingMagic;
  const float middle = a + (kRoundingMagic + 2.0f);
  const float coarse = a * 0.5f + (kRoundingMagic + 4.0f);
  return min_of_not_nan(fine, min_of_not_nan(middle, coarse));
}

NVFP4_HOST_DEVICE uint32_t e2m1_code_of_magnitude(float a) {
  return float_bits(e2m1_code_plus_magic(a)) - kRoundingMagicBits;
}

// Round to nearest E2M1, ties to even, saturating to +-6. The sign bit of y becomes bit 3, so
// -0.1 gives 0x8 (minus zero).
NVFP4_HOST_DEVICE uint8_t e2m1_from_float_rne_satfinite(float y) {
  return static_cast<uint8_t>(e2m1_code_of_magnitude(fabsf(y)) | ((float_bits(y) >> 28) & 0x8));
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

// x / 6 rounded to nearest even, without a division instruction: a multiply by the rounded
// reciprocal and one FMA correction (the last step of a Newton-Raphson division), which is the
// correctly rounded quotient whenever that quotient is a normal float. Elsewhere (quotients below
// 2^-126, where both round to the E4M3 byte 0; x = +Inf, NaN here, clamped to 448 like the true
// +Inf) block_scale_byte is unchanged: test_format checks it for every fp32 x >= 0.
NVFP4_HOST_DEVICE float divide_by_e2m1_max(float x) {
  constexpr float kReciprocal = 1.0f / kE2M1Max;
  const float quotient = x * kReciprocal;
  return fmaf(fmaf(-quotient, kE2M1Max, x), kReciprocal, quotient);
}

// The block scale of a finite block with max |x| = amax before its E4M3 rounding:
// min((gs * amax) / 6, 448) (DESIGN.md section 1). `gs` must be a valid encode scale.
NVFP4_HOST_DEVICE float unrounded_block_scale(float amax, float gs) {
  const float scale = divide_by_e2m1_max(gs * amax);
  return scale < kE4M3Max ? scale : kE4M3Max;  // NaN (from gs * amax = +Inf) too
}

// The multiplier that takes a block's values to E2M1, from its E4M3 scale byte:
// 1 / (decoded_scale * (1 / gs)), capped at the largest float; 0 for a zero scale.
NVFP4_HOST_DEVICE float block_scale_inverse(uint8_t byte, float gs) {
  const float decoded_scale = e4m3_to_float(byte);
  if (decoded_scale == 0.0f) return 0.0f;
  const float inverse = 1.0f / (decoded_scale * (1.0f / gs));
  return inverse < kFloatMax ? inverse : kFloatMax;
}

// The E4M3 scale byte of a finite block and its multiplier to E2M1, in exactly the order of IEEE
// fp32 operations of DESIGN.md section 1.
struct BlockScale {
  uint8_t byte;    // E4M3
  float inverse;   // x * inverse is rounded to E2M1
};

NVFP4_HOST_DEVICE BlockScale encode_block_scale(float amax, float gs) {
  const uint8_t byte = e4m3_from_nonnegative_float_rne(unrounded_block_scale(amax, gs));
  return {byte, block_scale_inverse(byte, gs)};
}

// Step 0 of the recipe and the block max: false for a block holding NaN or Inf, or for any block
// of an invalid gs (the block then gets the NaN scale and zero codes); else amax = max |x_i|.
NVFP4_HOST_DEVICE bool finite_block_amax(const float* x, float gs, float& amax) {
  amax = 0.0f;
  bool finite = is_valid_global_scale(gs);
  for (int i = 0; i < kBlockSize; ++i) {
    finite = finite && is_finite(x[i]);
    amax = max_of_not_nan(fabsf(x[i]), amax);  // a NaN is skipped: its block is not kept
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
