// The Hopper NVFP4 GEMM for larger batches: wgmma with the weight as operand A from registers
// (torch-free). Computes out^T = W x^T for a tile of 128 weight rows by 128 batch rows per CTA:
// two warpgroups, each 64 weight rows (four strips, one a warp), decode their fragment words
// (fragment_layout.h) into the A registers of wgmma m64n128k16; x is staged in shared memory in
// the order the k-permuted tile multiplies, as the canonical K-major layout without swizzle
// (8-row by 16-byte core matrices), which operand B reads through a matrix descriptor.
//
// Per 64-wide K tile: each warp decodes a step while the previous step's wgmma runs (two
// register sets for A, wgmma.wait_group 1); meanwhile every thread stores its share of the next
// x tile (16 contiguous values of one block per item, loaded two tiles ahead) as 4-byte pairs
// into the core matrices of the other shared-memory buffer; one barrier a tile. Epilogue: alpha,
// bias, one rounding, stored transposed to out [M, N].
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime_api.h>

#include <cstdint>

#include "sm90/fragment_mm_kernel.cuh"

namespace nvfp4::sm90 {

constexpr int kWgmmaWeightRows = 128;  // two warpgroups of 64
constexpr int kWgmmaBatchRows = 128;   // wgmma n
constexpr int kWgmmaThreads = 256;
// x tile in shared memory: [step 4][K half 2][row group 16][row 8][16 bytes] = 16 KB.
constexpr int kCoreMatrixBytes = 8 * 16;
constexpr int kStepHalfBytes = (kWgmmaBatchRows / 8) * kCoreMatrixBytes;  // 2048: one K half of a step
constexpr int kXTileBytes = kFragmentSteps * 2 * kStepHalfBytes;          // 16384
// Items of the x tile a thread stages: (batch row, block) pairs, 128 x 4 = 512 over 256 threads.
constexpr int kXItemsPerThread = kWgmmaBatchRows * 4 / kWgmmaThreads;

// A wgmma matrix descriptor for a K-major operand without swizzle (PTX ISA "Matrix Descriptor"):
// start address, leading byte offset (between the two K halves of a step) and stride byte offset
// (between 8-row groups), each in 16-byte units.
__device__ __forceinline__ uint64_t kmajor_descriptor(const void* smem, uint32_t leading_bytes, uint32_t stride_bytes) {
  const uint32_t address = static_cast<uint32_t>(__cvta_generic_to_shared(smem));
  return static_cast<uint64_t>((address >> 4) & 0x3FFFu) | (static_cast<uint64_t>((leading_bytes >> 4) & 0x3FFFu) << 16) |
         (static_cast<uint64_t>((stride_bytes >> 4) & 0x3FFFu) << 32);  // base offset 0, layout type 0 (none)
}

__device__ __forceinline__ void wgmma_fence() { asm volatile("wgmma.fence.sync.aligned;\n" ::: "memory"); }
// wgmma reads shared memory through the async proxy: stores of the generic proxy must be fenced
// before the barrier that hands them to it.
__device__ __forceinline__ void fence_stores_for_wgmma() {
  asm volatile("fence.proxy.async.shared::cta;\n" ::: "memory");
}
__device__ __forceinline__ void wgmma_commit() { asm volatile("wgmma.commit_group.sync.aligned;\n" ::: "memory"); }
template <int kPending>
__device__ __forceinline__ void wgmma_wait() {
  asm volatile("wgmma.wait_group.sync.aligned %0;\n" ::"n"(kPending) : "memory");
}

// acc += A (registers, this warp's 16 rows of the warpgroup's 64) * B (descriptor), m64n128k16.
template <typename T>
__device__ __forceinline__ void wgmma_m64n128k16(float (&d)[64], const uint32_t (&a)[4], uint64_t descriptor) {
#define NVFP4_D8(i) "+f"(d[i]), "+f"(d[i + 1]), "+f"(d[i + 2]), "+f"(d[i + 3]), "+f"(d[i + 4]), "+f"(d[i + 5]), \
                    "+f"(d[i + 6]), "+f"(d[i + 7])
// scale-d is a predicate (true: accumulate); A and B unscaled; B K-major (not transposed).
#define NVFP4_WGMMA(TYPE)                                                                                         \
  asm volatile(                                                                                                   \
      "{\n.reg .pred accumulate;\nsetp.ne.b32 accumulate, %69, 0;\n"                                             \
      "wgmma.mma_async.sync.aligned.m64n128k16.f32." TYPE "." TYPE " "                                            \
      "{%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, "                                   \
      "%16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31, "                          \
      "%32, %33, %34, %35, %36, %37, %38, %39, %40, %41, %42, %43, %44, %45, %46, %47, "                          \
      "%48, %49, %50, %51, %52, %53, %54, %55, %56, %57, %58, %59, %60, %61, %62, %63}, "                         \
      "{%64, %65, %66, %67}, %68, accumulate, 1, 1, 0;\n}\n"                                                      \
      : NVFP4_D8(0), NVFP4_D8(8), NVFP4_D8(16), NVFP4_D8(24), NVFP4_D8(32), NVFP4_D8(40), NVFP4_D8(48),           \
        NVFP4_D8(56)                                                                                              \
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "l"(descriptor), "n"(1))
  if constexpr (std::is_same_v<T, __half>) {
    NVFP4_WGMMA("f16");
  } else {
    NVFP4_WGMMA("bf16");
  }
#undef NVFP4_WGMMA
#undef NVFP4_D8
}

// One item of the x tile: batch row `row` (of the CTA's 128), block t of the K tile: its 16
// values as 8 words, word j = columns 2j, 2j + 1 of the block.
struct XItem {
  uint4 low, high;
};

// grid (ceil(padded_n / 128), ceil(m / 128)); kWgmmaThreads threads.
template <typename T>
__global__ void __launch_bounds__(kWgmmaThreads) fragment_wgmma_kernel(FragmentMmParams p, const float* alpha,
                                                                       bool alpha_per_column, const T* bias, T* out,
                                                                       int64_t n) {
  __shared__ __align__(128) uint8_t x_tiles[2][kXTileBytes];
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32, group = lane / 4, thread_in_group = lane % 4;
  const int64_t strip = blockIdx.x * int64_t{kWgmmaWeightRows / kFragmentRows} + warp;
  const bool strip_exists = strip < p.strips;  // a missing strip decodes zero codes, and still takes part
  const int64_t m_base = blockIdx.y * int64_t{kWgmmaBatchRows};
  const T* x = static_cast<const T*>(p.x);
  const MagnitudeTables tables = magnitude_tables<T>();

  // The x items this thread stages: item i -> batch row (threadIdx.x + 256 i) / 4, block % 4.
  const auto load_x = [&](int64_t tile, XItem (&items)[kXItemsPerThread]) {
#pragma unroll
    for (int i = 0; i < kXItemsPerThread; ++i) {
      const int item = threadIdx.x + kWgmmaThreads * i;
      const int64_t row = m_base + item / 4, k0 = tile * kFragmentK + int64_t{kBlockSize} * (item % 4);
      items[i] = {};
      if (row < p.m && k0 < p.k) {
        const uint4* source = reinterpret_cast<const uint4*>(x + row * p.k + k0);
        items[i].low = __ldg(source), items[i].high = __ldg(source + 1);
      }
    }
  };
  // Step s of block t multiplies columns 4s .. 4s + 3 of the block: the first pair goes to the
  // first K half of step s at pair position t (MMA k = 2t, 2t + 1), the second to the second half.
  const auto store_x = [&](const XItem (&items)[kXItemsPerThread], uint8_t* x_tile) {
#pragma unroll
    for (int i = 0; i < kXItemsPerThread; ++i) {
      const int item = threadIdx.x + kWgmmaThreads * i, row = item / 4, block = item % 4;
      const uint32_t words[8] = {items[i].low.x,  items[i].low.y,  items[i].low.z,  items[i].low.w,
                                 items[i].high.x, items[i].high.y, items[i].high.z, items[i].high.w};
      uint8_t* row_base = x_tile + (row / 8) * kCoreMatrixBytes + (row % 8) * 16 + 4 * block;
#pragma unroll
      for (int step = 0; step < kFragmentSteps; ++step) {
#pragma unroll
        for (int half = 0; half < 2; ++half) {
          *reinterpret_cast<uint32_t*>(row_base + (2 * step + half) * kStepHalfBytes) = words[2 * step + half];
        }
      }
    }
  };

  float acc[64] = {};
  uint32_t a[2][4];
  const int64_t tiles = p.k_tiles;
  const uint4* codes = p.codes + strip * p.k_tiles * 32 + lane;
  const uint16_t* scales = p.scales + strip * p.k_tiles * 32 + lane;
  // Two x buffers: tile i multiplies from buffer i % 2 while tile i + 1 is stored into the other,
  // so the stores overlap the asynchronous wgmmas and one barrier a tile suffices.
  XItem next_x[kXItemsPerThread];
  load_x(0, next_x);
  store_x(next_x, x_tiles[0]);
  if (tiles > 1) load_x(1, next_x);
  fence_stores_for_wgmma();
  __syncthreads();
  uint4 next_codes = strip_exists ? __ldg(codes) : make_uint4(0, 0, 0, 0);
  uint32_t next_scales = strip_exists ? __ldg(scales) : 0u;
  for (int64_t tile = 0; tile < tiles; ++tile) {
    const uint4 tile_codes = next_codes;
    const uint32_t tile_scales = next_scales;
    if (tile + 1 < tiles && strip_exists) {
      next_codes = __ldg(codes + 32 * (tile + 1)), next_scales = __ldg(scales + 32 * (tile + 1));
    }
    const uint8_t* x_tile = x_tiles[tile % 2];
    Pair<T> scale[2];
    scale_pairs<T>(tile_scales, scale);
    const uint32_t step_codes[kFragmentSteps] = {tile_codes.x, tile_codes.y, tile_codes.z, tile_codes.w};
#pragma unroll
    for (int step = 0; step < kFragmentSteps; ++step) {
      decode_step<T>(step_codes[step], tables, scale, a[step % 2]);
      wgmma_fence();
      wgmma_m64n128k16<T>(acc, a[step % 2], kmajor_descriptor(x_tile + 2 * step * kStepHalfBytes, kStepHalfBytes,
                                                               kCoreMatrixBytes));
      wgmma_commit();
      wgmma_wait<1>();  // the previous step is done: its A registers are free for the next one
    }
    if (tile + 1 < tiles) {  // buffer (tile + 1) % 2 was last read by tile - 1, finished below
      store_x(next_x, x_tiles[(tile + 1) % 2]);
      if (tile + 2 < tiles) load_x(tile + 2, next_x);
      fence_stores_for_wgmma();
    }
    wgmma_wait<0>();  // this tile's reads of its buffer are done before the next tile overwrites it
    __syncthreads();
  }

  // Accumulators: for batch columns 8j + 2t (+1), d[4j], d[4j + 1] at weight row g of this warp's
  // strip, d[4j + 2], d[4j + 3] at row g + 8.
#pragma unroll
  for (int j = 0; j < kWgmmaBatchRows / 8; ++j) {
#pragma unroll
    for (int c = 0; c < 4; ++c) {
      const int64_t row = m_base + 8 * j + 2 * thread_in_group + c % 2;
      const int64_t column = strip * kFragmentRows + group + 8 * (c / 2);
      if (row < p.m && column < n) {
        float value = alpha[alpha_per_column ? column : 0] * acc[4 * j + c];
        if (bias != nullptr) value += cuda::to_float(bias[column]);
        out[row * n + column] = cuda::from_float<T>(value);
      }
    }
  }
}

// Launches the wgmma kernel on `stream` (no workspace); returns the launch status.
template <typename T>
cudaError_t launch_fragment_wgmma(const FragmentMmParams& params, const float* alpha, bool alpha_per_column,
                                  const T* bias, T* out, int64_t n, cudaStream_t stream) {
  const dim3 grid(static_cast<unsigned>((params.padded_n + kWgmmaWeightRows - 1) / kWgmmaWeightRows),
                  static_cast<unsigned>((params.m + kWgmmaBatchRows - 1) / kWgmmaBatchRows));
  fragment_wgmma_kernel<T><<<grid, kWgmmaThreads, 0, stream>>>(params, alpha, alpha_per_column, bias, out, n);
  return cudaGetLastError();
}

}  // namespace nvfp4::sm90
