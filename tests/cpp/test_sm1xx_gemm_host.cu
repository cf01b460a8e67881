// Host-only test of the Blackwell NVFP4 GEMM (no GPU needed), for every kernel configuration of
// csrc/sm100/fp4_gemm_configs.cuh and csrc/sm120/fp4_gemm_configs.cuh and both output types:
// - CUTLASS's own layouts of the scales of A and B (Sm1xxBlkScaledConfig::tile_atom_to_shape_SFA /
//   SFB of those exact types) put the scale of every row and every K block at the byte that
//   nvfp4::swizzled_scale_offset (DESIGN.md section 2) gives, for all 16 values of the block, over
//   a grid of shapes with rows and K blocks past whole tiles, and span exactly the padded
//   [roundup(rows, 128), roundup(K / 16, 4)] bytes that the project's swizzled scales hold;
// - CUTLASS's can_implement accepts the arguments that make_arguments (sm1xx/fp4_gemm_run.cuh) builds for
//   K a multiple of 32 and N of 8, with one alpha or one a column, with a bias or without, and
//   rejects the others.
// Run by ctest.

#include <cutlass/bfloat16.h>
#include <cutlass/half.h>

#include <cstdint>
#include <cstdio>
#include <tuple>

#include "expect.h"
#include "nvfp4/layout.h"
#include "sm100/fp4_gemm_configs.cuh"
#include "sm120/fp4_gemm_configs.cuh"
#include "sm1xx/fp4_gemm_run.cuh"

namespace {

// Every (row, K value) of a rows x k operand: `layout` maps (row, k, batch 0) to the scale's byte.
template <typename Layout>
void check_scales(const char* config, const char* operand, const Layout& layout, int64_t rows, int64_t k) {
  const int64_t scale_cols = k / nvfp4::kBlockSize;
  const int64_t padded_cols = nvfp4::round_up(scale_cols, nvfp4::kSwizzleTileCols);
  const int64_t padded_rows = nvfp4::round_up(rows, nvfp4::kSwizzleTileRows);
  EXPECT(int64_t(cute::cosize(cute::filter_zeros(layout))) == padded_rows * padded_cols, "%s %s rows=%ld k=%ld: %ld bytes",
         config, operand, long(rows), long(k), long(cute::cosize(cute::filter_zeros(layout))));
  int mismatches = 0;
  const int64_t values[] = {0, 7, nvfp4::kBlockSize - 1};  // a block's values share its scale
  for (int64_t row = 0; row < rows; ++row) {
    for (int64_t col = 0; col < scale_cols; ++col) {
      const int64_t expected = nvfp4::swizzled_scale_offset<int64_t>(row, col, padded_cols);
      for (const int64_t value : values) {
        const int64_t actual = layout(cute::make_coord(int(row), int(col * nvfp4::kBlockSize + value), 0));
        if (actual != expected && ++mismatches <= 3) {
          EXPECT(actual == expected, "%s %s rows=%ld k=%ld: row %ld, K block %ld, value %ld at byte %ld, expected %ld",
                 config, operand, long(rows), long(k), long(row), long(col), long(value), long(actual), long(expected));
        }
      }
    }
  }
  EXPECT(mismatches == 0, "%s %s rows=%ld k=%ld: %d mismatches", config, operand, long(rows), long(k), mismatches);
}

// can_implement of the arguments for an m x n x k call (device pointers that are never used: the
// check reads shapes and strides only).
template <typename Traits>
void check_can_implement(const char* config, int m, int n, int k, bool accepted) {
  using Out = typename Traits::ElementOut;
  void* const device = reinterpret_cast<void*>(uintptr_t{1} << 20);
  for (const bool per_column : {false, true}) {
    for (const bool with_bias : {false, true}) {
      const nvfp4::sm1xx::Fp4GemmProblem<Out> problem{
          m, n, k, device, device, device, device, static_cast<const float*>(device), per_column,
          with_bias ? static_cast<const Out*>(device) : nullptr, static_cast<Out*>(device)};
      const auto arguments = nvfp4::sm1xx::make_arguments<Traits>(problem, 0, 148);
      const cutlass::Status status = Traits::Gemm::can_implement(arguments);
      EXPECT((status == cutlass::Status::kSuccess) == accepted, "%s m=%d n=%d k=%d alpha per column %d bias %d: %s",
             config, m, n, k, int(per_column), int(with_bias), cutlass::cutlassGetStatusString(status));
    }
  }
}

template <typename Traits>
int check_config(const char* config) {
  // K a multiple of 32 and N of 8 (16-byte rows of codes and of the output), whatever M.
  for (const auto& [m, n, k] : {std::tuple{1, 32, 64}, std::tuple{127, 96, 32}, std::tuple{1000, 4000, 4128}}) {
    check_can_implement<Traits>(config, m, n, k, true);
  }
  for (const auto& [m, n, k] : {std::tuple{1, 32, 80}, std::tuple{100, 4000, 4112}, std::tuple{100, 100, 64}}) {
    check_can_implement<Traits>(config, m, n, k, false);
  }
  using ScaleConfig = typename Traits::ScaleConfig;
  int shapes = 0;
  for (const int rows_a : {1, 100, 127, 128, 129, 200, 256, 300, 1000}) {
    for (const int rows_b : {32, 96, 160, 4000}) {
      for (const int k : {32, 64, 96, 160, 224, 320, 1056, 4128}) {  // K a multiple of 32 (CUTLASS's alignment)
        const auto problem = cute::make_shape(rows_a, rows_b, k, 1);
        check_scales(config, "A", ScaleConfig::tile_atom_to_shape_SFA(problem), rows_a, k);
        check_scales(config, "B", ScaleConfig::tile_atom_to_shape_SFB(problem), rows_b, k);
        ++shapes;
      }
    }
  }
  return shapes;
}

}  // namespace

int main() {
  using cutlass::bfloat16_t, cutlass::half_t;
  int shapes = 0, configs = 0;
  const auto check = [&](auto traits, const char* name) {
    shapes += check_config<decltype(traits)>(name);
    ++configs;
  };
  check(nvfp4::sm100::Fp4Gemm1Sm128x128<bfloat16_t>{}, "SM100 1-SM 128x128x256, bf16");
  check(nvfp4::sm100::Fp4Gemm1Sm128x128<half_t>{}, "SM100 1-SM 128x128x256, fp16");
  check(nvfp4::sm100::Fp4Gemm2Sm256x128<bfloat16_t>{}, "SM100 2-SM 256x128x256, bf16");
  check(nvfp4::sm100::Fp4Gemm2Sm256x128<half_t>{}, "SM100 2-SM 256x128x256, fp16");
  check(nvfp4::sm100::Fp4Gemm2Sm256x256<bfloat16_t>{}, "SM100 2-SM 256x256x256, bf16");
  check(nvfp4::sm100::Fp4Gemm2Sm256x256<half_t>{}, "SM100 2-SM 256x256x256, fp16");
  check(nvfp4::sm120::Fp4GemmCooperative128x128x128<bfloat16_t>{}, "SM120 cooperative 128x128x128, bf16");
  check(nvfp4::sm120::Fp4GemmCooperative128x128x128<half_t>{}, "SM120 cooperative 128x128x128, fp16");
  check(nvfp4::sm120::Fp4GemmPingpong128x128x256<bfloat16_t>{}, "SM120 ping-pong 128x128x256, bf16");
  check(nvfp4::sm120::Fp4GemmPingpong128x128x256<half_t>{}, "SM120 ping-pong 128x128x256, fp16");
  const int failures = nvfp4::testing::failures;
  std::printf("%d shapes' scale layouts (A and B) and %d configurations' can_implement over 24 argument sets each "
              "checked, %d failures\n",
              shapes, configs, failures);
  return failures == 0 ? 0 : 1;
}
