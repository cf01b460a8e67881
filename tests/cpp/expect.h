// The host C++ tests' check: EXPECT(condition, printf-style context) counts a failure and prints
// the first 20 of them; a test's main returns failures == 0.
#pragma once

#include <cstdio>

namespace nvfp4::testing {
inline int failures = 0;
}  // namespace nvfp4::testing

#define EXPECT(condition, ...)                                             \
  do {                                                                     \
    if (!(condition)) {                                                    \
      if (++nvfp4::testing::failures <= 20) {                              \
        std::printf("FAILED %s:%d: %s: ", __FILE__, __LINE__, #condition); \
        std::printf(__VA_ARGS__);                                          \
        std::printf("\n");                                                 \
      }                                                                    \
    }                                                                      \
  } while (0)
