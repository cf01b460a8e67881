// CUDA entries of scaled_fp4_quant (kernel in quantize_kernel.cuh) and global_scale_from_amax
// (architecture-neutral: sm_80 + PTX and every requested architecture).

#include <ATen/ATen.h>
#include <c10/cuda/CUDAException.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#include <torch/library.h>

#include "cuda/cuda_type.h"
#include "cuda/device_convert.cuh"
#include "cuda/quantize_kernel.cuh"
#include "cuda/launch.h"
#include "dtype_dispatch.h"
#include "nvfp4/layout.h"
#include "op_checks.h"

namespace nvfp4::cuda {
namespace {

constexpr int kThreads = 256;

template <typename T, bool kVectorized>
void launch_quantize(const T* input, const float* global_scale, const QuantizedLayout& layout, uint8_t* packed,
                     uint8_t* block_scale, int device, cudaStream_t stream) {
  const int64_t grid = grid_size(layout.scale_rows() * layout.scale_cols(), kQuantizeThreads, device,
                                 kQuantizeBlocksPerMultiprocessor);
  const cudaError_t status =
      launch_quantize_kernel<T, kVectorized>(input, global_scale, layout, packed, block_scale, grid, stream);
  C10_CUDA_CHECK(status);
}

void scaled_fp4_quant_out(const at::Tensor& input, const at::Tensor& global_scale, bool swizzle,
                          c10::optional<int64_t> padded_k, at::Tensor& packed, at::Tensor& block_scale) {
  const QuantizedLayout layout = check_scaled_fp4_quant_args(input, global_scale, swizzle, padded_k);
  check_output(packed, "packed", {layout.rows, layout.packed_cols()}, at::kByte, input.device());
  check_output(block_scale, "block_scale", {layout.scale_rows(), layout.scale_cols()}, at::kFloat8_e4m3fn,
               input.device());
  if (layout.scale_rows() == 0 || layout.scale_cols() == 0) return;
  check_supported_device(input.get_device(), "scaled_fp4_quant");
  const c10::cuda::CUDAGuard device_guard(input.device());
  const cudaStream_t stream = c10::cuda::getCurrentCUDAStream();
  const at::Tensor x = input.contiguous();
  auto* packed_data = static_cast<uint8_t*>(packed.data_ptr());
  auto* scale_data = static_cast<uint8_t*>(block_scale.data_ptr());
  NVFP4_DISPATCH_FLOAT_TYPES(x.scalar_type(), "nvfp4::scaled_fp4_quant (CUDA)", [&] {
    using T = typename CudaType<scalar_t>::type;
    const T* values = reinterpret_cast<const T*>(x.const_data_ptr<scalar_t>());
    const bool vectorized = is_aligned(values, 16) && is_aligned(packed_data, 8);
    const float* gs = global_scale.const_data_ptr<float>();
    if (vectorized) {
      launch_quantize<T, true>(values, gs, layout, packed_data, scale_data, input.get_device(), stream);
    } else {
      launch_quantize<T, false>(values, gs, layout, packed_data, scale_data, input.get_device(), stream);
    }
  });
}

// global_scale_from_amax: max |x| as the bits of a non-negative float (their integer order is
// the float order, and every NaN's bits sit above +Inf's, so NaN propagates as in torch.amax),
// then the scale rule of format.h.
template <typename T>
__global__ void __launch_bounds__(kThreads) amax_bits_kernel(const T* __restrict__ input, int64_t count,
                                                              unsigned int* __restrict__ amax_bits) {
  unsigned int local = 0;
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < count;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    local = max(local, float_bits(to_float(input[i])) & 0x7FFFFFFFu);
  }
#pragma unroll
  for (int offset = 16; offset > 0; offset /= 2) local = max(local, __shfl_xor_sync(0xFFFFFFFFu, local, offset));
  if (threadIdx.x % 32 == 0 && local != 0) atomicMax(amax_bits, local);
}

__global__ void scale_from_amax_bits_kernel(float* out) {
  *out = global_scale_from_amax(float_from_bits(*reinterpret_cast<const unsigned int*>(out)));
}

void global_scale_from_amax_out(const at::Tensor& input, at::Tensor& out) {
  check_global_scale_from_amax_args(input, out);
  check_supported_device(input.get_device(), "global_scale_from_amax");
  const c10::cuda::CUDAGuard device_guard(input.device());
  const cudaStream_t stream = c10::cuda::getCurrentCUDAStream();
  const at::Tensor x = input.contiguous();
  float* out_data = out.mutable_data_ptr<float>();
  C10_CUDA_CHECK(cudaMemsetAsync(out_data, 0, sizeof(float), stream));
  if (x.numel() > 0) {
    NVFP4_DISPATCH_FLOAT_TYPES(x.scalar_type(), "nvfp4::global_scale_from_amax (CUDA)", [&] {
      using T = typename CudaType<scalar_t>::type;
      const int64_t grid = grid_size(x.numel(), kThreads, input.get_device(), 4);
      amax_bits_kernel<<<grid, kThreads, 0, stream>>>(reinterpret_cast<const T*>(x.const_data_ptr<scalar_t>()),
                                                      x.numel(), reinterpret_cast<unsigned int*>(out_data));
      C10_CUDA_KERNEL_LAUNCH_CHECK();
    });
  }
  scale_from_amax_bits_kernel<<<1, 1, 0, stream>>>(out_data);
  C10_CUDA_KERNEL_LAUNCH_CHECK();
}

}  // namespace

TORCH_LIBRARY_IMPL(nvfp4, CUDA, m) {
  m.impl("scaled_fp4_quant.out", &scaled_fp4_quant_out);
  m.impl("global_scale_from_amax.out", &global_scale_from_amax_out);
}

}  // namespace nvfp4::cuda
