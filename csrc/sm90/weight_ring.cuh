// The wgmma kernel's weight ring (fragment_wgmma_kernel.cuh), torch-free: each consumer warp
// copies its strip's tiles into its own slots of shared memory with cp.async, kDepth - 1 tiles
// ahead of the tile it multiplies.
//
// Why: a consumer warp's work on one tile (four k16 steps of m64n64 at 64 batch rows) takes far
// less time than a read from DRAM, so a weight prefetched one tile ahead into registers leaves the
// warp waiting for it, and deeper register prefetch costs the registers that keep two CTAs on a
// multiprocessor (benchmarks/NOTES.md: v17, and the two-tiles-ahead row before v13). In shared
// memory the bytes in flight cost no registers. Each lane copies, and later reads, only its own
// bytes: no barrier between lanes.
//
// A slot holds one tile of the warp's strip: the 32 lanes' 16-byte code words, then for each lane
// the 4-byte aligned scale pair that holds its 2 scale bytes (lanes 2j and 2j + 1 copy the same
// pair, each into its own place).
//
// The ring walks its tiles in order: the next copy's source and slot and the next read's slot are
// carried from tile to tile rather than computed from the tile's index, and a missing strip's slots
// are zeroed once instead of a branch at every read (the copy and read ran ~50 of the consumer's
// ~156 instructions a tile: ncu, 64-row tile, v34).
#pragma once

#include <cstdint>

#include "nvfp4/fragment_layout.h"

namespace nvfp4::sm90 {

constexpr int kWeightSlotBytes = kFragmentTileBytes + 32 * 4;

template <int Depth>
class WeightRing {
 public:
  static constexpr int kDepth = Depth;
  static_assert(kDepth >= 2, "one tile in use and at least one in flight");
  static constexpr int kWarpBytes = kDepth * kWeightSlotBytes;

  // `warp_ring`: this warp's kWarpBytes of shared memory, 16-byte aligned (128-byte aligned, the
  // copies of a quarter of the warp fill whole lines of shared memory); the strip's first tile of
  // the split; `tiles` tiles to copy, none for a missing strip, whose slots read as zero codes.
  // Starts the first kDepth - 1 copies.
  __device__ WeightRing(uint32_t warp_ring, const uint4* strip_codes, const uint16_t* strip_scales, bool exists,
                        int tiles)
      : codes_slot0_(warp_ring + 16 * (threadIdx.x % 32)),
        scales_slot0_(warp_ring + 32 * 16 + 4 * (threadIdx.x % 32)),
        scale_shift_(16 * (threadIdx.x % 2)),
        next_codes_(strip_codes + threadIdx.x % 32),
        next_scale_pair_(reinterpret_cast<const uint32_t*>(strip_scales) + threadIdx.x % 32 / 2),
        copies_left_(exists ? tiles : 0) {
    // Kept in registers: recomputing them from the warp index each tile (what ptxas otherwise
    // chooses) costs more instructions than the registers.
    asm volatile("" : "+r"(codes_slot0_), "+r"(scales_slot0_), "+r"(scale_shift_));
    if (!exists) {
#pragma unroll
      for (int slot = 0; slot < kDepth; ++slot) {
        asm volatile("st.shared.v4.u32 [%0], {%1, %1, %1, %1};\n" ::"r"(codes_slot0_ + slot * kWeightSlotBytes),
                     "r"(0u)
                     : "memory");
        asm volatile("st.shared.u32 [%0], %1;\n" ::"r"(scales_slot0_ + slot * kWeightSlotBytes), "r"(0u) : "memory");
      }
    }
#pragma unroll
    for (int i = 0; i < kDepth - 1; ++i) copy_next();
  }

  // Starts copying the next tile into its slot and closes a cp.async group, empty past the last
  // tile: the groups stay one a tile, which read_next() counts on.
  __device__ __forceinline__ void copy_next() {
    if (copies_left_ > 0) {
      asm volatile("cp.async.cg.shared.global [%0], [%1], 16;\n" ::"r"(codes_slot0_ + copy_slot_), "l"(next_codes_)
                   : "memory");
      asm volatile("cp.async.ca.shared.global [%0], [%1], 4;\n" ::"r"(scales_slot0_ + copy_slot_),
                   "l"(next_scale_pair_)
                   : "memory");
      next_codes_ += 32, next_scale_pair_ += 16, --copies_left_;
    }
    asm volatile("cp.async.commit_group;\n" ::: "memory");
    copy_slot_ = next_slot(copy_slot_);
  }

  // The next tile's code word and scale bytes (row g's in the low byte), once its copy has landed.
  // That tile's group is the kDepth-th newest of this lane: the kDepth - 1 copies issued after it
  // may still run.
  __device__ __forceinline__ void read_next(uint4& tile_codes, uint32_t& tile_scales) {
    asm volatile("cp.async.wait_group %0;\n" ::"n"(kDepth - 1) : "memory");
    uint32_t pair;
    asm volatile("ld.shared.v4.u32 {%0, %1, %2, %3}, [%4];\n"
                 : "=r"(tile_codes.x), "=r"(tile_codes.y), "=r"(tile_codes.z), "=r"(tile_codes.w)
                 : "r"(codes_slot0_ + read_slot_)
                 : "memory");
    asm volatile("ld.shared.u32 %0, [%1];\n" : "=r"(pair) : "r"(scales_slot0_ + read_slot_) : "memory");
    tile_scales = pair >> scale_shift_;
    read_slot_ = next_slot(read_slot_);
  }

 private:
  static __device__ __forceinline__ uint32_t next_slot(uint32_t slot) {
    return slot == (kDepth - 1) * kWeightSlotBytes ? 0 : slot + kWeightSlotBytes;
  }

  uint32_t codes_slot0_;   // this lane's code word in slot 0 (shared address)
  uint32_t scales_slot0_;  // this lane's scale pair in slot 0
  int scale_shift_;        // 16 for odd lanes: their scales are the pair's high half
  const uint4* next_codes_;          // this lane's code word of the next tile to copy
  const uint32_t* next_scale_pair_;  // the scale pair holding this lane's scales, same tile
  int copies_left_;                  // tiles not yet copied
  uint32_t copy_slot_ = 0;           // byte offset of the next copy's slot
  uint32_t read_slot_ = 0;           // and of the next read's
};

}  // namespace nvfp4::sm90
