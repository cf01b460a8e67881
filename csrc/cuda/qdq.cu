// CUDA kernels of nvfp4_qdq: each 16-bit value becomes e2m1 * sf of its block (no 1/gs), exact in
// the input's dtype. The grid-stride kernel takes one thread per block of 16: two 16-byte loads,
// the scale step of quantize_block.cuh, each value rounded to its code and back to the code's
// magnitude in fp32 operations, two 16-byte stores; for decode-sized inputs four lanes share a
// block (qdq_lanes_kernel).

#include <ATen/ATen.h>
#include <c10/cuda/CUDAException.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#include <torch/library.h>

#include "cuda/cuda_type.h"
#include "cuda/dependent_launch.cuh"
#include "cuda/device_convert.cuh"
#include "cuda/launch.h"
#include "cuda/quantize_block.cuh"
#include "dtype_dispatch.h"
#include "op_checks.h"

namespace nvfp4::cuda {
namespace {

constexpr int kThreads = 256;

template <typename T, bool kVectorized>
__global__ void __launch_bounds__(kThreads)
    qdq_kernel(const T* __restrict__ input, const float* __restrict__ global_scale, int64_t blocks,
               T* __restrict__ out) {
  // A GEMM launched as a programmatic dependent (the Hopper GEMM in W4A4 mode) may start now and
  // load its weight while this rounds its activations; it waits for this kernel before reading x.
  allow_dependent_grids();
  // This kernel is itself a programmatic dependent of the kernel before it (compute capability 9.0
  // and later): it starts as that kernel's blocks exit and waits here until it has completed, as
  // the input or gs may be its output.
  wait_for_prior_grids();
  const int64_t first = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  // Each thread loads its next block one iteration ahead; the first load goes out before gs is
  // read and the table built, so that with one block a thread (decode batches) their latencies
  // overlap instead of adding up.
  BlockBits<T> next;
  if (first < blocks) load_block<T, kVectorized>(input + first * kBlockSize, next);
  __shared__ float inverse_table[kScaleTableSize];
  const float gs = *global_scale;
  const bool gs_valid = is_valid_global_scale(gs);
  fill_inverse_table(inverse_table, gs);
  for (int64_t index = first; index < blocks; index += stride) {
    const BlockBits<T> block = next;
    if (index + stride < blocks) load_block<T, kVectorized>(input + (index + stride) * kBlockSize, next);
    alignas(16) T results[kBlockSize];  // stored as 16-byte vectors
    qdq_block(block, gs, gs_valid, inverse_table, results);
    T* destination = out + index * kBlockSize;
    if constexpr (kVectorized) {
#pragma unroll
      for (int v = 0; v < kBlockSize * sizeof(T) / 16; ++v) {
        reinterpret_cast<uint4*>(destination)[v] = reinterpret_cast<const uint4*>(results)[v];
      }
    } else {
#pragma unroll
      for (int i = 0; i < kBlockSize; ++i) destination[i] = results[i];
    }
  }
}

// Small inputs (decode batches, where the GEMM after this kernel waits out its latency): four
// lanes share a block, each rounding four of its values, so that a thread's chain of dependent
// instructions is about a quarter of a whole block's; max |x| is combined across the four lanes
// (adjacent in the warp) by shuffles. One quarter block a thread, no loop: launched only where the
// grid has a thread for every quarter. 16-bit types (the op's).
constexpr int kLanesPerBlock = 4;
constexpr int kValuesPerLane = kBlockSize / kLanesPerBlock;

template <typename T, bool kVectorized>
__global__ void __launch_bounds__(kThreads)
    qdq_lanes_kernel(const T* __restrict__ input, const float* __restrict__ global_scale, int64_t blocks,
                     T* __restrict__ out) {
  static_assert(sizeof(T) == 2, "a lane's four values are two 32-bit words");
  allow_dependent_grids();  // as qdq_kernel
  wait_for_prior_grids();
  const int64_t lane_values = (blockIdx.x * int64_t{kThreads} + threadIdx.x) * kValuesPerLane;
  const bool active = lane_values < blocks * kBlockSize;
  uint32_t words[2] = {0, 0};  // values 2w (low half) and 2w + 1 of this lane
  if (active) {
    if constexpr (kVectorized) {
      const uint2 bits = __ldg(reinterpret_cast<const uint2*>(input + lane_values));
      words[0] = bits.x, words[1] = bits.y;
    } else {
      const uint16_t* elements = reinterpret_cast<const uint16_t*>(input + lane_values);
      for (int w = 0; w < 2; ++w) words[w] = elements[2 * w] | (static_cast<uint32_t>(elements[2 * w + 1]) << 16);
    }
  }
  __shared__ float inverse_table[kScaleTableSize];
  const float gs = *global_scale;
  const bool gs_valid = is_valid_global_scale(gs);
  fill_inverse_table(inverse_table, gs);
  constexpr uint32_t kAbsMask = ElementBits<T>::kAbsMask;
  const uint32_t pair_max = __vmaxu2(words[0] & kAbsMask, words[1] & kAbsMask);
  uint32_t max_bits = max(pair_max & 0xFFFFu, pair_max >> 16);
  max_bits = max(max_bits, __shfl_xor_sync(0xFFFFFFFFu, max_bits, 1));
  max_bits = max(max_bits, __shfl_xor_sync(0xFFFFFFFFu, max_bits, 2));
  if (!active) return;
  uint8_t scale_byte;
  float inverse;
  alignas(8) T results[kValuesPerLane];  // stored as one 8-byte vector
  if (encode_scale_of_amax<T>(max_bits, gs, gs_valid, inverse_table, scale_byte, inverse)) {
    const float scale = e4m3_to_float(scale_byte);
#pragma unroll
    for (int i = 0; i < kValuesPerLane; ++i) {
      const uint32_t word = words[i / 2];
      results[i] = qdq_value<T>(element_of_word<T>(word, i % 2 == 1), element_of_word<T>(word & kAbsMask, i % 2 == 1),
                                inverse, scale);
    }
  } else {
#pragma unroll
    for (int i = 0; i < kValuesPerLane; ++i) results[i] = from_float<T>(__uint_as_float(0x7FC00000u));
  }
  if constexpr (kVectorized) {
    *reinterpret_cast<uint2*>(out + lane_values) = *reinterpret_cast<const uint2*>(results);
  } else {
#pragma unroll
    for (int i = 0; i < kValuesPerLane; ++i) out[lane_values + i] = results[i];
  }
}

template <typename T>
using QdqKernel = void (*)(const T*, const float*, int64_t, T*);

// The lanes kernel where `by_lanes` (and T is 16-bit: the op's types, check_qdq_args), else the
// grid-stride one.
template <typename T>
QdqKernel<T> qdq_kernel_for(bool by_lanes, bool vectorized) {
  if constexpr (sizeof(T) == 2) {
    if (by_lanes) return vectorized ? qdq_lanes_kernel<T, true> : qdq_lanes_kernel<T, false>;
  }
  return vectorized ? qdq_kernel<T, true> : qdq_kernel<T, false>;
}

void nvfp4_qdq_out(const at::Tensor& input, const at::Tensor& global_scale, at::Tensor& out) {
  const QuantizedLayout layout = check_qdq_args(input, global_scale);
  check_output(out, "out", input.sizes(), input.scalar_type(), input.device());
  const int64_t blocks = layout.rows * layout.real_scale_cols();
  if (blocks == 0) return;
  check_supported_device(input.get_device(), "nvfp4_qdq");
  const c10::cuda::CUDAGuard device_guard(input.device());
  const cudaStream_t stream = c10::cuda::getCurrentCUDAStream();
  const at::Tensor x = input.contiguous();
  const int device = input.get_device();
  // The lanes kernel where its grid, a thread for every quarter block, is no larger than the one
  // that fills the GPU.
  const int64_t lanes_grid = (blocks * kLanesPerBlock + kThreads - 1) / kThreads;
  const bool by_lanes = lanes_grid <= int64_t{multiprocessor_count(device)} * kFillingBlocksPerMultiprocessor;
  const int64_t grid = by_lanes ? lanes_grid : grid_size(blocks, kThreads, device);
  NVFP4_DISPATCH_FLOAT_TYPES(x.scalar_type(), "nvfp4::nvfp4_qdq (CUDA)", [&] {
    using T = typename CudaType<scalar_t>::type;
    const T* values = reinterpret_cast<const T*>(x.const_data_ptr<scalar_t>());
    T* out_data = reinterpret_cast<T*>(out.mutable_data_ptr<scalar_t>());
    const float* gs = global_scale.const_data_ptr<float>();
    const bool vectorized = is_aligned(values, 16) && is_aligned(out_data, 16);
    const QdqKernel<T> kernel = qdq_kernel_for<T>(by_lanes, vectorized);
    C10_CUDA_CHECK(launch_dependent_if(has_dependent_launch(device), kernel, dim3(static_cast<unsigned>(grid)),
                                       dim3(kThreads), 0, stream, values, gs, blocks, out_data));
  });
}

}  // namespace

TORCH_LIBRARY_IMPL(nvfp4, CUDA, m) {
  m.impl("nvfp4_qdq.out", &nvfp4_qdq_out);
}

}  // namespace nvfp4::cuda
