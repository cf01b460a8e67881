// x in step order (torch-free): the copy of x the wgmma kernel's TMA reads. The fragment layout
// (fragment_layout.h) has step s of a 64-wide K tile multiply, at MMA k = 2t + c and 8 + 2t + c
// (c = 0, 1), the tile's columns 16t + 4s + c and 16t + 4s + 2 + c: each lane's codes of a tile
// come from one block and share its scale. wgmma reads its B operand with MMA k in order, so this
// kernel writes each tile of x with its columns in that order: position 16s + 8h + 2t + c holds
// column 16t + 4s + 2h + c. Counted in 4-byte pairs, the 16-byte chunk q = 2s + h of a tile holds
// the pairs q, q + 8, q + 16, q + 24. Columns past K are written as zeros up to the last whole
// tile, and rows past m up to `rows` (whole batch tiles: x_stages.cuh's x_steps_rows), so the
// GEMM reads x_steps [rows, k_tiles * 64] without bounds.
#pragma once

#include <cuda_runtime_api.h>

#include <algorithm>
#include <cstdint>

#include "cuda/dependent_launch.cuh"
#include "nvfp4/fragment_layout.h"
#include "sm90/tma_copy.cuh"  // kXRowChunks

namespace nvfp4::sm90 {

// One thread per 16-byte chunk of x_steps [rows, k_tiles * 64]; grid-stride. x: [m, k] 16-bit,
// 4-byte aligned; rows >= m.
__global__ void x_step_order_kernel(const uint32_t* __restrict__ x, int64_t m, int64_t rows, int64_t k,
                                    int64_t k_tiles, uint4* __restrict__ x_steps) {
  cuda::wait_for_prior_grids();   // x may come from the kernel before this one
  cuda::allow_dependent_grids();  // the multiply may start loading its weight while x is ordered
  const int64_t row_pairs = k / 2, chunks = rows * k_tiles * kXRowChunks;
  for (int64_t index = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; index < chunks;
       index += int64_t{gridDim.x} * blockDim.x) {
    const int64_t row = index / (k_tiles * kXRowChunks), chunk = index % (k_tiles * kXRowChunks);
    const int64_t tile_pair = chunk / kXRowChunks * (kFragmentK / 2);
    const uint32_t* source = x + row * row_pairs;
    const int64_t pairs_in_row = row < m ? row_pairs : 0;  // rows past m are written as zeros
    uint32_t words[4];
#pragma unroll
    for (int t = 0; t < 4; ++t) {
      const int64_t pair = tile_pair + step_order_pair(static_cast<int>(chunk % kXRowChunks), t);
      words[t] = pair < pairs_in_row ? __ldg(source + pair) : 0u;
    }
    x_steps[index] = make_uint4(words[0], words[1], words[2], words[3]);
  }
}

inline cudaError_t launch_x_step_order(const void* x, int64_t m, int64_t rows, int64_t k, int64_t k_tiles,
                                       void* x_steps, int multiprocessors, cudaStream_t stream) {
  constexpr int kThreads = 256;
  const int64_t chunks = rows * k_tiles * kXRowChunks;
  if (chunks == 0) return cudaSuccess;
  const int64_t blocks = std::min<int64_t>((chunks + kThreads - 1) / kThreads, int64_t{16} * multiprocessors);
  return cuda::launch_dependent(x_step_order_kernel, dim3(static_cast<unsigned>(blocks)), dim3(kThreads), 0, stream,
                                static_cast<const uint32_t*>(x), m, rows, k, k_tiles, static_cast<uint4*>(x_steps));
}

}  // namespace nvfp4::sm90
