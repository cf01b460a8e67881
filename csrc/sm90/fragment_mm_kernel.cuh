// The Hopper NVFP4 GEMM, split-K version (torch-free; the C++ benchmark includes it too):
// out = alpha * (x @ (e2m1 * sf)^T) + bias with the weight in the fragment layout
// (csrc/include/nvfp4/fragment_layout.h).
//
// Each warp owns one 16-row strip of the weight over one K range (a split) and streams its tiles
// with one 16-byte load per lane (the codes of four k16 steps) and one 8-byte load (their scales).
// Each code pair becomes the exact fp16 pair e2m1 * sf * 2^-14 in registers (bf16 for bf16
// activations, by an exact conversion), and mma.sync m16n8k16 multiplies it with x's fragments,
// read straight from global memory (x is small and shared by every warp: it lives in L2 and L1).
// Partial sums go to an fp32 buffer [splits, M, padded_n]; a second kernel adds the splits in
// order (deterministic), applies alpha * 2^14, adds the bias and rounds once to the output type.
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime_api.h>

#include <cstdint>
#include <type_traits>

#include "cuda/device_convert.cuh"
#include "nvfp4/fragment_layout.h"

namespace nvfp4::sm90 {

constexpr int kWarpsPerBlock = 4;
// The decoded weights carry a factor 2^-14 (see dequantize_pair); the epilogue takes it back.
constexpr float kWeightScaleBack = 16384.0f;

struct FragmentMmParams {
  const void* x;  // [m, k] fp16 or bf16, contiguous, 4-byte aligned
  int64_t m;
  int64_t k;
  const uint4* codes;   // fragment layout: [strips][k_tiles][32 lanes] x 16 bytes
  const uint2* scales;  // fragment layout: [strips][k_tiles][8 groups] x 8 bytes
  int64_t strips;
  int64_t k_tiles;
  int64_t k_tiles_per_split;
  float* partial;  // [splits, m, padded_n]
  int64_t padded_n;
};

// Two codes of one byte (the even k in the low nibble) times the fp16 scale pair `scale` (the
// same scale in both halves), as the exact fp16 pair e2m1 * sf * 2^-14. The code's bits go where
// an fp16 keeps its exponent and top mantissa bit, which makes the fp16 value e2m1 * 2^-14
// (E2M1 is a tiny float with exponent bias 1, fp16 one with bias 15; the codes below 1 land on
// fp16 subnormals, which fp16 arithmetic keeps). Every product e2m1 * sf is a multiple of 2^-10
// below 2688 with at most 6 significant bits, so the scaled product is an exact fp16 too.
__device__ __forceinline__ __half2 dequantize_pair(uint32_t byte, __half2 scale) {
  const uint32_t magnitudes = (byte * 0x00200200u) & 0x0E000E00u;  // low code's bits 0..2 -> 9..11, high's -> 25..27
  const uint32_t signs = (byte * 0x01001000u) & 0x80008000u;       // bit 3 -> 15, bit 7 -> 31
  const uint32_t bits = magnitudes | signs;
  return __hmul2(*reinterpret_cast<const __half2*>(&bits), scale);
}

template <typename T>
__device__ __forceinline__ uint32_t as_mma_operand(__half2 pair);
template <>
__device__ __forceinline__ uint32_t as_mma_operand<__half>(__half2 pair) {
  return *reinterpret_cast<const uint32_t*>(&pair);
}
template <>
__device__ __forceinline__ uint32_t as_mma_operand<__nv_bfloat16>(__half2 pair) {
  const __nv_bfloat162 converted = __float22bfloat162_rn(__half22float2(pair));  // exact
  return *reinterpret_cast<const uint32_t*>(&converted);
}

// d += a * b for one m16n8k16 tile, fp32 accumulation.
template <typename T>
__device__ __forceinline__ void mma_m16n8k16(float (&d)[4], const uint32_t (&a)[4], const uint32_t (&b)[2]) {
  if constexpr (std::is_same_v<T, __half>) {
    asm volatile(
        "mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
        "{%0,%1,%2,%3};"
        : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
  } else {
    asm volatile(
        "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
        "{%0,%1,%2,%3};"
        : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
  }
}

// The fp16 pair of two E4M3 bytes (the low byte in the low half): exact.
__device__ __forceinline__ __half2 e4m3x2_to_half2(uint32_t two_bytes) {
  uint32_t pair;
  asm("cvt.rn.f16x2.e4m3x2 %0, %1;" : "=r"(pair) : "h"(static_cast<uint16_t>(two_bytes)));
  return *reinterpret_cast<const __half2*>(&pair);
}

// Partial products of one split: grid (ceil(strips / kWarpsPerBlock), splits, ceil(m / (8 * kNTiles))).
template <typename T, int kNTiles>
__global__ void __launch_bounds__(kWarpsPerBlock * 32) fragment_mm_partial_kernel(FragmentMmParams p) {
  const int lane = threadIdx.x % 32, group = lane / 4, thread_in_group = lane % 4;
  const int64_t strip = blockIdx.x * int64_t{kWarpsPerBlock} + threadIdx.x / 32;
  if (strip >= p.strips) return;
  const int64_t split = blockIdx.y, m_base = blockIdx.z * int64_t{8 * kNTiles};
  const int64_t tile_begin = split * p.k_tiles_per_split;
  const int64_t tile_end = min(tile_begin + p.k_tiles_per_split, p.k_tiles);
  const T* x = static_cast<const T*>(p.x);

  // This lane's rows of x (its B fragment columns), or null past m.
  const T* x_rows[kNTiles];
#pragma unroll
  for (int j = 0; j < kNTiles; ++j) {
    const int64_t row = m_base + 8 * j + group;
    x_rows[j] = row < p.m ? x + row * p.k + 2 * thread_in_group : nullptr;
  }

  float acc[kNTiles][4] = {};
  for (int64_t tile = tile_begin; tile < tile_end; ++tile) {
    const int64_t tile_index = strip * p.k_tiles + tile;
    const uint4 codes = __ldg(p.codes + tile_index * 32 + lane);
    const uint2 scales = __ldg(p.scales + tile_index * 8 + group);
    const uint32_t step_codes[kFragmentSteps] = {codes.x, codes.y, codes.z, codes.w};
#pragma unroll
    for (int step = 0; step < kFragmentSteps; ++step) {
      const int64_t k0 = tile * kFragmentK + step * int64_t{kBlockSize};
      if (k0 >= p.k) break;  // the K padding of the last tile: zero codes, and no x to read
      // Scale bytes of rows g and g + 8 for this step, as fp16 pairs (each scale in both halves).
      const uint32_t scale_bytes = (step < 2 ? scales.x : scales.y) >> (16 * (step % 2));
      const __half2 both = e4m3x2_to_half2(scale_bytes & 0xFFFFu);
      const __half2 row_scale[2] = {__low2half2(both), __high2half2(both)};
      uint32_t a[4];
#pragma unroll
      for (int r = 0; r < 4; ++r) {
        const uint32_t byte = (step_codes[step] >> (8 * r)) & 0xFFu;
        a[r] = as_mma_operand<T>(dequantize_pair(byte, row_scale[r % 2]));
      }
#pragma unroll
      for (int j = 0; j < kNTiles; ++j) {
        uint32_t b[2] = {0, 0};
        if (x_rows[j] != nullptr) {
          const uint32_t* source = reinterpret_cast<const uint32_t*>(x_rows[j] + k0);
          b[0] = __ldg(source);
          b[1] = __ldg(source + 4);  // k0 + 2t + 8
        }
        mma_m16n8k16<T>(acc[j], a, b);
      }
    }
  }

  // Accumulator fragment: d0, d1 at weight row g, batch columns 2t, 2t + 1; d2, d3 at row g + 8.
  const int64_t n_row = strip * kFragmentRows + group;
#pragma unroll
  for (int j = 0; j < kNTiles; ++j) {
#pragma unroll
    for (int c = 0; c < 4; ++c) {
      const int64_t row = m_base + 8 * j + 2 * thread_in_group + c % 2;
      if (row < p.m) p.partial[(split * p.m + row) * p.padded_n + n_row + 8 * (c / 2)] = acc[j][c];
    }
  }
}

// out[m, j] = alpha * (sum over splits * 2^14) + bias[j], for j < n; one thread per output.
template <typename T>
__global__ void fragment_mm_epilogue_kernel(const float* __restrict__ partial, int64_t splits, int64_t m,
                                            int64_t n, int64_t padded_n, const float* __restrict__ alpha,
                                            bool alpha_per_column, const T* __restrict__ bias, T* __restrict__ out) {
  for (int64_t index = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; index < m * n;
       index += int64_t{gridDim.x} * blockDim.x) {
    const int64_t row = index / n, column = index % n;
    float sum = 0.0f;
    for (int64_t s = 0; s < splits; ++s) sum += partial[(s * m + row) * padded_n + column];
    float value = alpha[alpha_per_column ? column : 0] * (sum * kWeightScaleBack);
    if (bias != nullptr) value += cuda::to_float(bias[column]);
    out[index] = cuda::from_float<T>(value);
  }
}

}  // namespace nvfp4::sm90
