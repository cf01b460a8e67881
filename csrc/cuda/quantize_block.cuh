// Device building blocks of the kernels that quantize: lane groups sharing a block of 16 values.
#pragma once

#include <cstdint>

#include "cuda/device_convert.cuh"
#include "nvfp4/format.h"

namespace nvfp4::cuda {

// Coalesced layout of the aligned kernels: a block of 16 values is shared by kLanes consecutive
// lanes, each holding the 16 contiguous bytes it loaded (8 bf16/fp16 values, or 4 fp32 values),
// so one warp instruction loads or stores one contiguous run of memory.
template <typename T>
struct LaneGroup {
  static constexpr int kLanes = sizeof(T);                   // lanes per block of 16
  static constexpr int kValues = kBlockSize / kLanes;        // values per lane: 16 bytes
  static constexpr int kCodeBytes = kValues / 2;

  // The lanes of the calling lane's group, for the shuffles that combine them.
  __device__ static unsigned mask() {
    const unsigned lane = threadIdx.x % 32;
    return ((1u << kLanes) - 1u) << (lane & ~(kLanes - 1u));
  }
};

// The scale of the block a lane group holds (each lane its kValues values), agreed by all lanes
// of the group; `valid` is false for a non-finite block or an invalid encode scale (the caller
// then writes the NaN scale and zero codes). All lanes of the group must call it together.
template <typename T>
__device__ __forceinline__ BlockScale group_block_scale(const float (&values)[LaneGroup<T>::kValues], float gs,
                                                        bool& valid) {
  float amax = 0.0f;
  bool finite = true;
#pragma unroll
  for (int i = 0; i < LaneGroup<T>::kValues; ++i) {
    finite = finite && is_finite(values[i]);
    amax = fmaxf(amax, fabsf(values[i]));
  }
  const unsigned mask = LaneGroup<T>::mask();
#pragma unroll
  for (int offset = 1; offset < LaneGroup<T>::kLanes; offset *= 2) {
    amax = fmaxf(amax, __shfl_xor_sync(mask, amax, offset));
    finite = __shfl_xor_sync(mask, static_cast<int>(finite), offset) && finite;
  }
  valid = finite && is_valid_global_scale(gs);
  return valid ? encode_block_scale(amax, gs) : BlockScale{kE4M3NaN, 0.0f};
}

// The codes of a lane's values, two per byte (earlier value in the low nibble).
template <int kValues>
__device__ __forceinline__ uint32_t encode_values(const float (&values)[kValues], float inverse) {
  uint32_t codes = 0;
#pragma unroll
  for (int i = 0; i < kValues / 2; ++i) {
    codes |= static_cast<uint32_t>(e2m1x2_from_floats(values[2 * i] * inverse, values[2 * i + 1] * inverse))
             << (8 * i);
  }
  return codes;
}

template <typename T>
__device__ __forceinline__ void lane_values(const uint4& raw, float (&values)[LaneGroup<T>::kValues]) {
  const T* elements = reinterpret_cast<const T*>(&raw);
#pragma unroll
  for (int i = 0; i < LaneGroup<T>::kValues; ++i) values[i] = to_float(elements[i]);
}

}  // namespace nvfp4::cuda
