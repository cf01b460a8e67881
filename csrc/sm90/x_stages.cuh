// The ring of x stages of the wgmma kernel (fragment_wgmma_kernel.cuh) and the two producers that
// fill it (torch-free): the CTA's threads (the consumer warpgroups, then the producer), the
// stages' layout, the barriers that hand a stage over, and the producers.
//
// - For 128- and 256-row batch tiles the producer is one warp that has TMA copy each 64-wide K
//   tile from x in step order (x_step_order_kernel.cuh): one instruction a tile, rows past M
//   zeros in that copy of x, up to a whole batch tile (x_steps_rows).
// - For 64-row tiles it is a warpgroup that orders x itself, storing it in step order (4-byte
//   stores), from a staging ring that TMA fills in x's own order: an ordering pass before the
//   multiply costs at M = 64 about what it gains (benchmarks/NOTES.md, v28), and the staging ring
//   takes the latency of x's loads off the producer's path (v34).
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
#include "sm90/tma_copy.cuh"

namespace nvfp4::sm90 {

// Consumer warpgroups a CTA, 64 weight rows (output columns) each. The 64-row batch tile runs four
// (v34), which thus read each x tile once for 256 weight rows, or kWideWarpgroups where those fill
// the multiprocessors better (the planner chooses: 28672 weight rows make 112 CTAs of four on 132
// multiprocessors, or 64 of seven in two K splits, 128); the other tiles two.
constexpr int kWarpgroupWeightRows = 64;
constexpr int consumer_warpgroups(int batch_rows) { return batch_rows == 64 ? 4 : 2; }
// With its producer warpgroup 1024 threads, the most a CTA may have: 64 registers a thread, which
// the 64-row tile's consumers fit without spilling (74 at four warpgroups), though ptxas then
// serializes their wgmmas (its warning C7512); the figures of the planner's costs were measured so.
constexpr int kWideWarpgroups = 7;
template <int kWarpgroups>
constexpr int kConsumerThreads = 128 * kWarpgroups;
constexpr int kXStages = 4;

// Which producer a batch tile uses (TMA from x in step order for 128 and 256 rows: the planner
// asks too), and the CTA's threads with it.
constexpr bool x_by_tma(int batch_rows) { return batch_rows >= 128; }
template <int kBatchRows>
constexpr bool kXByTma = x_by_tma(kBatchRows);
// The rows of x in step order (x_step_order_kernel.cuh) that the TMA producer's tensor map
// declares: whole batch tiles, those past m zeros, so that no box reaches past them. Boxes that
// did (the last batch tile where m is not a multiple of it) made the call 14-37% slower at M=320,
// whose second 256-row tile holds 64 rows of x (benchmarks/NOTES.md, row 39).
inline int64_t x_steps_rows(int64_t m, int batch_rows) { return round_up(m, int64_t{batch_rows}); }
// The staging producer's warps (the TMA producer is one warp).
constexpr int kProducerWarps = 4;
// One CTA of any batch tile runs on a multiprocessor at a time (H100, %smid stamps of every CTA:
// benchmarks/NOTES.md, the rows after row 38): the 64- and 256-row tiles by their registers and
// shared memory, the 128-row tile (108 registers, 288 threads, 86 KB) by its schedulers' register
// files: a multiprocessor's 64K registers are four files of 16K, one a scheduler, and two CTAs of
// nine warps would put five warps (17920 registers) on one of them. An eight-warp 128-row CTA (the
// TMA copies issued by a consumer thread) ran two a multiprocessor and was no faster.
template <int kBatchRows, int kWarpgroups>
constexpr int kWgmmaThreads = kConsumerThreads<kWarpgroups> + 32 * (kXByTma<kBatchRows> ? 1 : kProducerWarps);

// The stages lead the kernel's dynamic shared memory (1024-byte aligned, as the 128-byte swizzle
// repeats every 8 rows); the stages' full mbarriers (used with TMA) follow them.
template <int kBatchRows>
constexpr int kXStageBytes = kBatchRows * kXRowBytes;
template <int kBatchRows>
constexpr int kXRingBytes = kXStages * kXStageBytes<kBatchRows> + 8 * kXStages;

// Named barriers (0 is __syncthreads'): stage s's full barrier of the staging producer at 1 + s,
// its empty barrier at 1 + kXStages + s; kThreads take part in each.
__device__ __forceinline__ int full_barrier(int stage) { return 1 + stage; }
__device__ __forceinline__ int empty_barrier(int stage) { return 1 + kXStages + stage; }
// The epilogue's output tile in shared memory (fragment_wgmma_kernel.cuh's store_through_shared).
constexpr int kOutputBarrier = 1 + 2 * kXStages;
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

// The staging ring of produce_x_through_staging: kXStagingSlots tiles of x as TMA copies them
// (natural column order, 128-byte swizzle; tma_copy.cuh), then a full mbarrier a slot (the copy
// completes it) and an empty one (each producer warp arrives once it has read the slot; thread 0
// waits on it before refilling the slot). Only thread 0 waits; the other producer threads go on
// to their stage stores. In place of the empty mbarriers, a named barrier of all 128 producer
// threads (v34) was 1-2% slower and made compute-sanitizer's racecheck report write-write hazards
// between the stages' stores and the output tile (benchmarks/NOTES.md, row 35).
constexpr int kXStagingSlots = 4;
template <int kBatchRows>
constexpr int kXStagingFullOffset = kXStagingSlots * kXStageBytes<kBatchRows>;  // the slots, then their mbarriers
template <int kBatchRows>
constexpr int kXStagingEmptyOffset = kXStagingFullOffset<kBatchRows> + 8 * kXStagingSlots;
template <int kBatchRows>
constexpr int kXStagingBytes = kXStagingEmptyOffset<kBatchRows> + 8 * kXStagingSlots;

// The producer warpgroup of the 64-row tile: TMA copies each x tile of the CTA's K range into a
// staging slot kXStagingSlots tiles ahead; each producer thread reads 16-byte chunks of the tile
// from there (column 8q of rows first_row + 16j, q = lane % 8) and stores their four pairs in step
// order into the stage (a warp instruction covers four rows, whose chunks c ^ (r % 8) and bytes
// 4 (q / 2) fall in 32 different banks). Rows past m and columns past K arrive as zeros.
template <int kBatchRows, int kWarpgroups>
__device__ __forceinline__ void produce_x_through_staging(const CUtensorMap& x_map, int64_t m_base,
                                                          int64_t tile_begin, int tiles, uint32_t stages_address,
                                                          uint32_t staging_address) {
  constexpr int kLoads = kBatchRows / 16;  // 16-byte chunks a thread and tile
  constexpr int kSlotBytes = kXStageBytes<kBatchRows>;
  static_assert(!kXByTma<kBatchRows>, "a producer warpgroup with a staging ring");
  const uint32_t staging_full = staging_address + kXStagingFullOffset<kBatchRows>;
  const uint32_t staging_empty = staging_address + kXStagingEmptyOffset<kBatchRows>;
  const int producer_thread = threadIdx.x - kConsumerThreads<kWarpgroups>;
  const int warp = producer_thread / 32, lane = producer_thread % 32, q = lane % 8;
  // This thread's rows: first_row + 16 j, all with the same row % 8, hence the same four chunks.
  const int first_row = 4 * warp + lane / 8;
  uint32_t pair_offsets[4];  // pair 4q + w of the row, in step order and swizzled
#pragma unroll
  for (int w = 0; w < 4; ++w) {
    const int pair = 4 * q + w;
    pair_offsets[w] = swizzled_chunk_offset(first_row, step_order_chunk(pair)) + 4 * step_order_word(pair);
  }
  const auto copy = [&](int i) {  // tile i into its slot, once the slot's previous tile has been read
    if (producer_thread != 0 || i >= tiles) return;
    const int slot = i % kXStagingSlots;
    if (i >= kXStagingSlots) mbarrier_wait(staging_empty + 8 * slot, (i / kXStagingSlots - 1) % 2);
    const uint32_t full = staging_full + 8 * slot;
    mbarrier_arrive_expect(full, kSlotBytes);
    copy_x_tile(x_map, staging_address + slot * kSlotBytes, full, static_cast<int32_t>((tile_begin + i) * kFragmentK),
                static_cast<int32_t>(m_base));
  };
  for (int i = 0; i < kXStagingSlots; ++i) copy(i);
  for (int i = 0; i < tiles; ++i) {
    const int slot = i % kXStagingSlots;
    mbarrier_wait(staging_full + 8 * slot, (i / kXStagingSlots) % 2);
    const uint32_t slot_address = staging_address + slot * kSlotBytes;
    uint4 values[kLoads];
#pragma unroll
    for (int j = 0; j < kLoads; ++j) {
      asm volatile("ld.shared.v4.u32 {%0, %1, %2, %3}, [%4];\n"
                   : "=r"(values[j].x), "=r"(values[j].y), "=r"(values[j].z), "=r"(values[j].w)
                   : "r"(slot_address + swizzled_chunk_offset(first_row + 16 * j, q))
                   : "memory");
    }
    __syncwarp();
    if (lane == 0) mbarrier_arrive(staging_empty + 8 * slot);  // this warp has read the slot
    copy(i + kXStagingSlots);
    const int stage = i % kXStages;
    if (i >= kXStages) barrier_sync<kWgmmaThreads<kBatchRows, kWarpgroups>>(empty_barrier(stage));
    const uint32_t stage_address = stages_address + stage * uint32_t{kSlotBytes};
#pragma unroll
    for (int j = 0; j < kLoads; ++j) {
      const uint32_t words[4] = {values[j].x, values[j].y, values[j].z, values[j].w};
#pragma unroll
      for (int w = 0; w < 4; ++w) {
        asm volatile("st.shared.u32 [%0], %1;\n" ::"r"(stage_address + pair_offsets[w] + 16 * j * kXRowBytes),
                     "r"(words[w])
                     : "memory");
      }
    }
    fence_for_async_proxy();
    barrier_arrive<kWgmmaThreads<kBatchRows, kWarpgroups>>(full_barrier(stage));
  }
}

// The TMA producer warp: one copy a tile, issued by lane 0 once the consumers have freed the stage.
template <int kBatchRows, int kWarpgroups>
__device__ __forceinline__ void produce_x_by_tma(const CUtensorMap& x_map, int64_t m_base, int64_t tile_begin,
                                                 int tiles, uint32_t stages_address, uint32_t full_barriers) {
  static_assert(kXByTma<kBatchRows>, "a producer warp");
  const bool leader = threadIdx.x % 32 == 0;
  for (int i = 0; i < tiles; ++i) {
    const int stage = i % kXStages;
    if (i >= kXStages) barrier_sync<kWgmmaThreads<kBatchRows, kWarpgroups>>(empty_barrier(stage));
    if (leader) {
      const uint32_t full = full_barriers + 8 * stage;
      mbarrier_arrive_expect(full, kXStageBytes<kBatchRows>);
      copy_x_tile(x_map, stages_address + stage * kXStageBytes<kBatchRows>, full,
                  static_cast<int32_t>((tile_begin + i) * kFragmentK), static_cast<int32_t>(m_base));
    }
  }
}

}  // namespace nvfp4::sm90
