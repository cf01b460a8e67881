// Host-only tests of csrc/include/nvfp4: the rounding functions against brute-force nearest
// searches, the decoders against their definitions, and the swizzled offset against the
// reshape/permute definition of DESIGN.md section 2. Torch-free; run by ctest.

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <limits>
#include <random>
#include <vector>

#include "expect.h"
#include "nvfp4/format.h"
#include "nvfp4/fragment_layout.h"
#include "nvfp4/layout.h"

namespace {

// Nearest of `count` ascending candidates to v (double arithmetic), ties to the even index.
template <typename Value>
int nearest_even_index(double v, int count, Value value_of) {
  int best = 0;
  for (int i = 1; i < count; ++i) {
    const double d_best = std::fabs(v - value_of(best)), d = std::fabs(v - value_of(i));
    if (d < d_best || (d == d_best && i % 2 == 0)) best = i;
  }
  return best;
}

double e4m3_definition(int byte) {  // non-negative, finite bytes 0..0x7E
  const int exponent = byte >> 3, mantissa = byte & 7;
  return exponent == 0 ? std::ldexp(mantissa, -9) : std::ldexp(1.0 + mantissa / 8.0, exponent - 7);
}

void test_e4m3_decoder() {
  for (int byte = 0; byte < 256; ++byte) {
    const float decoded = nvfp4::e4m3_to_float(static_cast<uint8_t>(byte));
    if ((byte & 0x7F) == 0x7F) {
      EXPECT(std::isnan(decoded), "byte 0x%02x", byte);
      continue;
    }
    const double expected = (byte & 0x80 ? -1.0 : 1.0) * e4m3_definition(byte & 0x7F);
    EXPECT(decoded == expected, "byte 0x%02x: %g vs %g", byte, decoded, expected);
  }
}

void check_e4m3_rounding(float v) {
  // Codes 0..0x7E ascend in value; the nearest with ties to an even code (even mantissa).
  const int expected = nearest_even_index(v, 0x7F, e4m3_definition);
  const int actual = nvfp4::e4m3_from_nonnegative_float_rne(v);
  EXPECT(actual == expected, "v = %.9g: 0x%02x vs 0x%02x", v, actual, expected);
}

void test_e4m3_rounding() {
  for (int byte = 0; byte < 0x7E; ++byte) {
    const float low = static_cast<float>(e4m3_definition(byte));
    const float high = static_cast<float>(e4m3_definition(byte + 1));
    const float middle = 0.5f * (low + high);  // exact: both are short binary fractions
    for (float v : {low, high, middle, std::nextafter(middle, 0.0f), std::nextafter(middle, 1e9f)}) {
      check_e4m3_rounding(v);
    }
  }
  std::mt19937 rng(1);
  std::uniform_real_distribution<float> exponent(-40.0f, 8.8f);
  for (int i = 0; i < 200000; ++i) {
    const float v = std::fmin(std::exp2(exponent(rng)), 448.0f);
    check_e4m3_rounding(v);
  }
  check_e4m3_rounding(0.0f);
  check_e4m3_rounding(std::numeric_limits<float>::denorm_min());
}

void test_e2m1() {
  const double magnitudes[8] = {0, 0.5, 1, 1.5, 2, 3, 4, 6};
  for (int code = 0; code < 16; ++code) {
    const double expected = (code & 8 ? -1 : 1) * magnitudes[code & 7];
    EXPECT(nvfp4::e2m1_to_float(static_cast<uint8_t>(code)) == expected, "code %d", code);
  }
  std::mt19937 rng(2);
  std::uniform_real_distribution<float> value(-8.0f, 8.0f);
  std::vector<float> inputs;
  for (int i = 0; i < 100000; ++i) inputs.push_back(value(rng));
  for (double tie : {0.25, 0.75, 1.25, 1.75, 2.5, 3.5, 5.0}) {
    const float t = static_cast<float>(tie);
    for (float v : {t, std::nextafter(t, 0.0f), std::nextafter(t, 9.0f)}) {
      inputs.push_back(v);
      inputs.push_back(-v);
    }
  }
  for (float v : inputs) {
    const int magnitude = nearest_even_index(std::fabs(v), 8, [&](int i) { return magnitudes[i]; });
    const uint8_t actual = nvfp4::e2m1_from_float_rne_satfinite(v);
    EXPECT((actual & 7) == magnitude && ((actual >> 3) == (std::signbit(v) ? 1 : 0)), "v = %.9g -> %d", v,
           actual);
  }
  // Every fp32 in [0, +Inf] against the threshold form of the rounding rule (DESIGN.md section
  // 1): <= 0.25 -> 0, < 0.75 -> 0.5, <= 1.25 -> 1, < 1.75 -> 1.5, <= 2.5 -> 2, < 3.5 -> 3, <= 5 -> 4.
  const uint32_t infinity = nvfp4::float_bits(INFINITY);
  int64_t mismatches = 0;
  for (uint32_t bits = 0; bits <= infinity; ++bits) {
    const float a = nvfp4::float_from_bits(bits);
    const int expected = (a > 0.25f) + (a >= 0.75f) + (a > 1.25f) + (a >= 1.75f) + (a > 2.5f) + (a >= 3.5f) + (a > 5.0f);
    mismatches += nvfp4::e2m1_from_float_rne_satfinite(a) != expected;
  }
  EXPECT(mismatches == 0, "%ld of the fp32 values in [0, +Inf] round differently from the thresholds",
         long(mismatches));
  EXPECT(nvfp4::e2m1_from_float_rne_satfinite(1e30f) == 7, "saturation");
  EXPECT(nvfp4::e2m1_from_float_rne_satfinite(-INFINITY) == 15, "saturation of -inf");
}

// The block scale's byte with the division of its definition against divide_by_e2m1_max, for
// every fp32 product gs * amax >= 0 (+Inf included).
void test_block_scale_division() {
  const uint32_t infinity = nvfp4::float_bits(INFINITY);
  int64_t mismatches = 0;
  for (uint32_t bits = 0; bits <= infinity; ++bits) {
    const float product = nvfp4::float_from_bits(bits);
    float divided = product / nvfp4::kE2M1Max;
    divided = divided < 448.0f ? divided : 448.0f;
    const float unrounded = nvfp4::unrounded_block_scale(product, 1.0f);
    if (nvfp4::float_bits(unrounded) == nvfp4::float_bits(divided)) continue;  // the same float, so the same byte
    mismatches += nvfp4::e4m3_from_nonnegative_float_rne(unrounded) != nvfp4::e4m3_from_nonnegative_float_rne(divided);
  }
  EXPECT(mismatches == 0, "%ld products get another scale byte than (gs * amax) / 6 gives", long(mismatches));
}

void test_quantize_block() {
  float block[16];
  uint8_t codes[16];
  for (int i = 0; i < 16; ++i) block[i] = 0.25f * static_cast<float>(i - 8);
  block[3] = 6.0f;  // amax 6 with gs 1: scale 1.0 (0x38), values land on the grid
  EXPECT(nvfp4::quantize_block(block, 1.0f, codes) == 0x38, "scale of an exact block");
  EXPECT(nvfp4::e2m1_to_float(codes[3]) == 6.0f && nvfp4::e2m1_to_float(codes[0]) == -2.0f, "codes");
  block[5] = NAN;
  EXPECT(nvfp4::quantize_block(block, 1.0f, codes) == nvfp4::kE4M3NaN && codes[3] == 0, "non-finite block");
  block[5] = 0.0f;
  EXPECT(nvfp4::quantize_block(block, 0.0f, codes) == nvfp4::kE4M3NaN, "invalid global scale");
  EXPECT(nvfp4::global_scale_from_amax(0.0f) == 1.0f && nvfp4::global_scale_from_amax(NAN) == 1.0f, "gs rule");
  EXPECT(nvfp4::global_scale_from_amax(1e-40f) == std::ldexp(1.0f, 126), "gs cap");
}

void test_swizzled_offset() {
  for (int64_t rows : {1, 127, 128, 150, 300}) {
    for (int64_t cols : {1, 3, 4, 7, 16}) {
      const int64_t padded_rows = nvfp4::round_up(rows, 128), padded_cols = nvfp4::round_up(cols, 4);
      std::vector<int> seen(padded_rows * padded_cols, 0);
      for (int64_t r = 0; r < padded_rows; ++r) {
        for (int64_t c = 0; c < padded_cols; ++c) {
          // Index of (r, c) in reshape(Rp/128, 4, 32, Sp/4, 4).permute(0, 3, 2, 1, 4).
          const int64_t a = r / 128, b = (r % 128) / 32, r32 = r % 32, d = c / 4, e = c % 4;
          const int64_t expected = (((a * (padded_cols / 4) + d) * 32 + r32) * 4 + b) * 4 + e;
          const int64_t actual = nvfp4::swizzled_scale_offset(r, c, padded_cols);
          EXPECT(actual == expected, "(%ld, %ld) of [%ld, %ld]", long(r), long(c), long(rows), long(cols));
          if (actual >= 0 && actual < static_cast<int64_t>(seen.size())) ++seen[actual];
        }
      }
      for (int count : seen) EXPECT(count == 1, "the offset is a bijection for [%ld, %ld]", long(rows), long(cols));
    }
  }
}

}  // namespace

// Step order: each of a tile row's 32 pairs in exactly one place, and each chunk q = 2s + h holding
// the columns that wgmma k16 step s multiplies at MMA k 8h + 2t + c (t = 0..3, c = 0, 1): column
// 16t + 4s + 2h + c, the fragment layout's lane t, step s (fragment_layout.h).
void test_step_order() {
  for (int pair = 0; pair < nvfp4::kFragmentK / 2; ++pair) {
    const int chunk = nvfp4::step_order_chunk(pair), word = nvfp4::step_order_word(pair);
    EXPECT(chunk >= 0 && chunk < 8 && word >= 0 && word < 4, "pair %d", pair);
    EXPECT(nvfp4::step_order_pair(chunk, word) == pair, "pair %d", pair);
    const int s = chunk / 2, h = chunk % 2, t = word;  // the pair's first column is 2 * pair
    EXPECT(2 * pair == 16 * t + 4 * s + 2 * h, "pair %d: column %d, step %d", pair, 2 * pair, s);
  }
}

int main() {
  test_e4m3_decoder();
  test_e4m3_rounding();
  test_e2m1();
  test_block_scale_division();
  test_quantize_block();
  test_swizzled_offset();
  test_step_order();
  const int failures = nvfp4::testing::failures;
  std::printf("%s: %d failure(s)\n", failures ? "FAILED" : "PASSED", failures);
  return failures ? 1 : 0;
}
