// How a call of the Hopper GEMM is cut up (torch-free, host code): which kernel, batch tile, K
// splits (for the whole call or for a tail of its last wave) and source of x, from the shape and
// the multiprocessor count. Each choice carries the
// H100 measurements behind it; tests/cpp/test_gemm_plan.cu checks the plans over a grid of shapes.
// fragment_gemm.cuh launches a plan.
#pragma once

#include <algorithm>
#include <cstdint>
#include <utility>

#include "sm90/fragment_mm_kernel.cuh"  // the split-K kernel's facts: XSource, split sums, x ring
#include "sm90/x_stages.cuh"            // the wgmma kernel's: weight rows a CTA, x by TMA

namespace nvfp4::sm90 {

// Batches up to this many rows take the split-K mma.sync kernel (memory-bound decode); larger
// ones the wgmma kernel, whose tensor-core work per decoded weight grows with the batch tile.
constexpr int64_t kMaxMmaSyncBatch = 16;

// How one call is cut up.
struct FragmentMmPlan {
  int batch_rows;            // wgmma: batch rows per CTA (64, 128 or 256); 0: the split-K mma.sync kernel
  int warpgroups;            // wgmma: consumer warpgroups a CTA, 64 weight rows each (x_stages.cuh)
  int n_tiles;               // mma.sync: batch columns per warp / 8: 1 or 2
  int tile_group;            // mma.sync: tiles a warp loads ahead, 2 or 4
  XSource x_source;          // mma.sync: where the kernel reads x's operands
  int x_shared_bytes;        // mma.sync: the kernel's dynamic shared memory for x
  int64_t m_blocks;          // grid z
  int64_t strip_blocks;      // grid x
  int64_t splits;            // grid y
  int64_t tiles_per_split;   // K tiles of one split
  // wgmma without a K split whose CTAs fill whole waves and part of one more: the last
  // tail_strip_blocks of the strip_blocks run as a second launch with their K split tail_splits
  // ways (tail_tiles_per_split tiles each), in one wave; 0 where the whole call is one launch.
  int64_t tail_strip_blocks;
  int64_t tail_splits;
  int64_t tail_tiles_per_split;
  int64_t x_steps_bytes;     // wgmma reading x by TMA: x in step order, [x_steps_rows(m, batch_rows),
                             // k_tiles * 64] 16-bit values
  int64_t chunks;            // wgmma reading x by TMA: pieces of M, each one's ordering overlapping the
                             // previous one's multiply (1: no overlap)
  int64_t partial_floats;    // the partial sums [splits, m, padded_n] that fragment_mm_epilogue_kernel
                             // adds up: wgmma with splits > 1, and with a tail the tail's [tail_splits,
                             // m, its padded columns]; split-K where split_sums_by_kernel; 0 otherwise
};

// The workspace of a call: x in step order, then (256-byte aligned) the partial sums.
inline int64_t partial_sums_offset(const FragmentMmPlan& plan) { return round_up(plan.x_steps_bytes, int64_t{256}); }
inline int64_t workspace_bytes(const FragmentMmPlan& plan) {
  return partial_sums_offset(plan) + plan.partial_floats * int64_t{sizeof(float)};
}

// Whether the kernel rounds x to NVFP4 itself (W4A4, launch_fragment_mm's x_global_scale) rather
// than nvfp4_qdq running first: the split-K kernel where it copies x whole into shared memory, for
// one batch row. Every CTA rounds its copy, so the whole grid rounds each block of x once for
// every 64 weight rows: at one row that is cheaper than a kernel before the GEMM, beyond it not.
// H100, W4A4 over W4A16 (bench_gemm, both on cuBLAS BF16), qdq first -> rounded in the kernel:
// M = 1 6144 x 4096 0.83 -> 0.87, 8192 x 8192 0.89 -> 0.89; M = 4 in the kernel 0.75-0.79 on
// three shapes, M = 8 6144 x 4096 0.63, where qdq first costs about what it does at M = 1.
// Elsewhere x reaches the MMAs tile by tile and a CTA would round it once for every warp.
constexpr int64_t kMaxRoundedRows = 1;
inline bool rounds_x(const FragmentMmPlan& plan, int64_t m) {
  return plan.batch_rows == 0 && plan.x_source == XSource::kShared && m <= kMaxRoundedRows;
}

// Smallest K range a split gets, in tiles of 64: below it the partial sums cost more than the
// parallelism gains.
constexpr int64_t kMinTilesPerSplit = 4;
// Most splits the split-K kernel takes for 8 (16) batch rows a warp; its splits of a tile meet in
// one cluster, at most kMaxClusterSplits. Swept over 2 .. 8 on an H100 (M = 1 and 16, the four
// benchmark shapes): no count was best everywhere and neighbouring counts differed by up to 40%.
// At M = 1, 5 was never more than 16% off the best, 8 up to 32% (8192 x 8192: 23.6 us against
// 17.8 at 7 and 18.0 at 5); at M = 16, 6 was best on three shapes (8192 x 28672: 68.8 us, 78.3 at
// 5, 88.0 at 8) and 4% behind 5 on the fourth.
constexpr int64_t max_split_k_splits(int n_tiles) { return n_tiles == 1 ? 5 : 6; }
static_assert(max_split_k_splits(1) <= kMaxClusterSplits && max_split_k_splits(2) <= kMaxClusterSplits,
              "a split-K tile's splits form one cluster");
// Tiles of a split from which the split-K kernel loads four tiles ahead rather than two.
constexpr int64_t kLongSplitTiles = 32;
// Warps the mma.sync grid aims to keep resident per multiprocessor, for enough loads in flight.
constexpr int64_t kTargetWarpsPerMultiprocessor = 32;
// With 16 batch rows a warp the split-K kernel waits on its loads more than it streams, and a
// partly filled second wave of CTAs costs nearly a whole one, so it takes the most splits whose
// CTAs fit one wave. H100, M = 16, 28672 x 8192 (448 CTAs a split): 2 splits 65.5 us (0.97
// waves), 3 77.8 (1.45), 4 81.0, 5 76.0, 6 79.5; 8192 x 8192 (128 a split): 6 splits 23.4 us, 8
// (1.1 waves) 27.0.
constexpr int64_t kSixteenRowCtasPerMultiprocessor = split_k_ctas_per_multiprocessor(2, 2);
// x in shared memory (the split-K kernel's XSource::kShared) with 8 batch rows a warp, where it
// fits beside as many CTAs as the registers allow: a multiprocessor's 228 KB, less the 1 KB the
// system keeps a CTA, the CTA's split sums and the table that W4A4 rounding puts after x. At 1-4
// batch rows the MMAs of a tile are too few to hide x's loads from L2 (H100, x in shared vs
// global memory, M = 1 / 4: 8192 x 8192 17.0 / 17.8 vs 17.8 / 20.5 us, 28672 x 8192 50.6 / 52.7
// vs 56.8 / 64.7, 6144 x 4096 8.8 / 8.9 vs 9.3 / 9.5); at 8 rows it is even (6144 x 4096: 9.6
// both), and with 16 rows a warp the copy before the first MMA costs more than it saves (6144 x
// 4096, M = 16: 12.2 vs 10.4 us), so that kernel does not copy x whole.
constexpr int64_t kSharedBytesPerMultiprocessor = 228 * 1024;
constexpr int64_t max_x_shared_bytes(int tile_group) {
  return kSharedBytesPerMultiprocessor / split_k_ctas_per_multiprocessor(1, tile_group) - 1024 -
         split_sums_bytes(1) - kXRoundingTableBytes;
}
static_assert(max_x_shared_bytes(2) <= 48 * 1024 && max_x_shared_bytes(4) <= 48 * 1024,
              "no opt-in to more than 48 KB of dynamic shared memory");
// Elsewhere x goes through a ring of tiles that TMA fills (XSource::kRing) where a split is long
// enough to pay for filling it: H100, ring vs x from global memory, us, at 13 tiles a split 6144 x
// 4096 M = 8 10.2 vs 9.6; at 22, 8192 x 8192 M = 16 23.2 vs 23.4; at 26, 8192 x 8192 M = 8 19.7
// vs 22.5; at 43, 28672 x 8192 M = 8 58.1 vs 68.7; at 64, 28672 x 8192 M = 16 56.5 vs 65.7; at 90,
// 8192 x 28672 M = 4 56.8 vs 64.9. (Where x fits, the copy beats the ring: M = 1, 8.8 vs 10.2 us
// on 6144 x 4096, 50.7 vs 57.6 on 28672 x 8192.)
constexpr int64_t kXRingMinTiles = 20;
static_assert(x_ring_bytes(1) + split_sums_bytes(1) + 1024 <=
                      kSharedBytesPerMultiprocessor / split_k_ctas_per_multiprocessor(1, 2) &&
                  x_ring_bytes(2) + split_sums_bytes(2) + 1024 <=
                      kSharedBytesPerMultiprocessor / split_k_ctas_per_multiprocessor(2, 2),
              "the ring fits beside as many CTAs as the registers allow");

// Whether the split-K kernel's splits leave their sums to the second kernel instead of adding them
// up in a cluster: where x goes through the ring of tiles (kRing), and where the CTAs fill more
// than three quarters of a wave. Clusters strand places (placed within a GPC: 846-981 CTAs resident
// in clusters of 3-8 against 924-1056 without), so a grid near a full wave or above it runs more
// waves in clusters; and the clusters cost the long calls through the ring time even with the same
// CTAs. H100, bench_fragment_mm --split_sums=cluster / kernel, us, same splits: through the ring, M
// = 16 8192 x 28672 (6 splits) 63.1 / 55.0, 8192 x 8192 (6) 22.7 / 19.1, 16384 x 16384 (3) 70.3 /
// 61.3, 28672 x 8192 (2) 54.3 / 53.9; M = 8 8192 x 28672 (5) 55.9 / 50.9, 8192 x 8192 (5) 19.1 /
// 18.0; x copied whole, M = 1, CTAs against a wave: 14336 x 4096 (0.94) 19.2 / 14.7, 8192 x 28672
// (0.81) 49.6 / 48.1, 28672 x 8192 (2.3) 49.7 / 47.5, 57344 x 8192 (2.3) 92.0 / 91.4. Below, the
// second launch costs more than the cluster: 10240 x 8192 (0.67) 19.2 / 19.7, 8192 x 8192 (0.54)
// 16.5 / 16.8, 4096 x 14336 (0.40) 15.7 / 16.1, 6144 x 4096 (0.40) 8.8 / 9.2; x from global
// memory, M = 16 6144 x 4096 (0.62) 10.2 / 10.7.
inline bool split_sums_by_kernel(const FragmentMmPlan& plan, int multiprocessors) {
  if (plan.batch_rows != 0 || plan.splits < 2) return false;
  if (plan.x_source == XSource::kRing) return true;
  const int64_t ctas = plan.strip_blocks * plan.splits * plan.m_blocks;
  const int64_t places = split_k_ctas_per_multiprocessor(plan.n_tiles, plan.tile_group) * multiprocessors;
  return 4 * ctas > 3 * places;
}
// Sets where a split-K plan's splits are summed: its partial sums for the second kernel, or none.
inline void set_split_sums(FragmentMmPlan& plan, int64_t m, int64_t padded_n, int multiprocessors) {
  plan.partial_floats = split_sums_by_kernel(plan, multiprocessors) ? plan.splits * m * padded_n : 0;
}

// Most splits K allows.
inline int64_t max_splits_of(int64_t k_tiles) { return std::max<int64_t>(1, k_tiles / kMinTilesPerSplit); }
// The split count that gives `blocks` CTAs (or warps) about `wanted` in all, within what K allows.
inline int64_t splits_for(int64_t blocks, int64_t wanted, int64_t k_tiles) {
  return std::clamp<int64_t>((wanted + blocks - 1) / blocks, 1, max_splits_of(k_tiles));
}
// With 8 batch rows a warp, where about 32 warps a multiprocessor asks for three splits, four run
// faster: H100, bench_fragment_mm --splits=2/3/4, us, M = 1 / 8: 24576 x 8192 42.1 53.1 43.8 /
// 46.8 54.6 47.3; 28672 x 8192 50.5 53.8 51.1 / 70.2 57.5 53.4; 28672 x 4096 26.5 32.3 28.1 /
// 31.1 36.3 29.6; 32768 x 8192 73.6 57.2 61.5 / 75.3 68.0 60.0 (the one loss, 7% at M = 1). Two
// would win more often at M = 1 but lose up to 29%.
inline int64_t eight_row_splits(int64_t splits, int64_t k_tiles) {
  return splits == 3 ? std::min<int64_t>(4, max_splits_of(k_tiles)) : splits;
}

// Cuts K into (at most) `splits` splits and sets what follows from them: the split-K kernel's
// tile group and where it reads x, the wgmma kernel's partial sums.
inline void set_splits(FragmentMmPlan& plan, int64_t splits, int64_t m, int64_t padded_n, int64_t k_tiles) {
  plan.tiles_per_split = (k_tiles + splits - 1) / splits;
  plan.splits = (k_tiles + plan.tiles_per_split - 1) / plan.tiles_per_split;
  if (plan.batch_rows == 0) {
    // Four tiles ahead pay where a warp streams many tiles of one batch tile (H100, M = 1: 28672 x
    // 8192 66.5 -> 59.6 us, 8192 x 28672 76.3 -> 67.3 us); with fewer tiles, or two batch tiles'
    // registers, the warps it costs matter more (6144 x 4096, M = 1: 11.2 -> 15.3 us).
    plan.tile_group = plan.n_tiles == 1 && plan.tiles_per_split >= kLongSplitTiles ? 4 : 2;
    const int64_t x_bytes = std::min<int64_t>(m, 8) * plan.tiles_per_split * kXRowBytes;
    if (plan.n_tiles == 1 && x_bytes <= max_x_shared_bytes(plan.tile_group)) {
      plan.x_source = XSource::kShared, plan.x_shared_bytes = static_cast<int>(x_bytes);
    } else if (plan.tiles_per_split >= kXRingMinTiles) {
      plan.x_source = XSource::kRing, plan.x_shared_bytes = x_ring_bytes(plan.n_tiles);
    } else {
      plan.x_source = XSource::kGlobal, plan.x_shared_bytes = 0;
    }
    plan.partial_floats = 0;  // set_split_sums's
  } else {
    plan.partial_floats = plan.splits > 1 ? plan.splits * m * padded_n : 0;
    plan.tail_strip_blocks = plan.tail_splits = plan.tail_tiles_per_split = 0;  // set_tail's, after this
  }
}

// What a wgmma CTA costs per 64-wide K tile, in cycles, at one CTA a multiprocessor, as every
// tile runs (x_stages.cuh). The 64-row tile when it had two CTAs of 128 weight rows a
// multiprocessor measured 783 on an H200 (M = 4096, N = K = 8192), and its present CTA of 256 rows
// 6% less a wave on an H100 (bench_fragment_mm --splits=1, M = 64, 33792 x 8192: 89.5 -> 84.0 us);
// the 256-row tile in proportion to the old 128-row one from their times per tile on an H100 (one
// wave each: M = 512 and 256, N = K = 8192, 0.85 and 0.70 us); the 128-row tile in proportion to
// the 256-row one from the slope of one launch's time over K on an H100 (bench_fragment_mm
// --splits=1, M = 128, N = 16896: 0.411 us a tile against 0.650; over two waves, 264 CTAs of 128
// rows at M = 256, 0.829 us a tile, the same rate). Only the ratios matter: they pick the tile.
//
// The planner once counted the 128-row tile's waves in pairs at twice this cost (two CTAs a
// multiprocessor, which the tile never had) and charged a wave's fixed cost (kWaveInterceptCycles)
// to split tails only. Counting waves as they run, each with that fixed cost, and choosing the
// tile among the plans with their tails moved 27 of the 325 plans of a host grid (13 shapes, M =
// 24-8192), none on the benchmark grid, and the 64-row tile's splits at M = 17-64 on some shapes:
// of 36 measured, 30 ran 1-25% faster, four within 0.5%, two 2-3% slower (6144 x 8192 at M = 80 and
// 96: 2 K splits, one short wave, where 5 filled two; benchmarks/NOTES.md, row 40).
//
// The 64-row tile's wide CTA (kWideWarpgroups, 448 weight rows) takes 1.66 times as long a tile as
// its CTA of four warpgroups, a little less per weight row, but pays more a wave: fitted over
// launches without a K split (H100, bench_fragment_mm, M = 32-64, N = 38400-57344, K = 1024-8192),
// 0.943 us a tile and ~9 us a wave against 0.567 and ~4 (benchmarks/NOTES.md, row 41).
constexpr int64_t kWideTileCycles = 1220;
constexpr int64_t wgmma_tile_cycles(int batch_rows, int warpgroups) {
  return batch_rows == 64 ? (warpgroups == kWideWarpgroups ? kWideTileCycles : 735) : batch_rows == 128 ? 518 : 830;
}
// The weight rows (output columns) of a wgmma plan's CTA.
inline int64_t plan_weight_rows(const FragmentMmPlan& plan) { return int64_t{kWarpgroupWeightRows} * plan.warpgroups; }
// Overlapping x's ordering with the multiply (x by TMA, K not split): kMaxChunks pieces of M from
// kMinOverlapBatchBlocks batch tiles on (each piece a wave or more of CTAs on the benchmark
// shapes). H100, bench_fragment_mm: M = 4096, 8192 x 28672 2855 -> 2752 us, 8192 x 8192 836 -> 823;
// at M = 2048 in two pieces 405 -> 408: not below.
constexpr int64_t kMaxChunks = 4;
constexpr int64_t kMinOverlapBatchBlocks = 16;
// Most K splits the wgmma plan considers.
constexpr int64_t kMaxWgmmaSplits = 16;

// The cycles of a kernel launch and its tail beyond its waves' work (the reduction kernel's).
constexpr int64_t kLaunchCycles = 3000;
// What a wave of wgmma CTAs costs beyond its K tiles: the intercept of one full wave's time over K
// (H100: ~5 us for the 256-row tile, NOTES.md). Charged to every wave: charged to split tails
// alone, the planner gave a tail to short K, where it ran slower (H100, C++ benchmark, M = 100,
// 38400 x 1040: 28.99 us without, 31.09 with a tail of 4 splits of 5 tiles), and split K where
// fewer, longer waves ran faster (6144 x 8192 at M = 256: 5 splits 55.2 us, 2 splits 50.2; at M =
// 448 4 splits 95.3, 1 82.6; 5120 x 5120 at M = 512 3 splits 57.3, 1 54.4).
constexpr int64_t kWaveInterceptCycles = 9000;
// And a wave of the wide 64-row CTA (see wgmma_tile_cycles): with the intercept of the others it
// took that CTA for short splits where it ran slower (H100, C++ benchmark, M = 17, 4100 x 4112: 13
// K splits of 5 tiles 13.9 us, the four-warpgroup CTA's 7 splits of 10 12.4).
constexpr int64_t kWideWaveInterceptCycles = 11500;
constexpr int64_t wave_intercept_cycles(int warpgroups) {
  return warpgroups == kWideWarpgroups ? kWideWaveInterceptCycles : kWaveInterceptCycles;
}
// What summing `splits` K splits of m x columns outputs costs beyond the multiply: the partial sums
// (written, then read by the reduction kernel) mostly stay in L2: ~7 TB/s at ~1.7 GHz. Against
// DRAM's rate (1500) the planner avoided splits that ran faster (H100, C++ benchmark: 6144 x 4096
// at M = 256 41.5 -> 36.9 us, 4096 x 4096 at M = 64 14.3 -> 11.9, at M = 256 28.1 -> 24.4;
// slower: 5120 x 5120 at M = 512 62.3 -> 66.6, 28672 x 8192 at M = 17 85.2 -> 91.1).
inline int64_t split_sums_cycles(int64_t splits, int64_t m, int64_t columns) {
  constexpr int64_t kBytesPerCycle = 4000;
  return 8 * splits * m * columns / kBytesPerCycle + kLaunchCycles;
}

// The estimated cycles of `ctas` wgmma CTAs of `tiles` K tiles each: whole waves of one CTA a
// multiprocessor.
inline int64_t wgmma_waves_cycles(const FragmentMmPlan& plan, int64_t ctas, int64_t tiles, int multiprocessors) {
  const int64_t waves = (ctas + multiprocessors - 1) / multiprocessors;
  const int64_t tile_cycles = wgmma_tile_cycles(plan.batch_rows, plan.warpgroups);
  return waves * (tiles * tile_cycles + wave_intercept_cycles(plan.warpgroups));
}

// The estimated cycles of one wgmma plan: whole waves, plus the split sums when K is split, or the
// tail's wave and sums.
inline int64_t wgmma_cycles(const FragmentMmPlan& plan, int64_t m, int64_t padded_n, int multiprocessors) {
  const int64_t head_blocks = plan.strip_blocks - plan.tail_strip_blocks;
  int64_t cycles =
      wgmma_waves_cycles(plan, plan.m_blocks * head_blocks * plan.splits, plan.tiles_per_split, multiprocessors);
  if (plan.splits > 1) cycles += split_sums_cycles(plan.splits, m, padded_n);
  if (plan.tail_strip_blocks > 0) {
    cycles += wgmma_waves_cycles(plan, plan.m_blocks * plan.tail_strip_blocks * plan.tail_splits,
                                 plan.tail_tiles_per_split, multiprocessors) +
              split_sums_cycles(plan.tail_splits, m, padded_n - head_blocks * plan_weight_rows(plan));
  }
  return cycles;
}

// The padded weight rows (columns of out) before a plan's tail: all of them without one.
inline int64_t head_columns(const FragmentMmPlan& plan) {
  return (plan.strip_blocks - plan.tail_strip_blocks) * plan_weight_rows(plan);
}

// A plan without a K split whose CTAs fill w >= 1 whole waves and part of one more runs its last
// wave as a tail instead: the strip blocks past the first w waves' CTAs as a launch of their own,
// K split as many ways as one wave holds, so that the last wave costs a fraction of a whole one
// (and its split sums). H100, C++ benchmark, us, without -> with the tail (256-row tile), after one
// wave: M = 1024 6144 x 4096 91.4 -> 82.2, 5120 x 5120 112.4 -> 85.4; M = 768 8192 x 8192 169.3 ->
// 142.8, 6144 x 4096 89.9 -> 64.7, 8192 x 28672 598.8 -> 466.9; M = 640 8192 x 8192 184.0 -> 136.7;
// after several: M = 1536 6144 x 4096 137.0 -> 116.5, 6144 x 8192 263.8 -> 211.6; M = 1024 14336 x
// 8192 361.9 -> 314.8; M = 512 12288 x 8192 168.1 -> 139.9, 28672 x 8192 361.2 -> 318.1 (on another
// H100, 337 -> 339: the one shape where a tail has not gained every time). Plans that overlap x's
// ordering (kMinOverlapBatchBlocks batch tiles or more) keep their chunks instead. Returns false,
// leaving the plan as it was, where there is no such tail.
inline bool set_tail(FragmentMmPlan& plan, int64_t m, int64_t padded_n, int64_t k_tiles, int multiprocessors) {
  const int64_t slots = multiprocessors;  // one CTA a multiprocessor
  const int64_t ctas = plan.m_blocks * plan.strip_blocks;
  if (plan.splits != 1 || plan.m_blocks >= kMinOverlapBatchBlocks || ctas <= slots) return false;
  const int64_t head_blocks = (ctas - 1) / slots * slots / plan.m_blocks;  // in whole waves
  if (head_blocks == 0) return false;
  const int64_t tail_blocks = plan.strip_blocks - head_blocks;
  const int64_t splits = std::min({slots / (tail_blocks * plan.m_blocks), max_splits_of(k_tiles), kMaxWgmmaSplits});
  if (splits < 2) return false;
  plan.tail_strip_blocks = tail_blocks;
  plan.tail_tiles_per_split = (k_tiles + splits - 1) / splits;
  plan.tail_splits = (k_tiles + plan.tail_tiles_per_split - 1) / plan.tail_tiles_per_split;
  plan.partial_floats = plan.tail_splits * m * (padded_n - head_columns(plan));
  return true;
}

// Batch tiles in each overlapped chunk but the last (which has the rest).
inline int64_t chunk_batch_blocks(int64_t m_blocks, int64_t chunks) { return (m_blocks + chunks - 1) / chunks; }

// The most chunks (up to kMaxChunks) whose waves of CTAs, rounded up chunk by chunk, are no more
// than the whole call's: a chunk's last wave is partly idle (6144 x 4096 at M = 4096: four chunks
// of 1.45 waves ran 0.71x of cuBLAS where one call of 5.8 waves ran 0.84x).
inline int64_t overlap_chunks(const FragmentMmPlan& plan, int multiprocessors) {
  const int64_t slots = multiprocessors;  // one CTA a multiprocessor
  const auto waves = [&](int64_t chunks) {
    const int64_t chunk_blocks = chunk_batch_blocks(plan.m_blocks, chunks);
    int64_t total = 0;
    for (int64_t first = 0; first < plan.m_blocks; first += chunk_blocks) {
      const int64_t ctas = std::min(chunk_blocks, plan.m_blocks - first) * plan.strip_blocks;
      total += (ctas + slots - 1) / slots;
    }
    return total;
  };
  for (int64_t chunks = kMaxChunks; chunks > 1; --chunks) {
    if (waves(chunks) <= waves(1)) return chunks;
  }
  return 1;
}

// The best wgmma plan for one batch tile over the split counts K allows, with its estimate; no
// tail (with_tail adds one).
inline std::pair<FragmentMmPlan, int64_t> wgmma_plan(int batch_rows, int warpgroups, int64_t m, int64_t padded_n,
                                                     int64_t k_tiles, int multiprocessors) {
  FragmentMmPlan plan{};
  plan.batch_rows = batch_rows;
  plan.warpgroups = warpgroups;
  plan.m_blocks = (m + batch_rows - 1) / batch_rows;
  plan.strip_blocks = (padded_n + plan_weight_rows(plan) - 1) / plan_weight_rows(plan);
  std::pair<FragmentMmPlan, int64_t> best{plan, -1};
  const int64_t max_splits = std::min(max_splits_of(k_tiles), kMaxWgmmaSplits);
  for (int64_t splits = 1; splits <= max_splits; ++splits) {
    set_splits(plan, splits, m, padded_n, k_tiles);
    if (plan.splits != splits) continue;  // the same split as a smaller count
    const int64_t cycles = wgmma_cycles(plan, m, padded_n, multiprocessors);
    if (best.second < 0 || cycles < best.second) best = {plan, cycles};
  }
  best.first.x_steps_bytes = x_by_tma(batch_rows) ? x_steps_rows(m, batch_rows) * k_tiles * kFragmentK * 2 : 0;
  best.first.chunks = x_by_tma(batch_rows) && best.first.splits == 1 && best.first.m_blocks >= kMinOverlapBatchBlocks
                          ? overlap_chunks(best.first, multiprocessors)
                          : 1;
  return best;
}

// A wgmma plan (wgmma_plan's, estimated at `cycles`) with its last wave run as a split tail where
// that is estimated to be cheaper (set_tail).
inline FragmentMmPlan with_tail(const FragmentMmPlan& plan, int64_t cycles, int64_t m, int64_t padded_n,
                                int64_t k_tiles, int multiprocessors) {
  FragmentMmPlan tail = plan;
  set_splits(tail, 1, m, padded_n, k_tiles);
  const bool cheaper = set_tail(tail, m, padded_n, k_tiles, multiprocessors) &&
                       wgmma_cycles(tail, m, padded_n, multiprocessors) < cycles;
  return cheaper ? tail : plan;
}

// The split-K kernel's plan with 8 * n_tiles batch rows a warp (n_tiles 1 or 2).
inline FragmentMmPlan split_k_plan(int64_t m, int64_t padded_n, int64_t k_tiles, int multiprocessors, int n_tiles) {
  FragmentMmPlan plan{};
  plan.n_tiles = n_tiles;
  plan.m_blocks = (m + 8 * plan.n_tiles - 1) / (8 * plan.n_tiles);
  plan.strip_blocks = (padded_n / kFragmentRows + kWarpsPerBlock - 1) / kWarpsPerBlock;
  const int64_t warps = plan.strip_blocks * kWarpsPerBlock * plan.m_blocks;
  const int64_t splits =
      n_tiles == 1
          ? eight_row_splits(splits_for(warps, kTargetWarpsPerMultiprocessor * multiprocessors, k_tiles), k_tiles)
          : std::clamp<int64_t>(
                kSixteenRowCtasPerMultiprocessor * multiprocessors / (plan.strip_blocks * plan.m_blocks), 1,
                max_splits_of(k_tiles));
  set_splits(plan, std::min(splits, max_split_k_splits(plan.n_tiles)), m, padded_n, k_tiles);
  if (plan.n_tiles == 2 && plan.x_source == XSource::kRing && plan.splits < splits) {
    // Through the ring the second kernel sums the splits (split_sums_by_kernel), so no cluster
    // bounds their count: as many as fill one wave where each keeps the ring (kXRingMinTiles).
    // H100, bench_fragment_mm, M = 16, 8192 x 28672, us: 6 splits 55.0, 7 (896 CTAs) 54.1-54.4, 8
    // (1024: two waves) 66.5-66.8.
    FragmentMmPlan filled = plan;
    set_splits(filled, std::min(splits, k_tiles / kXRingMinTiles), m, padded_n, k_tiles);
    if (filled.x_source == XSource::kRing && filled.splits > plan.splits) plan = filled;
  }
  set_split_sums(plan, m, padded_n, multiprocessors);
  plan.chunks = 1;
  return plan;  // the workspace: partial sums where split_sums_by_kernel
}

// A batch tile is a candidate only where the batch fills more than half of it: the next smaller
// tile covers the batch at least as well. The cost model does not see the padding rows' work, and
// took the 128-row tile at M <= 64 where it ran slower (H100, C++ benchmark, 1024 x 4096 in 16 K
// splits: M = 48 9.33 us against 9.03 for the 64-row tile, M = 17 9.17 against 9.03).
inline bool batch_tile_candidate(int batch_rows, int64_t m) { return batch_rows == 64 || m > batch_rows / 2; }

// The 64-row tile's wide CTA is a candidate for a batch of one 64-row tile (decode batches, where
// it was measured) where its CTAs fill at least kWideMinWaveFill of their waves. Below that the
// cost model prefers it to CTAs of four whose last wave runs as a split tail, which ran faster
// (H100, C++ benchmark, M = 64, 38400 x 2064: 86 wide CTAs on 132 multiprocessors 39.7 us, 132
// CTAs of four and a tail in 7 K splits 35.7).
constexpr double kWideMinWaveFill = 0.8;
inline bool fills_its_waves(const FragmentMmPlan& plan, int multiprocessors) {
  const int64_t ctas = plan.m_blocks * plan.strip_blocks * plan.splits;
  const int64_t waves = (ctas + multiprocessors - 1) / multiprocessors;
  return ctas >= kWideMinWaveFill * static_cast<double>(waves * multiprocessors);
}

inline FragmentMmPlan plan_fragment_mm(int64_t m, int64_t padded_n, int64_t k_tiles, int multiprocessors) {
  if (m > kMaxMmaSyncBatch) {
    // Each batch tile's best plan with its tail, if one pays, and the cheapest of those: a tile
    // whose last wave a tail shortens can beat one that fills its waves (H100, C++ benchmark, 28672
    // x 8192 at M = 320: the 128-row tile 320.5 us, with a tail 288.9).
    const auto plan_of = [&](int batch_rows, int warpgroups) {
      return wgmma_plan(batch_rows, warpgroups, m, padded_n, k_tiles, multiprocessors);
    };
    const auto with_its_tail = [&](const std::pair<FragmentMmPlan, int64_t>& untailed) {
      const FragmentMmPlan tailed = with_tail(untailed.first, untailed.second, m, padded_n, k_tiles, multiprocessors);
      return std::pair<FragmentMmPlan, int64_t>{tailed, wgmma_cycles(tailed, m, padded_n, multiprocessors)};
    };
    std::pair<FragmentMmPlan, int64_t> best = with_its_tail(plan_of(64, consumer_warpgroups(64)));
    const auto consider = [&](const std::pair<FragmentMmPlan, int64_t>& untailed) {
      const auto candidate = with_its_tail(untailed);
      if (candidate.second < best.second) best = candidate;
    };
    if (m <= 64) {
      const auto wide = plan_of(64, kWideWarpgroups);
      if (fills_its_waves(wide.first, multiprocessors)) consider(wide);
    }
    for (const int batch_rows : {128, 256}) {
      if (batch_tile_candidate(batch_rows, m)) consider(plan_of(batch_rows, consumer_warpgroups(batch_rows)));
    }
    return best.first;
  }
  return split_k_plan(m, padded_n, k_tiles, multiprocessors, m <= 8 ? 1 : 2);
}

}  // namespace nvfp4::sm90
