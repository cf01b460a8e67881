// Where the codes and block scales of a quantized matrix live: packed codes, the linear and the
// swizzled scale layouts (DESIGN.md section 2). Torch-free, host+device.
#pragma once

#include <cstdint>

#include "nvfp4/format.h"

namespace nvfp4 {

// The swizzled layout's tile: 128 rows by 4 scale columns, 512 contiguous bytes.
constexpr int64_t kSwizzleTileRows = 128;
constexpr int64_t kSwizzleTileCols = 4;

// Byte offset of the scale of row `row`, scale column `col` in the swizzled layout of a matrix
// whose scale columns are padded to `padded_cols` (a multiple of 4). Equal to CUTLASS's
// Sm1xxBlkScaledConfig layouts, cuBLASLt's VEC16_UE4M3 and PyTorch's SWIZZLE_32_4_4.
// Kernels pass 32-bit unsigned indices where the matrix allows (the divisions become shifts).
template <typename Index>
NVFP4_HOST_DEVICE Index swizzled_scale_offset(Index row, Index col, Index padded_cols) {
  return ((row / 128) * (padded_cols / 4) + col / 4) * 512 + (row % 32) * 16 + ((row / 32) % 4) * 4 + col % 4;
}

// Shape of one quantized matrix of `rows` x `k` values stored with `padded_k` columns (codes and
// scales of the columns past k are zero), and where each of its scales lives.
struct QuantizedLayout {
  int64_t rows;
  int64_t k;         // real columns, a multiple of 16
  int64_t padded_k;  // stored columns, a multiple of 16, >= k
  bool swizzled;

  NVFP4_HOST_DEVICE int64_t packed_cols() const { return padded_k / 2; }
  // Scale columns holding real blocks.
  NVFP4_HOST_DEVICE int64_t real_scale_cols() const { return k / kBlockSize; }
  // Scale rows and columns as stored: padded to the 128x4 tile when swizzled.
  NVFP4_HOST_DEVICE int64_t scale_rows() const {
    return swizzled ? round_up(rows, kSwizzleTileRows) : rows;
  }
  NVFP4_HOST_DEVICE int64_t scale_cols() const {
    const int64_t cols = padded_k / kBlockSize;
    return swizzled ? round_up(cols, kSwizzleTileCols) : cols;
  }
  template <typename Index>
  NVFP4_HOST_DEVICE Index scale_offset(Index row, Index col) const {
    const Index cols = static_cast<Index>(scale_cols());
    return swizzled ? swizzled_scale_offset<Index>(row, col, cols) : row * cols + col;
  }
};

// A batch of linear [rows, cols] scale matrices and their swizzled [padded_rows, padded_cols]
// twins, each matrix contiguous after the previous one.
struct ScaleMatrices {
  int64_t batch;
  int64_t rows;
  int64_t cols;

  NVFP4_HOST_DEVICE int64_t padded_rows() const { return round_up(rows, kSwizzleTileRows); }
  NVFP4_HOST_DEVICE int64_t padded_cols() const { return round_up(cols, kSwizzleTileCols); }
  NVFP4_HOST_DEVICE int64_t linear_size() const { return rows * cols; }
  NVFP4_HOST_DEVICE int64_t swizzled_size() const { return padded_rows() * padded_cols(); }
};

}  // namespace nvfp4
