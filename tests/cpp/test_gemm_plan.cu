// Host-side tests of the Hopper GEMM's call planning (csrc/sm90/gemm_plan.cuh): for a grid of
// batch sizes, weight shapes and GPU sizes, every plan covers the whole problem, leaves no split
// empty, keeps the grid (and the split-K kernel's clusters) within CUDA's limits and asks for
// exactly the workspace it uses. No GPU needed (compiled by nvcc for the kernel headers the plan
// includes, run on the host); run by ctest.

#include <cstdint>
#include <cstdio>
#include <tuple>
#include <utility>

#include "expect.h"
#include "nvfp4/fragment_layout.h"
#include "sm90/gemm_plan.cuh"

namespace {

void check_plan(int64_t m, int64_t n, int64_t k, int multiprocessors) {
  using namespace nvfp4;
  using namespace nvfp4::sm90;
  const int64_t padded_n = fragment_padded_rows(n), k_tiles = fragment_padded_k(k) / kFragmentK;
  const FragmentMmPlan plan = plan_fragment_mm(m, padded_n, k_tiles, multiprocessors);
#define CASE "m=%ld n=%ld k=%ld sms=%d", long(m), long(n), long(k), multiprocessors
  // K: every tile in exactly one split, no split empty.
  EXPECT(plan.splits >= 1 && plan.tiles_per_split >= 1, CASE);
  EXPECT(plan.splits * plan.tiles_per_split >= k_tiles, CASE);
  EXPECT((plan.splits - 1) * plan.tiles_per_split < k_tiles, CASE);
  EXPECT(plan.splits <= 65535, CASE);  // grid y
  if (m <= kMaxMmaSyncBatch) {
    // The split-K kernel: 8 or 16 batch rows a warp, a warp per strip, the splits of a tile in one
    // cluster (no workspace), or summed by the second kernel (split_sums_by_kernel).
    EXPECT(plan.batch_rows == 0, CASE);
    EXPECT(plan.n_tiles == (m <= 8 ? 1 : 2), CASE);
    EXPECT(plan.m_blocks * 8 * plan.n_tiles >= m && (plan.m_blocks - 1) * 8 * plan.n_tiles < m, CASE);
    EXPECT(plan.strip_blocks * kWarpsPerBlock * kFragmentRows >= padded_n, CASE);
    const bool by_kernel = split_sums_by_kernel(plan, multiprocessors);
    EXPECT(!by_kernel || plan.splits > 1, CASE);
    EXPECT(plan.partial_floats == (by_kernel ? plan.splits * m * padded_n : 0), CASE);
    EXPECT(partial_sums_offset(plan) == 0, CASE);
    EXPECT(by_kernel || plan.splits <= max_split_k_splits(plan.n_tiles), CASE);  // one cluster
    EXPECT(plan.n_tiles == 2 || plan.splits <= max_split_k_splits(1), CASE);
    if (plan.n_tiles == 2 && plan.splits > 1) {  // 16 rows a warp: one wave of CTAs
      EXPECT(plan.strip_blocks * plan.m_blocks * plan.splits <= kSixteenRowCtasPerMultiprocessor * multiprocessors,
             CASE);
    }
    EXPECT(plan.chunks == 1, CASE);
    EXPECT(plan.tile_group == 2 || (plan.tile_group == 4 && plan.n_tiles == 1), CASE);  // the instantiated kernels
    // x in shared memory: exactly the CTA's rows over its split, within the budget beside the CTAs
    // the registers allow.
    // with 8 batch rows a warp; else the ring where splits are long; else x from global memory,
    // which 8 batch rows a warp never need.
    const int64_t x_bytes = std::min<int64_t>(m, 8) * plan.tiles_per_split * kXRowBytes;
    switch (plan.x_source) {
      case XSource::kShared:
        EXPECT(plan.n_tiles == 1 && plan.x_shared_bytes == x_bytes, CASE);
        EXPECT(plan.x_shared_bytes <= max_x_shared_bytes(plan.tile_group), CASE);
        break;
      case XSource::kRing:
        EXPECT(plan.tiles_per_split >= kXRingMinTiles && plan.x_shared_bytes == x_ring_bytes(plan.n_tiles), CASE);
        EXPECT(plan.n_tiles == 2 || x_bytes > max_x_shared_bytes(plan.tile_group), CASE);
        break;
      case XSource::kGlobal:
        EXPECT(plan.n_tiles == 2 && plan.tiles_per_split < kXRingMinTiles && plan.x_shared_bytes == 0, CASE);
        break;
    }
  } else {
    // The wgmma kernel: one of its batch tiles with a CTA the kernels have (the 64-row tile's wide
    // one too), partial sums only when split.
    EXPECT(plan.batch_rows == 64 || plan.batch_rows == 128 || plan.batch_rows == 256, CASE);
    EXPECT(plan.warpgroups == consumer_warpgroups(plan.batch_rows) ||
               (plan.batch_rows == 64 && plan.warpgroups == kWideWarpgroups),
           CASE);
    EXPECT(plan.m_blocks * plan.batch_rows >= m && (plan.m_blocks - 1) * plan.batch_rows < m, CASE);
    EXPECT(plan.m_blocks <= 65535, CASE);  // grid z
    // Overlapped x ordering: only for the TMA-fed tile without a K split and a large batch, every
    // chunk non-empty.
    EXPECT(plan.chunks >= 1 && plan.chunks <= kMaxChunks, CASE);
    if (plan.chunks > 1) {
      EXPECT(x_by_tma(plan.batch_rows) && plan.splits == 1 && plan.m_blocks >= kMinOverlapBatchBlocks, CASE);
      EXPECT((plan.chunks - 1) * chunk_batch_blocks(plan.m_blocks, plan.chunks) < plan.m_blocks, CASE);
    }
    EXPECT(plan.strip_blocks * plan_weight_rows(plan) >= padded_n, CASE);
    EXPECT(plan.x_steps_bytes ==
               (x_by_tma(plan.batch_rows) ? round_up(m, int64_t{plan.batch_rows}) * k_tiles * kFragmentK * 2 : 0),
           CASE);
    if (plan.tail_strip_blocks > 0) {
      // A split tail: after whole waves of the head's CTAs, the rest of the strip blocks in one
      // wave of split CTAs, with partial sums for those columns only.
      const int64_t slots = multiprocessors;  // one CTA a multiprocessor
      const int64_t head_ctas = (plan.strip_blocks - plan.tail_strip_blocks) * plan.m_blocks;
      EXPECT(plan.splits == 1 && plan.chunks == 1 && plan.tail_strip_blocks < plan.strip_blocks, CASE);
      EXPECT(head_ctas > 0 && plan.m_blocks * plan.strip_blocks > slots, CASE);
      EXPECT(head_ctas <= (plan.m_blocks * plan.strip_blocks - 1) / slots * slots, CASE);
      EXPECT(plan.tail_splits >= 2 && plan.tail_strip_blocks * plan.m_blocks * plan.tail_splits <= slots, CASE);
      EXPECT(plan.tail_splits * plan.tail_tiles_per_split >= k_tiles, CASE);
      EXPECT((plan.tail_splits - 1) * plan.tail_tiles_per_split < k_tiles, CASE);
      EXPECT(head_columns(plan) < n && head_columns(plan) % plan_weight_rows(plan) == 0, CASE);
      EXPECT(plan.partial_floats == plan.tail_splits * m * (padded_n - head_columns(plan)), CASE);
    } else {
      EXPECT(plan.tail_splits == 0 && plan.tail_tiles_per_split == 0, CASE);
      EXPECT(plan.partial_floats == (plan.splits > 1 ? plan.splits * m * padded_n : 0), CASE);
    }
    EXPECT(partial_sums_offset(plan) % 256 == 0 && partial_sums_offset(plan) >= plan.x_steps_bytes, CASE);
  }
#undef CASE
}

}  // namespace

int main() {
  const int64_t ms[] = {1, 2, 7, 8, 9, 15, 16, 17, 33, 63, 64, 65, 127, 128, 129, 255, 256, 1000, 4096, 8192};
  const int64_t ns[] = {1, 16, 32, 96, 100, 4000, 6144, 8192, 28672};
  const int64_t ks[] = {16, 48, 64, 208, 256, 4096, 4112, 8192, 28672};
  const int sms[] = {1, 8, 132};
  int plans = 0;
  for (const int64_t m : ms) {
    for (const int64_t n : ns) {
      for (const int64_t k : ks) {
        for (const int multiprocessors : sms) {
          check_plan(m, n, k, multiprocessors);
          ++plans;
        }
      }
    }
  }
  // The overlapped plan the GEMM tests run (tests/test_sm90_gemm.py, 4100 x 4000 x 4112).
  using namespace nvfp4;
  using sm90::XSource;
  const sm90::FragmentMmPlan overlapped =
      sm90::plan_fragment_mm(4100, fragment_padded_rows(4000), fragment_padded_k(4112) / kFragmentK, 132);
  EXPECT(overlapped.batch_rows == 256 && overlapped.splits == 1 && overlapped.chunks == 2,
         "4100 x 4000 x 4112: batch tile %d, %ld splits, %ld chunks", overlapped.batch_rows, long(overlapped.splits),
         long(overlapped.chunks));
  // Chunks that keep the waves of one call: 8192 x 8192 at M = 4096 in four (2 waves each of 132
  // multiprocessors' CTAs), 6144 x 4096 in two (four would round 1.45 waves up to 2 four times).
  EXPECT(sm90::plan_fragment_mm(4096, 8192, 128, 132).chunks == 4, "8192 x 8192, M = 4096");
  // The 128-row tile at M = 128 on 28672 x 8192 (224 CTAs; H100: 104 us against 185 for the
  // earlier 128-row tile, which had a producer warpgroup); at M = 256 the 256-row tile.
  EXPECT(sm90::plan_fragment_mm(128, 28672, 128, 132).batch_rows == 128, "28672 x 8192, M = 128");
  EXPECT(sm90::plan_fragment_mm(256, 8192, 128, 132).batch_rows == 256, "8192 x 8192, M = 256");
  // The shapes of test_sm90_gemm.py's test_wgmma_128_row_tile.
  EXPECT(sm90::plan_fragment_mm(97, 6144, 64, 132).batch_rows == 128, "6144 x 4096, M = 97");
  EXPECT(sm90::plan_fragment_mm(97, 6144, 64, 132).splits > 1, "6144 x 4096, M = 97");
  EXPECT(sm90::plan_fragment_mm(113, 6000, 65, 132).batch_rows == 128, "6000 x 4112, M = 113");
  EXPECT(sm90::plan_fragment_mm(113, 6000, 65, 132).splits > 1, "6000 x 4112, M = 113");
  EXPECT(sm90::plan_fragment_mm(300, 9008, 4, 132).batch_rows == 128, "9000 x 208, M = 300");
  EXPECT(sm90::plan_fragment_mm(300, 9008, 4, 132).splits == 1, "9000 x 208, M = 300");
  EXPECT(sm90::plan_fragment_mm(4096, 6144, 64, 132).chunks == 2, "6144 x 4096, M = 4096");
  // A launch of at most one 128-row CTA a multiprocessor, costed at a CTA's time alone (H100:
  // 6144 x 4096 at M = 256 28.4 us against 30.9 for two K splits of the 256-row tile; 8192 x 8192
  // at M = 128 in two splits 33.8 against 38.5 in four).
  const sm90::FragmentMmPlan alone = sm90::plan_fragment_mm(256, 6144, 64, 132);
  EXPECT(alone.batch_rows == 128 && alone.splits == 1, "6144 x 4096, M = 256: batch tile %d, %ld splits",
         alone.batch_rows, long(alone.splits));
  const sm90::FragmentMmPlan two_splits = sm90::plan_fragment_mm(128, 8192, 128, 132);
  EXPECT(two_splits.batch_rows == 128 && two_splits.splits == 2, "8192 x 8192, M = 128: batch tile %d, %ld splits",
         two_splits.batch_rows, long(two_splits.splits));
  // But not a last wave after whole ones: 6144 x 4096 at M = 1024 keeps the 256-row tile (below).
  // And no batch tile the batch fills half or less of: 1024 x 4096 at M = 48 in the 64-row tile.
  EXPECT(sm90::plan_fragment_mm(48, 1024, 64, 132).batch_rows == 64, "1024 x 4096, M = 48");
  // The batch tile chosen with its tail: 28672 x 8192 at M = 384, the 128-row tile's five whole
  // waves and a tail (H100: 293 us against 322 for the sixth wave whole).
  const sm90::FragmentMmPlan tailed_128 = sm90::plan_fragment_mm(384, 28672, 128, 132);
  EXPECT(tailed_128.batch_rows == 128 && tailed_128.tail_strip_blocks > 0,
         "28672 x 8192, M = 384: batch tile %d, tail %ld", tailed_128.batch_rows, long(tailed_128.tail_strip_blocks));
  // A split tail where one whole wave leaves 0.45 of another: 6144 x 4096 at M = 1024 (192 CTAs of
  // 256 rows), 132 CTAs whole, then the last 15 strip blocks' 60 CTAs in two K splits.
  const sm90::FragmentMmPlan tailed = sm90::plan_fragment_mm(1024, 6144, 64, 132);
  EXPECT(tailed.batch_rows == 256 && tailed.tail_strip_blocks == 15 && tailed.tail_splits == 2,
         "6144 x 4096, M = 1024: batch tile %d, tail of %ld strip blocks in %ld splits", tailed.batch_rows,
         long(tailed.tail_strip_blocks), long(tailed.tail_splits));
  // The 64-row tile's wide CTA where four warpgroups' CTAs leave multiprocessors idle: 28672 x 8192
  // at M = 64 (112 CTAs of four; 64 wide ones in 2 K splits, 128), and the shapes of
  // test_sm90_gemm.py's test_wgmma_wide_64_row_tile; not for 5 tiles a split (4100 x 4112 at M =
  // 17), nor where it fills two thirds of a wave (38400 x 2064 at M = 64, below).
  for (const auto& [m, n, k_tiles, wide] : {std::tuple<int64_t, int64_t, int64_t, bool>{64, 28672, 128, true},
                                            {17, 11312, 33, true},
                                            {50, 11312, 65, true},
                                            {33, 50016, 17, true},
                                            {17, 4112, 65, false}}) {
    const sm90::FragmentMmPlan plan = sm90::plan_fragment_mm(m, n, k_tiles, 132);
    EXPECT(plan.batch_rows == 64 && (plan.warpgroups == sm90::kWideWarpgroups) == wide,
           "M = %ld, %ld x %ld tiles: batch tile %d, %d warpgroups", long(m), long(n), long(k_tiles), plan.batch_rows,
           plan.warpgroups);
  }
  // The shapes of test_sm90_gemm.py's test_wgmma_split_tail: a tail for each batch tile.
  for (const auto& [m, n, k_tiles, rows] : {std::tuple<int64_t, int64_t, int64_t, int>{1000, 6112, 65, 256},
                                            {1536, 6112, 65, 256},
                                            {100, 38400, 33, 128},
                                            {64, 38400, 33, 64}}) {
    const sm90::FragmentMmPlan plan = sm90::plan_fragment_mm(m, n, k_tiles, 132);
    EXPECT(plan.batch_rows == rows && plan.tail_strip_blocks > 0, "M = %ld, %ld x %ld tiles: batch tile %d, tail %ld",
           long(m), long(n), long(k_tiles), plan.batch_rows, long(plan.tail_strip_blocks));
  }
  // 16 batch rows a warp: 28672 x 8192 (448 CTAs a split) in the two splits that fill one wave;
  // 8192 x 28672 (128 a split) in seven, more than one cluster takes, through the ring; 8192 x
  // 8192 in six, the most that keep the ring (seven would leave 19 tiles a split).
  EXPECT(sm90::plan_fragment_mm(16, 28672, 128, 132).splits == 2, "28672 x 8192, M = 16");
  const sm90::FragmentMmPlan seven = sm90::plan_fragment_mm(16, 8192, 448, 132);
  EXPECT(seven.splits == 7 && seven.x_source == XSource::kRing && seven.partial_floats == 7 * 16 * 8192,
         "8192 x 28672, M = 16");
  const sm90::FragmentMmPlan six = sm90::plan_fragment_mm(16, 8192, 128, 132);
  EXPECT(six.splits == 6 && six.x_source == XSource::kRing && six.partial_floats > 0, "8192 x 8192, M = 16");
  EXPECT(sm90::plan_fragment_mm(16, 6144, 64, 132).partial_floats == 0, "6144 x 4096, M = 16: in a cluster");
  // x copied whole (M = 1): summed by the second kernel where the CTAs fill more than three quarters
  // of a wave (14336 x 4096: 1120 CTAs on 1188 places; 8192 x 28672: 640 on 792; 28672 x 8192: more
  // than a wave), else in a cluster (8192 x 8192: 640 on 1188; 4096 x 14336: 320 on 792).
  for (const auto& [n, k_tiles, by_kernel] : {std::tuple<int64_t, int64_t, bool>{14336, 64, true},
                                              {8192, 448, true},
                                              {28672, 128, true},
                                              {8192, 128, false},
                                              {4096, 224, false}}) {
    const sm90::FragmentMmPlan plan = sm90::plan_fragment_mm(1, n, k_tiles, 132);
    EXPECT(plan.x_source == XSource::kShared && (plan.partial_floats > 0) == by_kernel, "%ld x %ld tiles, M = 1",
           long(n), long(k_tiles));
  }
  // Eight batch rows a warp: four splits where about 32 warps a multiprocessor would ask for three.
  for (const int64_t m : {1, 8}) {
    EXPECT(sm90::plan_fragment_mm(m, 24576, 128, 132).splits == 4, "24576 x 8192, M = %ld", long(m));
    EXPECT(sm90::plan_fragment_mm(m, 28672, 64, 132).splits == 4, "28672 x 4096, M = %ld", long(m));
  }
  // x in shared memory: every decode shape of the benchmark at M = 1 (13 KB on 8192 x 28672) and
  // 4 (28672 x 8192: 4 rows of 32 tiles, 16 KB), 28672 x 8192 at M = 8 (32 KB, four tiles ahead);
  // not 8192 x 8192 at M = 8 (26 KB, two tiles ahead), nor any batch of 16 rows a warp (6144 x 4096
  // at M = 16 would fit).
  EXPECT(sm90::plan_fragment_mm(1, 8192, 448, 132).x_shared_bytes == 90 * 128, "8192 x 28672, M = 1");
  EXPECT(sm90::plan_fragment_mm(4, 28672, 128, 132).x_shared_bytes == 4 * 32 * 128, "28672 x 8192, M = 4");
  EXPECT(sm90::plan_fragment_mm(8, 28672, 128, 132).x_shared_bytes == 8 * 32 * 128, "28672 x 8192, M = 8");
  EXPECT(sm90::plan_fragment_mm(8, 8192, 128, 132).x_source == XSource::kRing, "8192 x 8192, M = 8");
  EXPECT(sm90::plan_fragment_mm(16, 6144, 64, 132).x_source == XSource::kGlobal, "6144 x 4096, M = 16");
  EXPECT(sm90::plan_fragment_mm(16, 28672, 128, 132).x_source == XSource::kRing, "28672 x 8192, M = 16");
  // The GEMM tests' split-K shapes for each source of x (tests/test_sm90_gemm.py).
  EXPECT(sm90::plan_fragment_mm(7, 96, 257, 132).x_source == XSource::kRing, "96 x 16400, M = 7");
  EXPECT(sm90::plan_fragment_mm(8, 96, 257, 132).x_source == XSource::kRing, "96 x 16400, M = 8");
  EXPECT(sm90::plan_fragment_mm(13, 96, 257, 132).x_source == XSource::kRing, "96 x 16400, M = 13");
  for (const int64_t m : {7, 8, 13}) {  // the splits summed by the second kernel
    EXPECT(sm90::plan_fragment_mm(m, 96, 257, 132).partial_floats > 0, "96 x 16400, M = %ld", long(m));
  }
  for (const int64_t m : {1, 2}) {  // x copied whole, the splits summed by the second kernel
    const sm90::FragmentMmPlan plan = sm90::plan_fragment_mm(m, 11520, 20, 132);
    EXPECT(plan.x_source == XSource::kShared && plan.splits > 1 && plan.partial_floats > 0, "11520 x 1280, M = %ld",
           long(m));
  }
  EXPECT(sm90::rounds_x(sm90::plan_fragment_mm(1, 11520, 20, 132), 1), "W4A4 at M = 1, 11520 x 1280");
  EXPECT(sm90::plan_fragment_mm(16, 96, 65, 132).x_source == XSource::kGlobal, "96 x 4112, M = 16");
  EXPECT(sm90::plan_fragment_mm(5, 4000, 257, 132).x_source == XSource::kShared, "4000 x 16400, M = 5");
  // W4A4 rounds x inside the kernel at one row where x is copied whole (every benchmark shape),
  // not at two; nor where x goes through the ring (M = 1, 8192 x 131072: 410 tiles a split, 52 KB).
  EXPECT(!sm90::rounds_x(sm90::plan_fragment_mm(1, 8192, 2048, 132), 1), "W4A4 at M = 1, 8192 x 131072");
  for (const auto& [n, k_tiles] : {std::pair<int64_t, int64_t>{8192, 128}, {28672, 128}, {8192, 448}, {6144, 64}}) {
    EXPECT(sm90::rounds_x(sm90::plan_fragment_mm(1, n, k_tiles, 132), 1), "W4A4 at M = 1");
    EXPECT(!sm90::rounds_x(sm90::plan_fragment_mm(2, n, k_tiles, 132), 2), "W4A4 at M = 2");
  }
  const int failures = nvfp4::testing::failures;
  std::printf("%d plans checked, %d failures\n", plans, failures);
  return failures == 0 ? 0 : 1;
}
