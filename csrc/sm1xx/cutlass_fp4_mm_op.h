// One configuration of the Blackwell NVFP4 GEMM (fp4_gemm_traits.cuh) run on ATen tensors: the
// private kernel ops of _C_sm100 and _C_sm120 (cutlass_scaled_fp4_mm's kernels) call this with
// arguments the public op's CUDA entry has checked. The workspace comes from the caching
// allocator, the launch goes to the current stream, and a CUTLASS failure becomes a clear error.
#pragma once

#include <ATen/ATen.h>
#include <c10/cuda/CUDAException.h>
#include <c10/cuda/CUDAStream.h>

#include <array>
#include <mutex>

#include <cutlass/bfloat16.h>
#include <cutlass/half.h>

#include "sm1xx/fp4_gemm_entry.h"
#include "sm1xx/fp4_gemm_run.cuh"

namespace nvfp4::sm1xx {

constexpr int kMaxDevices = 64;

// The multiprocessors of `device`, queried once per device.
inline int multiprocessors_of(int device) {
  TORCH_CHECK(device >= 0 && device < kMaxDevices, "CUDA device index out of range: ", device);
  static std::array<std::once_flag, kMaxDevices> queried;
  static std::array<int, kMaxDevices> counts;
  std::call_once(queried[device], [&] {
    C10_CUDA_CHECK(cudaDeviceGetAttribute(&counts[device], cudaDevAttrMultiProcessorCount, device));
  });
  return counts[device];
}

// A clear error where this build's machine code of configuration `Traits` does not run on
// `device` (the current device): the architecture module serves every GPU of its major, but an
// architecture-specific target runs only on its own compute capability. Asked once per device.
template <typename Traits>
void check_kernel_runs_on(int device) {
  TORCH_CHECK(device >= 0 && device < kMaxDevices, "CUDA device index out of range: ", device);
  static std::array<std::once_flag, kMaxDevices> checked;
  static std::array<bool, kMaxDevices> runs;
  std::call_once(checked[device], [&] {
    const cudaError_t status = kernel_image_status<Traits>();
    runs[device] = status == cudaSuccess;
    // Any other failure is an error of the CUDA runtime (not remembered: the next call asks again).
    if (status != cudaErrorNoKernelImageForDevice && status != cudaErrorInvalidDeviceFunction) C10_CUDA_CHECK(status);
  });
  if (runs[device]) return;
  cudaDeviceProp properties{};  // only on the way to the error
  C10_CUDA_CHECK(cudaGetDeviceProperties(&properties, device));
  const int major = properties.major, minor = properties.minor;
  TORCH_CHECK_NOT_IMPLEMENTED(false, "nvfp4::cutlass_scaled_fp4_mm: this build holds no machine code of its kernels ",
                              "for ", properties.name, " (compute capability ", major, ".", minor,
                              "); nvfp4.build_info() lists the targets it was built for. Rebuild with "
                              "TORCH_CUDA_ARCH_LIST naming ", major, ".", minor, "a or the family target ", major,
                              ".0f.");
}

// out [M, N] = alpha * (a @ b^T) + bias with the configuration `Traits` (its ElementOut is out's
// dtype); the caller has checked every argument and made a's device current.
template <typename Traits>
void run_cutlass_fp4_mm(const at::Tensor& a, const at::Tensor& b, const at::Tensor& block_scale_a,
                        const at::Tensor& block_scale_b, const at::Tensor& alpha,
                        const c10::optional<at::Tensor>& bias, at::Tensor& out) {
  using Out = typename Traits::ElementOut;
  const int device = a.get_device();
  const Fp4GemmProblem<Out> problem{static_cast<int>(a.size(0)),
                                    static_cast<int>(b.size(0)),
                                    static_cast<int>(a.size(1) * 2),
                                    a.const_data_ptr(),
                                    b.const_data_ptr(),
                                    block_scale_a.const_data_ptr(),
                                    block_scale_b.const_data_ptr(),
                                    alpha.const_data_ptr<float>(),
                                    alpha.numel() > 1,
                                    bias.has_value() ? static_cast<const Out*>(bias->const_data_ptr()) : nullptr,
                                    static_cast<Out*>(out.mutable_data_ptr())};
  check_kernel_runs_on<Traits>(device);
  const auto arguments = make_arguments<Traits>(problem, device, multiprocessors_of(device));
  at::Tensor workspace =
      at::empty({static_cast<int64_t>(workspace_bytes<Traits>(arguments))}, a.options().dtype(at::kByte));
  const cutlass::Status status =
      run_fp4_gemm<Traits>(arguments, workspace.mutable_data_ptr(), c10::cuda::getCurrentCUDAStream(device).stream());
  TORCH_CHECK(status == cutlass::Status::kSuccess, "nvfp4::cutlass_scaled_fp4_mm: CUTLASS could not run the GEMM (",
              cutlass::cutlassGetStatusString(status), ") for M = ", problem.m, ", N = ", problem.n,
              ", K = ", problem.k);
  C10_CUDA_KERNEL_LAUNCH_CHECK();
}

// The same with the configuration `Config` for out's dtype (bf16 or fp16).
template <template <typename> class Config>
void run_cutlass_fp4_mm_for_out(const at::Tensor& a, const at::Tensor& b, const at::Tensor& block_scale_a,
                                const at::Tensor& block_scale_b, const at::Tensor& alpha,
                                const c10::optional<at::Tensor>& bias, at::Tensor& out) {
  if (out.scalar_type() == at::kHalf) {
    run_cutlass_fp4_mm<Config<cutlass::half_t>>(a, b, block_scale_a, block_scale_b, alpha, bias, out);
  } else {
    run_cutlass_fp4_mm<Config<cutlass::bfloat16_t>>(a, b, block_scale_a, block_scale_b, alpha, bias, out);
  }
}

}  // namespace nvfp4::sm1xx

// Defines the entry `name` (NVFP4_FP4_GEMM_ENTRY) of configuration `Config`: one a translation unit.
#define NVFP4_DEFINE_FP4_GEMM_ENTRY(name, Config)                                                                  \
  NVFP4_FP4_GEMM_ENTRY(name) {                                                                                     \
    ::nvfp4::sm1xx::run_cutlass_fp4_mm_for_out<Config>(a, b, block_scale_a, block_scale_b, alpha, bias, out); \
  }
