// The Blackwell (SM100 and SM120) block-scaled NVFP4 GEMM's kernel types, kept apart from the
// launch code: out = alpha * (A @ B^T) + bias with A [M, K] and B [N, K] both NVFP4 (E2M1 codes,
// one E4M3 scale per 16 values along K, the scales in the swizzled layout of DESIGN.md section 2),
// fp32 accumulation and epilogue, one rounding to a bf16 or fp16 output [M, N].
//
// Built from CUTLASS's collective builders as in its examples 72_blackwell_narrow_precision_gemm
// (SM100) and 79_blackwell_geforce_gemm (SM120): OpClassBlockScaledTensorOp with
// nv_float4_t<float_e2m1_t> operands (the block-scaled FP4 MMA with 16-value scale blocks), A
// row-major and B column-major (both K-major: B is a Linear layer's [out_features, in_features]
// weight), 32-element (16-byte) operand alignment. The epilogue computes alpha * acc + bias in
// fp32: alpha a device scalar broadcast to every column or one value a column, the bias one value
// a column (or none). Each architecture's configurations: sm100/fp4_gemm_configs.cuh,
// sm120/fp4_gemm_configs.cuh.
#pragma once

#include <cute/tensor.hpp>
#include <cutlass/cutlass.h>
#include <cutlass/detail/sm100_blockscaled_layout.hpp>
#include <cutlass/epilogue/collective/collective_builder.hpp>
#include <cutlass/epilogue/thread/activation.h>
#include <cutlass/gemm/collective/collective_builder.hpp>
#include <cutlass/gemm/device/gemm_universal_adapter.h>
#include <cutlass/gemm/kernel/gemm_universal.hpp>

namespace nvfp4::sm1xx {

// One GEMM configuration: the architecture, the output type, the tile (M, N, K) of one MMA on SM100
// (128 rows on one SM, 256 on a pair) or of one CTA on SM120, the cluster, and the mainloop and
// epilogue schedules that go with them.
template <typename ArchTag, typename ElementOut_, typename TileShape, typename ClusterShape, typename MainloopSchedule,
          typename EpilogueSchedule>
struct Fp4GemmTraits {
  using ElementOut = ElementOut_;
  using ElementAB = cutlass::nv_float4_t<cutlass::float_e2m1_t>;
  using LayoutA = cutlass::layout::RowMajor;
  using LayoutB = cutlass::layout::ColumnMajor;
  using LayoutOut = cutlass::layout::RowMajor;
  static constexpr int kAlignmentAB = 32;  // values: 16 bytes of E2M1 codes
  static constexpr int kAlignmentOut = 128 / cutlass::sizeof_bits<ElementOut>::value;

  // out = alpha * acc + bias in fp32, one rounding; C is not read (beta stays 0).
  using Fusion = cutlass::epilogue::fusion::PerColLinCombPerColBiasEltAct<
      cutlass::epilogue::thread::Identity, ElementOut, float, ElementOut, ElementOut, float>;
  using CollectiveEpilogue = typename cutlass::epilogue::collective::CollectiveBuilder<
      ArchTag, cutlass::arch::OpClassBlockScaledTensorOp, TileShape, ClusterShape,
      cutlass::epilogue::collective::EpilogueTileAuto, float, float, void, LayoutOut, kAlignmentOut, ElementOut,
      LayoutOut, kAlignmentOut, EpilogueSchedule, Fusion>::CollectiveOp;
  using CollectiveMainloop = typename cutlass::gemm::collective::CollectiveBuilder<
      ArchTag, cutlass::arch::OpClassBlockScaledTensorOp, ElementAB, LayoutA, kAlignmentAB, ElementAB, LayoutB,
      kAlignmentAB, float, TileShape, ClusterShape,
      cutlass::gemm::collective::StageCountAutoCarveout<static_cast<int>(
          sizeof(typename CollectiveEpilogue::SharedStorage))>,
      MainloopSchedule>::CollectiveOp;
  // The tile scheduler left at CUTLASS's default: persistent (PersistentTileSchedulerSm100, for the
  // SM100 and SM120 kernels alike), one CTA (or pair) a multiprocessor walking the output tiles.
  using GemmKernel =
      cutlass::gemm::kernel::GemmUniversal<cute::Shape<int, int, int, int>, CollectiveMainloop, CollectiveEpilogue>;
  using Gemm = cutlass::gemm::device::GemmUniversalAdapter<GemmKernel>;
  // Where the kernel reads the block scales of A and B (DESIGN.md section 2 says where they are).
  using ScaleConfig = typename CollectiveMainloop::Sm1xxBlkScaledConfig;
};

}  // namespace nvfp4::sm1xx
