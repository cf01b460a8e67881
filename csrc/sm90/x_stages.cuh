// The ring of x stages of the wgmma kernel (fragment_wgmma_kernel.cuh) and the two producers that
// fill it (torch-free): the CTA's threads (two consumer warpgroups, then the producer), the
// stages' layout, the barriers that hand a stage over, and the producers.
//
// - For 128- and 256-row batch tiles the producer is one warp that has TMA copy each 64-wide K
//   tile from x in step order (x_step_order_kernel.cuh): one instruction a tile, rows past M
//   filled with zeros by the copy. Its few threads let two 128-row CTAs share a multiprocessor.
// - For 64-row tiles it is a warpgroup that loads x itself (16-byte loads, 4-byte stores in step
//   order): with TMA three 64-row CTAs fit a multiprocessor, but at M = 64 the ordering pass costs
//   about what they gain, and fewer than three run slower (benchmarks/NOTES.md, v28).
//
// A stage holds the x tile as wgmma's K-major operand B with the 128-byte swizzle: batch row r at
// r * 128 bytes, its 16-byte chunk c at (c ^ (r % 8)) * 16. In step order, step s's 16 values are
// the 32 bytes a descriptor starting 32s bytes into the stage reads.
//
// Hand-over: "full" is, with TMA, an mbarrier per stage that the copy completes (expect-tx bytes),
// else a named barrier on which the producer arrives once its stores are fenced for the async
// proxy; "empty" a named barrier per stage on which the consumers arrive once the wgmmas that read
// it are done and which the producer syncs on before refilling it.
#pragma once

#include <cuda.h>  // CUtensorMap

#include <cstdint>

#include "nvfp4/fragment_layout.h"
#include "sm90/fragment_mm_kernel.cuh"  // FragmentMmParams
#include "sm90/tma_copy.cuh"

namespace nvfp4::sm90 {

constexpr int kConsumerWarpgroups = 2;
constexpr int kWgmmaWeightRows = 64 * kConsumerWarpgroups;  // 128
constexpr int kConsumerThreads = 128 * kConsumerWarpgroups;  // 256
constexpr int kXStages = 4;

// Which producer a batch tile uses (TMA from x in step order for 128 and 256 rows: the planner
// asks too), and the CTA's threads with it.
constexpr bool x_by_tma(int batch_rows) { return batch_rows >= 128; }
// CTAs of a batch tile a multiprocessor holds (registers and shared memory, as ptxas allocates
// them): two of the 64-row tile (74 registers, 384 threads) and of the 128-row one (108 registers,
// 288 threads, 86 KB). Not forced by __launch_bounds__: asking for two 128-row CTAs made ptxas
// cap the registers at 96 and serialize the wgmmas.
constexpr int wgmma_ctas_per_multiprocessor(int batch_rows) { return batch_rows == 256 ? 1 : 2; }
template <int kBatchRows>
constexpr bool kXByTma = x_by_tma(kBatchRows);
template <int kBatchRows>
constexpr int kWgmmaThreads = kConsumerThreads + (kXByTma<kBatchRows> ? 32 : 128);

// The stages lead the kernel's dynamic shared memory (1024-byte aligned, as the 128-byte swizzle
// repeats every 8 rows); the stages' full mbarriers (used with TMA) follow them.
template <int kBatchRows>
constexpr int kXStageBytes = kBatchRows * kXRowBytes;
template <int kBatchRows>
constexpr int kXRingBytes = kXStages * kXStageBytes<kBatchRows> + 8 * kXStages;

// Named barriers (0 is __syncthreads'): stage s's full barrier of the loading producer at 1 + s,
// its empty barrier at 1 + kXStages + s; kThreads take part in each.
__device__ __forceinline__ int full_barrier(int stage) { return 1 + stage; }
__device__ __forceinline__ int empty_barrier(int stage) { return 1 + kXStages + stage; }
template <int kThreads>
__device__ __forceinline__ void barrier_sync(int id) {
  asm volatile("bar.sync %0, %1;\n" ::"r"(id), "n"(kThreads) : "memory");
}
template <int kThreads>
__device__ __forceinline__ void barrier_arrive(int id) {
  asm volatile("bar.arrive %0, %1;\n" ::"r"(id), "n"(kThreads) : "memory");
}

// wgmma reads shared memory through the async proxy: stores of the generic proxy must be fenced
// before the barrier that hands them to it.
__device__ __forceinline__ void fence_for_async_proxy() {
  asm volatile("fence.proxy.async.shared::cta;\n" ::: "memory");
}

// The producer warpgroup: copies the x tiles of this CTA's K range into the stages. Each lane
// loads 16 bytes of a row (8 values: columns 8q .. 8q + 7, q = lane % 8, pairs 4q .. 4q + 3) and
// stores its four pairs; a warp instruction covers four rows. The four rows' chunks c ^ (r % 8)
// and bytes 4 (q / 2) fall in 32 different banks. Loads run two tiles ahead of the stores, in two
// register sets.
template <int kBatchRows>
struct XRegisters {
  static constexpr int kLoads = kBatchRows / 16;  // 16-byte loads a thread and tile
  uint4 values[kLoads];
};

// 16 bytes from global memory, or zeros where `valid` is false (nothing is read then): a
// predicated load rather than a branch, to keep the producer's loop short.
__device__ __forceinline__ uint4 load_or_zero(const void* source, bool valid) {
  uint4 v;
  asm(
      "{\n.reg .pred p;\nsetp.ne.b32 p, %5, 0;\n"
      "mov.b32 %0, 0;\nmov.b32 %1, 0;\nmov.b32 %2, 0;\nmov.b32 %3, 0;\n"
      "@p ld.global.nc.v4.u32 {%0, %1, %2, %3}, [%4];\n}\n"
      : "=r"(v.x), "=r"(v.y), "=r"(v.z), "=r"(v.w)
      : "l"(source), "r"(static_cast<int>(valid)));
  return v;
}

template <int kBatchRows>
__device__ __forceinline__ void produce_x_by_loads(const FragmentMmParams& p, int64_t m_base, int64_t tile_begin,
                                                   int64_t tiles, uint32_t stages_address) {
  constexpr int kLoads = XRegisters<kBatchRows>::kLoads;
  static_assert(!kXByTma<kBatchRows>, "a producer warpgroup");
  const int producer_thread = threadIdx.x - kConsumerThreads;
  const int warp = producer_thread / 32, lane = producer_thread % 32, q = lane % 8;
  // This thread's rows: first_row + 16 j, all with the same row % 8, hence the same four chunks.
  const int first_row = 4 * warp + lane / 8;
  const int64_t rows_left = p.m - m_base - first_row;  // rows first_row + 16 j exist for j < rows_left / 16
  const int64_t row_groups_left = rows_left <= 0 ? 0 : (rows_left + 15) / 16;
  const int valid_rows = static_cast<int>(row_groups_left < kLoads ? row_groups_left : kLoads);
  const int64_t row_bytes = 2 * p.k, load_stride = 16 * row_bytes;
  const uint8_t* thread_x = static_cast<const uint8_t*>(p.x) + (m_base + first_row) * row_bytes + 16 * q;
  uint32_t pair_offsets[4];  // pair 4q + w of the row, in step order and swizzled
#pragma unroll
  for (int w = 0; w < 4; ++w) {
    const int pair = 4 * q + w;
    pair_offsets[w] = swizzled_chunk_offset(first_row, step_order_chunk(pair)) + 4 * step_order_word(pair);
  }

  const auto load = [&](int64_t i, XRegisters<kBatchRows>& registers) {
    const int64_t tile = tile_begin + i;
    // K is a multiple of 8: a load is wholly inside K or wholly past it.
    const int tile_rows = tile * kFragmentK + 8 * q < p.k ? valid_rows : 0;
    const uint8_t* source = thread_x + tile * kXRowBytes;
#pragma unroll
    for (int j = 0; j < kLoads; ++j) {  // rows past m and columns past K multiply as zeros
      registers.values[j] = load_or_zero(source + j * load_stride, j < tile_rows);
    }
  };
  const auto store = [&](int64_t i, const XRegisters<kBatchRows>& registers) {
    const int stage = static_cast<int>(i % kXStages);
    if (i >= kXStages) barrier_sync<kWgmmaThreads<kBatchRows>>(empty_barrier(stage));
    const uint32_t stage_address = stages_address + stage * uint32_t{kBatchRows * kXRowBytes};
#pragma unroll
    for (int j = 0; j < kLoads; ++j) {
      const uint32_t words[4] = {registers.values[j].x, registers.values[j].y, registers.values[j].z,
                                 registers.values[j].w};
#pragma unroll
      for (int w = 0; w < 4; ++w) {
        asm volatile("st.shared.u32 [%0], %1;\n" ::"r"(stage_address + pair_offsets[w] + 16 * j * kXRowBytes),
                     "r"(words[w])
                     : "memory");
      }
    }
    fence_for_async_proxy();
    barrier_arrive<kWgmmaThreads<kBatchRows>>(full_barrier(stage));
  };

  XRegisters<kBatchRows> even, odd;
  if (tiles > 0) load(0, even);
  if (tiles > 1) load(1, odd);
  for (int64_t i = 0; i < tiles; i += 2) {
    store(i, even);
    if (i + 2 < tiles) load(i + 2, even);
    if (i + 1 < tiles) {
      store(i + 1, odd);
      if (i + 3 < tiles) load(i + 3, odd);
    }
  }
}

// The TMA producer warp: one copy a tile, issued by lane 0 once the consumers have freed the stage.
template <int kBatchRows>
__device__ __forceinline__ void produce_x_by_tma(const CUtensorMap& x_map, int64_t m_base, int64_t tile_begin,
                                                 int tiles, uint32_t stages_address, uint32_t full_barriers) {
  static_assert(kXByTma<kBatchRows>, "a producer warp");
  const bool leader = threadIdx.x % 32 == 0;
  for (int i = 0; i < tiles; ++i) {
    const int stage = i % kXStages;
    if (i >= kXStages) barrier_sync<kWgmmaThreads<kBatchRows>>(empty_barrier(stage));
    if (leader) {
      const uint32_t full = full_barriers + 8 * stage;
      mbarrier_arrive_expect(full, kXStageBytes<kBatchRows>);
      copy_x_tile(x_map, stages_address + stage * kXStageBytes<kBatchRows>, full,
                  static_cast<int32_t>((tile_begin + i) * kFragmentK), static_cast<int32_t>(m_base));
    }
  }
}

}  // namespace nvfp4::sm90
