// Device building blocks of the kernels that quantize: load a block of 16 values, encode it.
#pragma once

#include <cstdint>

#include "cuda/device_convert.cuh"
#include "nvfp4/format.h"

namespace nvfp4::cuda {

// The raw bytes of 16 consecutive elements, loaded apart from their conversion so that a thread
// can have several blocks' loads in flight before it computes on any of them.
template <typename T>
struct RawBlock {
  static constexpr int kVectors = kBlockSize * sizeof(T) / 16;
  uint4 vectors[kVectors];
};

// 16-byte loads when the address allows, element loads otherwise.
template <typename T, bool kVectorized>
__device__ __forceinline__ void load_raw_block(const T* source, RawBlock<T>& raw) {
  if constexpr (kVectorized) {
#pragma unroll
    for (int v = 0; v < RawBlock<T>::kVectors; ++v) raw.vectors[v] = __ldg(reinterpret_cast<const uint4*>(source) + v);
  } else {
    T* elements = reinterpret_cast<T*>(raw.vectors);
#pragma unroll
    for (int i = 0; i < kBlockSize; ++i) elements[i] = source[i];
  }
}

template <typename T>
__device__ __forceinline__ void to_floats(const RawBlock<T>& raw, float (&values)[kBlockSize]) {
  const T* elements = reinterpret_cast<const T*>(raw.vectors);
#pragma unroll
  for (int i = 0; i < kBlockSize; ++i) values[i] = to_float(elements[i]);
}

// Eight bytes holding the 16 codes of a block, or zero for a non-finite block / invalid scale.
__device__ __forceinline__ uint2 encode_block(const float (&values)[kBlockSize], float gs, uint8_t& scale_byte) {
  float amax = 0.0f;
  bool finite = is_valid_global_scale(gs);
#pragma unroll
  for (int i = 0; i < kBlockSize; ++i) {
    finite = finite && is_finite(values[i]);
    amax = fmaxf(amax, fabsf(values[i]));
  }
  if (!finite) {
    scale_byte = kE4M3NaN;
    return make_uint2(0, 0);
  }
  const BlockScale scale = encode_block_scale(amax, gs);
  scale_byte = scale.byte;
  uint32_t words[2] = {0, 0};
#pragma unroll
  for (int i = 0; i < kBlockSize / 2; ++i) {
    const uint32_t byte = e2m1x2_from_floats(values[2 * i] * scale.inverse, values[2 * i + 1] * scale.inverse);
    words[i / 4] |= byte << (8 * (i % 4));
  }
  return make_uint2(words[0], words[1]);
}

}  // namespace nvfp4::cuda
