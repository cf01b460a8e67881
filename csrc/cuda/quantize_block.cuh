// Device building blocks of the kernels that quantize (torch-free): a block of 16 elements held
// as raw bits, its max |x| and finiteness from those bits, the per-CTA table of E2M1
// multipliers, and the encoding of one block. Every step gives the bytes of format.h's
// quantize_block (DESIGN.md section 1) with fewer instructions:
// - max |x| is an unsigned integer max over the bits with the sign cleared (their integer order
//   is the float order), and the block is finite when that max is below the infinity pattern;
// - the scale byte is divide_by_e2m1_max and one E4M3 conversion, and its multiplier to E2M1 is
//   read from a table of the 127 finite scale bytes built once per CTA;
// - each code is e2m1_code_of_magnitude of |x| * inverse (or the PTX conversion where the target
//   has it), its sign bit the element's own.
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <cstdint>

#include "cuda/device_convert.cuh"
#include "nvfp4/format.h"

namespace nvfp4::cuda {

// Per-type facts of an element's bits.
template <typename T>
struct ElementBits {  // 16-bit floats: two elements a 32-bit word
  static constexpr int kBits = 16;
  static constexpr uint32_t kAbsMask = 0x7FFF7FFFu;  // both halves of a word
};
template <>
struct ElementBits<float> {
  static constexpr int kBits = 32;
  static constexpr uint32_t kAbsMask = 0x7FFFFFFFu;
};

// The bits of +Inf: a magnitude's bits at or above it mean Inf or NaN.
template <typename T>
constexpr uint32_t kInfinityBits = 0x7F800000u;
template <>
constexpr uint32_t kInfinityBits<__half> = 0x7C00u;
template <>
constexpr uint32_t kInfinityBits<__nv_bfloat16> = 0x7F80u;

// The value of one element of a 32-bit word of bits: the word itself for float, its low
// (`high` false) or high 16 bits for the 16-bit types.
template <typename T>
__device__ __forceinline__ float element_of_word(uint32_t word, bool high);
template <>
__device__ __forceinline__ float element_of_word<__nv_bfloat16>(uint32_t word, bool high) {
  return __uint_as_float(high ? word & 0xFFFF0000u : word << 16);
}
template <>
__device__ __forceinline__ float element_of_word<__half>(uint32_t word, bool high) {
  const __half2 pair = *reinterpret_cast<const __half2*>(&word);
  return __half2float(high ? __high2half(pair) : __low2half(pair));
}
template <>
__device__ __forceinline__ float element_of_word<float>(uint32_t word, bool) {
  return __uint_as_float(word);
}

// The 16 elements of one block as raw bits: 32-bit words, each holding 32 / kBits elements,
// element i in bits [kBits * (i % per_word), ...) of word i / per_word.
template <typename T>
struct BlockBits {
  static constexpr int kPerWord = 32 / ElementBits<T>::kBits;
  static constexpr int kWords = kBlockSize / kPerWord;
  uint32_t words[kWords];

  __device__ __forceinline__ float value(int i) const {
    return element_of_word<T>(words[i / kPerWord], i % kPerWord == 1);
  }
  __device__ __forceinline__ float magnitude(int i) const {
    return element_of_word<T>(words[i / kPerWord] & ElementBits<T>::kAbsMask, i % kPerWord == 1);
  }

  // The bits of max |x| over the block, as a value of T in the low bits: at or above
  // kInfinityBits<T> when an element is Inf or NaN.
  __device__ __forceinline__ uint32_t abs_max_bits() const {
    uint32_t max_bits = 0;
#pragma unroll
    for (int w = 0; w < kWords; ++w) {
      const uint32_t magnitudes = words[w] & ElementBits<T>::kAbsMask;
      max_bits = kPerWord == 1 ? max(max_bits, magnitudes) : __vmaxu2(max_bits, magnitudes);
    }
    return kPerWord == 1 ? max_bits : max(max_bits & 0xFFFFu, max_bits >> 16);
  }

  // The elements' sign bits where the codes of `half` (0: elements 0..7, 1: 8..15) keep theirs:
  // bit 4j + 3 for element 8 * half + j.
  __device__ __forceinline__ uint32_t sign_nibbles(int half) const {
    if constexpr (kPerWord == 1) {
      uint32_t signs = 0;
#pragma unroll
      for (int j = 0; j < 8; ++j) signs |= (words[8 * half + j] >> 31) << (4 * j + 3);
      return signs;
    } else {
      // Gather the high byte of each element (sign in bit 7): elements 0..3, then 4..7 of this
      // half; then the even elements' bytes and the odd ones'. Byte k of `even` holds element
      // 2k, whose sign goes to bit 8k + 3; byte k of `odd` holds element 2k + 1, sign to 8k + 7.
      const uint32_t* w = words + 4 * half;
      const uint32_t low = __byte_perm(w[0], w[1], 0x7531), high = __byte_perm(w[2], w[3], 0x7531);
      const uint32_t even = __byte_perm(low, high, 0x6420), odd = __byte_perm(low, high, 0x7531);
      return ((even >> 4) & 0x08080808u) | (odd & 0x80808080u);
    }
  }
};

// Loads the 16 elements at `source`; 16-byte loads when kVectorized (`source` 16-byte aligned).
template <typename T, bool kVectorized>
__device__ __forceinline__ void load_block(const T* source, BlockBits<T>& block) {
  if constexpr (kVectorized) {
    const uint4* vectors = reinterpret_cast<const uint4*>(source);
#pragma unroll
    for (int v = 0; v < BlockBits<T>::kWords / 4; ++v) {
      const uint4 bits = __ldg(vectors + v);
      block.words[4 * v] = bits.x, block.words[4 * v + 1] = bits.y;
      block.words[4 * v + 2] = bits.z, block.words[4 * v + 3] = bits.w;
    }
  } else if constexpr (BlockBits<T>::kPerWord == 1) {
    const uint32_t* elements = reinterpret_cast<const uint32_t*>(source);
#pragma unroll
    for (int i = 0; i < kBlockSize; ++i) block.words[i] = elements[i];
  } else {
    const uint16_t* elements = reinterpret_cast<const uint16_t*>(source);
#pragma unroll
    for (int w = 0; w < BlockBits<T>::kWords; ++w) {
      block.words[w] = elements[2 * w] | (static_cast<uint32_t>(elements[2 * w + 1]) << 16);
    }
  }
}

// The multipliers to E2M1 of the 127 finite, non-negative scale bytes (0x00..0x7E) for one gs,
// in shared memory: built by the first 128 threads of the CTA, then read by all.
constexpr int kScaleTableSize = 128;

__device__ __forceinline__ void fill_inverse_table(float (&table)[kScaleTableSize], float gs) {
  if (threadIdx.x < kScaleTableSize && is_valid_global_scale(gs)) {
    table[threadIdx.x] = block_scale_inverse(static_cast<uint8_t>(threadIdx.x), gs);
  }
  __syncthreads();
}

// The scale byte of a block (the NaN scale when it holds Inf or NaN or gs is invalid) and, when
// finite, its multiplier to E2M1 from `inverse_table`. Returns whether the block is finite.
template <typename T>
__device__ __forceinline__ bool encode_scale(const BlockBits<T>& block, float gs, bool gs_valid,
                                             const float (&inverse_table)[kScaleTableSize], uint8_t& scale_byte,
                                             float& inverse) {
  const uint32_t amax_bits = block.abs_max_bits();
  if (!gs_valid || amax_bits >= kInfinityBits<T>) {
    scale_byte = kE4M3NaN;
    return false;
  }
  scale_byte = e4m3_from_scale(unrounded_block_scale(element_of_word<T>(amax_bits, false), gs));
  inverse = inverse_table[scale_byte];
  return true;
}

// The 16 codes of a finite block, two a byte (element 2i in the low nibble of byte i).
template <typename T>
__device__ __forceinline__ uint2 encode_codes(const BlockBits<T>& block, float inverse) {
  uint32_t words[2] = {0, 0};
#if NVFP4_HAS_E2M1_CVT
#pragma unroll
  for (int i = 0; i < kBlockSize / 2; ++i) {
    const uint32_t byte = e2m1x2_from_floats(block.value(2 * i) * inverse, block.value(2 * i + 1) * inverse);
    words[i / 4] |= byte << (8 * (i % 4));
  }
#else
#pragma unroll
  for (int i = 0; i < kBlockSize; ++i) words[i / 8] |= e2m1_code_of_magnitude(block.magnitude(i) * inverse) << (4 * (i % 8));
  words[0] |= block.sign_nibbles(0), words[1] |= block.sign_nibbles(1);
#endif
  return make_uint2(words[0], words[1]);
}

// The 16 values e2m1 * sf of a finite block with decoded scale `scale`, in T.
template <typename T>
__device__ __forceinline__ void dequantized_block(const BlockBits<T>& block, float inverse, float scale,
                                                  T (&results)[kBlockSize]) {
#if NVFP4_HAS_E2M1_CVT
  const uint2 codes = encode_codes(block, inverse);
  const uint32_t words[2] = {codes.x, codes.y};
#pragma unroll
  for (int i = 0; i < kBlockSize; ++i) {
    results[i] = from_float<T>(e2m1_to_float((words[i / 8] >> (4 * (i % 8))) & 0xF) * scale);
  }
#else
#pragma unroll
  for (int i = 0; i < kBlockSize; ++i) {
    const float code = e2m1_code_plus_magic(block.magnitude(i) * inverse) - kRoundingMagic;
    const float magnitude = e2m1_magnitude_of_code(code) * scale;
    results[i] = from_float<T>(copysignf(magnitude, block.value(i)));
  }
#endif
}

// The block as nvfp4_qdq gives it: each value's e2m1 * sf in T (no 1/gs; exact), or NaN throughout
// where the block holds Inf or NaN or gs is invalid (its scale byte is the NaN scale).
template <typename T>
__device__ __forceinline__ void qdq_block(const BlockBits<T>& block, float gs, bool gs_valid,
                                          const float (&inverse_table)[kScaleTableSize], T (&results)[kBlockSize]) {
  uint8_t scale_byte;
  float inverse;
  if (encode_scale(block, gs, gs_valid, inverse_table, scale_byte, inverse)) {
    dequantized_block(block, inverse, e4m3_to_float(scale_byte), results);
  } else {
#pragma unroll
    for (int i = 0; i < kBlockSize; ++i) results[i] = from_float<T>(__uint_as_float(0x7FC00000u));
  }
}

}  // namespace nvfp4::cuda
