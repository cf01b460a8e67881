// CPU kernels of swizzle_blockscale and unswizzle_blockscale (DESIGN.md section 2). Every byte of
// a swizzled output is written; the padding is zero.

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <torch/library.h>

#include "nvfp4/layout.h"
#include "op_checks.h"

namespace nvfp4::cpu {
namespace {

// Rows of one scale matrix handled per parallel task.
constexpr int64_t kRowsPerTask = 256;

void swizzle_blockscale_out(const at::Tensor& scale, at::Tensor& out) {
  check_linear_blockscale(scale);
  const ScaleMatrices matrices = scale_matrices_of(scale, scale.size(-2), scale.size(-1));
  check_output(out, "out", with_matrix_sizes(scale, matrices.padded_rows(), matrices.padded_cols()), at::kFloat8_e4m3fn,
               scale.device());
  const auto* in = static_cast<const uint8_t*>(scale.const_data_ptr());
  auto* swizzled = static_cast<uint8_t*>(out.data_ptr());
  // Each task owns whole padded rows of one matrix, so every output byte has one writer.
  at::parallel_for(0, matrices.batch * matrices.padded_rows(), kRowsPerTask, [&](int64_t begin, int64_t end) {
    for (int64_t index = begin; index < end; ++index) {
      const int64_t b = index / matrices.padded_rows(), row = index % matrices.padded_rows();
      const uint8_t* in_row = in + b * matrices.linear_size() + row * matrices.cols;
      uint8_t* matrix = swizzled + b * matrices.swizzled_size();
      for (int64_t col = 0; col < matrices.padded_cols(); ++col) {
        const bool real = row < matrices.rows && col < matrices.cols;
        matrix[swizzled_scale_offset(row, col, matrices.padded_cols())] = real ? in_row[col] : 0;
      }
    }
  });
}

void unswizzle_blockscale_out(const at::Tensor& scale, int64_t rows, int64_t cols, at::Tensor& out) {
  check_swizzled_blockscale(scale, rows, cols);
  const ScaleMatrices matrices = scale_matrices_of(scale, rows, cols);
  check_output(out, "out", with_matrix_sizes(scale, rows, cols), at::kFloat8_e4m3fn, scale.device());
  const auto* swizzled = static_cast<const uint8_t*>(scale.const_data_ptr());
  auto* linear = static_cast<uint8_t*>(out.data_ptr());
  at::parallel_for(0, matrices.batch * rows, kRowsPerTask, [&](int64_t begin, int64_t end) {
    for (int64_t index = begin; index < end; ++index) {
      const int64_t b = index / rows, row = index % rows;
      const uint8_t* matrix = swizzled + b * matrices.swizzled_size();
      uint8_t* out_row = linear + b * matrices.linear_size() + row * cols;
      for (int64_t col = 0; col < cols; ++col) {
        out_row[col] = matrix[swizzled_scale_offset(row, col, matrices.padded_cols())];
      }
    }
  });
}

}  // namespace

TORCH_LIBRARY_IMPL(nvfp4, CPU, m) {
  m.impl("swizzle_blockscale.out", &swizzle_blockscale_out);
  m.impl("unswizzle_blockscale.out", &unswizzle_blockscale_out);
}

}  // namespace nvfp4::cpu
