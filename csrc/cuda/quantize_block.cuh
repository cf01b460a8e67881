// Device building blocks of the kernels that quantize: load a block of 16 values, encode it.
#pragma once

#include <cstdint>

#include "cuda/device_convert.cuh"
#include "nvfp4/format.h"

namespace nvfp4::cuda {

// Sixteen consecutive elements as floats; 16-byte loads when the address allows.
template <typename T, bool kVectorized>
__device__ __forceinline__ void load_block(const T* source, float (&values)[kBlockSize]) {
  if constexpr (kVectorized) {
    constexpr int kPerVector = 16 / sizeof(T);
    const uint4* vectors = reinterpret_cast<const uint4*>(source);
#pragma unroll
    for (int v = 0; v < kBlockSize / kPerVector; ++v) {
      const uint4 bits = __ldg(vectors + v);
      const T* elements = reinterpret_cast<const T*>(&bits);
#pragma unroll
      for (int i = 0; i < kPerVector; ++i) values[v * kPerVector + i] = to_float(elements[i]);
    }
  } else {
#pragma unroll
    for (int i = 0; i < kBlockSize; ++i) values[i] = to_float(source[i]);
  }
}

// Eight bytes holding the 16 codes of a block, or zero for a non-finite block / invalid scale.
__device__ __forceinline__ uint2 encode_block(const float (&values)[kBlockSize], float gs, uint8_t& scale_byte) {
  float amax;
  if (!finite_block_amax(values, gs, amax)) {
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
