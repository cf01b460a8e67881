// The weight layout of the Hopper W4A16 GEMM ("fragment layout"), which
// prepare_weights_for_nvfp4_sm90 (nvfp4/layout.py) writes: the packed codes and the E4M3 block
// scales reordered so that each lane of a warp reads, with one 16-byte load, exactly the codes
// of its mma.m16n8k16 A fragments (and of a wgmma A fragment, which has the same per-warp
// layout) for four k16 steps, and with one 2-byte load their two block scales. Torch-free.
//
// The weight is cut into tiles of 16 rows (a "strip") by 64 columns; tiles are stored strip by
// strip, K-tiles in order within a strip. An MMA sums over its 16 k in any order, so the layout
// chooses which columns each step multiplies: lane l (group g = l / 4, thread t = l % 4) takes
// block t of the tile (columns 16t .. 16t + 15), four columns a step. Its A registers at step s:
//   a0: row g,     k 16t + 4s (+1)      a1: row g + 8, k 16t + 4s (+1)
//   a2: row g,     k 16t + 4s + 2 (+1)  a3: row g + 8, k 16t + 4s + 2 (+1)
// and the B fragment of x pairs the same columns, so a lane's x operands for a whole tile are 16
// contiguous values, and all its weights in a tile share two block scales (rows g and g + 8 of
// block t). The lane's 16 bytes: for each step, one 32-bit word holding the codes c0..c7 of
// a0..a3 (register r's two codes are one checkpoint byte: c_2r the low nibble, the even k): c_2r
// in the low half of the word, c_2r+1 at the same places of the high half, each code's three
// magnitude bits m0..m2 and its sign at the bits of kCodeBits[r]. The places are chosen so that
// a shift and a mask put a code's magnitude bits on bits 6..8 of a bf16 and its sign on bit 15,
// which is the bf16 e2m1 * 2^-126 exactly (subnormal codes included): register r = (word << 6 -
// 3r) & 0x81C081C0 for r < 3; register 3's bits do not fit that pattern (four 3-plus-1-bit groups
// with the sign 9 above cannot tile 16 bits) and take three shifts.
// The tile's 64 scale bytes hold, for group g, block t: the scale of row g, then of row g + 8.
#pragma once

#include <cstdint>

#include "nvfp4/format.h"

namespace nvfp4 {

constexpr int64_t kFragmentRows = 16;  // weight rows (N) of a tile
constexpr int64_t kFragmentK = 64;     // weight columns (K) of a tile: four k16 steps
constexpr int64_t kFragmentSteps = kFragmentK / kBlockSize;
constexpr int64_t kFragmentTileBytes = kFragmentRows * kFragmentK / 2;          // 512 code bytes
constexpr int64_t kFragmentTileScales = kFragmentRows * kFragmentK / kBlockSize;  // 64 scale bytes

// Padded sizes of an [n, k] weight in the fragment layout.
NVFP4_HOST_DEVICE int64_t fragment_padded_rows(int64_t n) { return round_up(n, kFragmentRows); }
NVFP4_HOST_DEVICE int64_t fragment_padded_k(int64_t k) { return round_up(k, kFragmentK); }

// x in "step order", the order in which the wgmma kernel multiplies a tile's columns
// (sm90/x_step_order_kernel.cuh derives it): a 64-wide tile row of x as 32 pairs of adjacent
// columns, pair p stored as word p / 8 of 16-byte chunk p % 8, so chunk q holds the pairs q, q + 8,
// q + 16 and q + 24. Both the ordering pass and the wgmma producer that orders x itself place
// pairs by these.
NVFP4_HOST_DEVICE int step_order_chunk(int pair) { return pair % 8; }
NVFP4_HOST_DEVICE int step_order_word(int pair) { return pair / 8; }
NVFP4_HOST_DEVICE int step_order_pair(int chunk, int word) { return chunk + 8 * word; }

// Where register r's low code (c_2r) keeps its magnitude bits m0, m1, m2 and its sign in the low
// half of a step word; its high code (c_2r+1) sits 16 bits higher.
struct CodeBits {
  int magnitude[3];
  int sign;
};
constexpr CodeBits kCodeBits[4] = {{{0, 1, 2}, 9}, {{3, 4, 5}, 12}, {{6, 7, 8}, 15}, {{10, 11, 13}, 14}};

// The 4-bit E2M1 code of weight element (row, k) of a weight in the fragment layout with
// `k_tiles` tiles per strip, on the host: the layout's definition read backwards (the C++
// benchmark's reference; nvfp4/layout.py writes it, and the GEMM tests tie the two together).
inline uint8_t fragment_code(const uint8_t* weight, int64_t k_tiles, int64_t row, int64_t k) {
  const int64_t strip = row / kFragmentRows, tile = k / kFragmentK, block = (k % kFragmentK) / kBlockSize;
  const int64_t group = row % 8, h = (row % kFragmentRows) / 8;
  const int64_t step = (k % kBlockSize) / 4, column = k % 4;  // the four columns of one step
  const int reg = static_cast<int>(2 * (column / 2) + h), half = static_cast<int>(column % 2);
  const uint8_t* word = weight + ((strip * k_tiles + tile) * 32 + group * 4 + block) * 16 + step * 4;
  const uint32_t bits = word[0] | (word[1] << 8) | (word[2] << 16) | (static_cast<uint32_t>(word[3]) << 24);
  const CodeBits& places = kCodeBits[reg];
  uint32_t code = ((bits >> (places.sign + 16 * half)) & 0x1u) << 3;
  for (int b = 0; b < 3; ++b) code |= ((bits >> (places.magnitude[b] + 16 * half)) & 0x1u) << b;
  return static_cast<uint8_t>(code);
}

// The E4M3 block-scale byte of weight element (row, k) in the fragment layout.
inline uint8_t fragment_scale(const uint8_t* weight_scale, int64_t k_tiles, int64_t row, int64_t k) {
  const int64_t strip = row / kFragmentRows, tile = k / kFragmentK, block = (k % kFragmentK) / kBlockSize;
  const int64_t group = row % 8, h = (row % kFragmentRows) / 8;
  return weight_scale[((strip * k_tiles + tile) * 8 + group) * 8 + block * 2 + h];
}

}  // namespace nvfp4

