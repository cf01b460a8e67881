// The element types the ops take for 16/32-bit activations and outputs, as one dispatch macro.
#pragma once

#include <ATen/Dispatch.h>

// Runs the lambda body with `scalar_t` bound to float, c10::Half or c10::BFloat16.
#define NVFP4_DISPATCH_FLOAT_TYPES(TYPE, NAME, ...)            \
  AT_DISPATCH_SWITCH(TYPE, NAME,                               \
                     AT_DISPATCH_CASE(at::kFloat, __VA_ARGS__) \
                     AT_DISPATCH_CASE(at::kHalf, __VA_ARGS__)  \
                     AT_DISPATCH_CASE(at::kBFloat16, __VA_ARGS__))
