// Row loops of the CPU kernels: quantize and dequantize whole rows of a matrix through the
// format functions of nvfp4/format.h. Torch-free (templated on the element type, which only
// needs conversions to and from float), so the C++ benchmarks time exactly this code.
#pragma once

#include <cstdint>

#include "nvfp4/format.h"
#include "nvfp4/layout.h"

namespace nvfp4::cpu {

// Quantize the stored rows [row_begin, row_end) of `layout` (stored rows run up to
// layout.scale_rows(), which includes the swizzled layout's padding rows). Every byte of the
// outputs that belongs to these rows is written, padding included (as zero).
template <typename T>
void quantize_rows(const T* input, const QuantizedLayout& layout, float gs, uint8_t* packed,
                   uint8_t* block_scale, int64_t row_begin, int64_t row_end) {
  const int64_t real_blocks = layout.real_scale_cols();
  for (int64_t row = row_begin; row < row_end; ++row) {
    int64_t col = 0;
    if (row < layout.rows) {
      const T* x = input + row * layout.k;
      uint8_t* packed_row = packed + row * layout.packed_cols();
      for (; col < real_blocks; ++col) {
        float values[kBlockSize];
        uint8_t codes[kBlockSize];
        for (int i = 0; i < kBlockSize; ++i) values[i] = static_cast<float>(x[col * kBlockSize + i]);
        block_scale[layout.scale_offset(row, col)] = quantize_block(values, gs, codes);
        for (int i = 0; i < kBlockSize / 2; ++i) {
          packed_row[col * (kBlockSize / 2) + i] =
              static_cast<uint8_t>(codes[2 * i] | (codes[2 * i + 1] << 4));
        }
      }
      for (int64_t byte = layout.k / 2; byte < layout.packed_cols(); ++byte) packed_row[byte] = 0;
    }
    for (; col < layout.scale_cols(); ++col) block_scale[layout.scale_offset(row, col)] = 0;
  }
}

// Dequantize rows [row_begin, row_end) of `layout` (every stored column counts: layout.k equals
// layout.padded_k) into `out`, [rows, k] row-major.
template <typename OutT>
void dequantize_rows(const uint8_t* packed, const uint8_t* block_scale, const QuantizedLayout& layout,
                     float gs, OutT* out, int64_t row_begin, int64_t row_end) {
  for (int64_t row = row_begin; row < row_end; ++row) {
    const uint8_t* packed_row = packed + row * layout.packed_cols();
    OutT* out_row = out + row * layout.k;
    for (int64_t col = 0; col < layout.real_scale_cols(); ++col) {
      const uint8_t scale_byte = block_scale[layout.scale_offset(row, col)];
      for (int i = 0; i < kBlockSize / 2; ++i) {
        const uint8_t byte = packed_row[col * (kBlockSize / 2) + i];
        out_row[col * kBlockSize + 2 * i] = static_cast<OutT>(dequantize_value(byte & 0xF, scale_byte, gs));
        out_row[col * kBlockSize + 2 * i + 1] = static_cast<OutT>(dequantize_value(byte >> 4, scale_byte, gs));
      }
    }
  }
}

// nvfp4_qdq of rows [row_begin, row_end) of a [rows, k] matrix: each value becomes its E2M1
// code times its block's scale (no 1/gs), in T.
template <typename T>
void qdq_rows(const T* input, int64_t k, float gs, T* out, int64_t row_begin, int64_t row_end) {
  for (int64_t row = row_begin; row < row_end; ++row) {
    for (int64_t col = 0; col < k / kBlockSize; ++col) {
      float values[kBlockSize];
      uint8_t codes[kBlockSize];
      const T* x = input + row * k + col * kBlockSize;
      for (int i = 0; i < kBlockSize; ++i) values[i] = static_cast<float>(x[i]);
      const float scale = e4m3_to_float(quantize_block(values, gs, codes));
      for (int i = 0; i < kBlockSize; ++i) {
        out[row * k + col * kBlockSize + i] = static_cast<T>(e2m1_to_float(codes[i]) * scale);
      }
    }
  }
}

}  // namespace nvfp4::cpu
