// CUDA kernels of swizzle_blockscale and unswizzle_blockscale (DESIGN.md section 2). Scale
// matrices are small (1/16 of the values): one thread per byte, every output byte written.

#include <ATen/ATen.h>
#include <c10/cuda/CUDAException.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#include <torch/library.h>

#include "cuda/launch.h"
#include "nvfp4/layout.h"
#include "op_checks.h"

namespace nvfp4::cuda {
namespace {

constexpr int kThreads = 256;

// Over every padded (row, col) of each matrix: its swizzled byte takes the linear value or zero.
__global__ void __launch_bounds__(kThreads)
    swizzle_kernel(const uint8_t* __restrict__ linear, uint8_t* __restrict__ swizzled, ScaleMatrices m) {
  const int64_t matrix = m.swizzled_size(), padded_cols = m.padded_cols();
  for (int64_t index = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; index < m.batch * matrix;
       index += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t b = index / matrix, row = index % matrix / padded_cols, col = index % padded_cols;
    const bool real = row < m.rows && col < m.cols;
    swizzled[b * matrix + swizzled_scale_offset(row, col, padded_cols)] =
        real ? linear[b * m.linear_size() + row * m.cols + col] : 0;
  }
}

__global__ void __launch_bounds__(kThreads)
    unswizzle_kernel(const uint8_t* __restrict__ swizzled, uint8_t* __restrict__ linear, ScaleMatrices m) {
  const int64_t matrix = m.linear_size();
  for (int64_t index = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; index < m.batch * matrix;
       index += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t b = index / matrix, row = index % matrix / m.cols, col = index % m.cols;
    linear[index] = swizzled[b * m.swizzled_size() + swizzled_scale_offset(row, col, m.padded_cols())];
  }
}

void swizzle_blockscale_out(const at::Tensor& scale, at::Tensor& out) {
  check_linear_blockscale(scale);
  const ScaleMatrices m = scale_matrices_of(scale, scale.size(-2), scale.size(-1));
  check_output(out, "out", with_matrix_sizes(scale, m.padded_rows(), m.padded_cols()), at::kFloat8_e4m3fn,
               scale.device());
  if (out.numel() == 0) return;
  check_supported_device(scale.get_device(), "swizzle_blockscale");
  const c10::cuda::CUDAGuard device_guard(scale.device());
  const int64_t grid = grid_size(out.numel(), kThreads, scale.get_device());
  swizzle_kernel<<<grid, kThreads, 0, c10::cuda::getCurrentCUDAStream()>>>(
      static_cast<const uint8_t*>(scale.const_data_ptr()), static_cast<uint8_t*>(out.data_ptr()), m);
  C10_CUDA_KERNEL_LAUNCH_CHECK();
}

void unswizzle_blockscale_out(const at::Tensor& scale, int64_t rows, int64_t cols, at::Tensor& out) {
  check_swizzled_blockscale(scale, rows, cols);
  const ScaleMatrices m = scale_matrices_of(scale, rows, cols);
  check_output(out, "out", with_matrix_sizes(scale, rows, cols), at::kFloat8_e4m3fn, scale.device());
  if (out.numel() == 0) return;
  check_supported_device(scale.get_device(), "unswizzle_blockscale");
  const c10::cuda::CUDAGuard device_guard(scale.device());
  const int64_t grid = grid_size(out.numel(), kThreads, scale.get_device());
  unswizzle_kernel<<<grid, kThreads, 0, c10::cuda::getCurrentCUDAStream()>>>(
      static_cast<const uint8_t*>(scale.const_data_ptr()), static_cast<uint8_t*>(out.data_ptr()), m);
  C10_CUDA_KERNEL_LAUNCH_CHECK();
}

}  // namespace

TORCH_LIBRARY_IMPL(nvfp4, CUDA, m) {
  m.impl("swizzle_blockscale.out", &swizzle_blockscale_out);
  m.impl("unswizzle_blockscale.out", &unswizzle_blockscale_out);
}

}  // namespace nvfp4::cuda
