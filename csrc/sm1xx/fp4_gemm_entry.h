// The signature of a Blackwell NVFP4 GEMM configuration's entry on ATen tensors (checked by the
// public op's CUDA entry): each architecture module declares one per configuration
// (sm100/cutlass_fp4_mm.h, sm120/cutlass_fp4_mm.h), defined in a translation unit of its own
// (NVFP4_DEFINE_FP4_GEMM_ENTRY, cutlass_fp4_mm_op.h), and its kernel op chooses among them.
#pragma once

#include <ATen/ATen.h>

#define NVFP4_FP4_GEMM_ENTRY(name)                                                                        \
  void name(const at::Tensor& a, const at::Tensor& b, const at::Tensor& block_scale_a,                   \
            const at::Tensor& block_scale_b, const at::Tensor& alpha, const c10::optional<at::Tensor>& bias, \
            at::Tensor& out)
