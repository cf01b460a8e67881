#include "cuda/arch_dispatch.h"

#include <ATen/ATen.h>
#include <c10/cuda/CUDAException.h>
#include <cuda_runtime_api.h>
#include <torch/library.h>

#include <array>
#include <mutex>
#include <optional>

#include "nvfp4/arch.h"

namespace nvfp4 {
namespace {

constexpr std::array<const char*, 3> kArchModules = {"sm90", "sm100", "sm120"};

std::optional<c10::OperatorHandle> registered_op(const std::string& name) {
  return c10::Dispatcher::singleton().findSchema({"nvfp4::" + name, ""});
}

bool has_cuda_kernel(const std::string& name) {
  const auto op = registered_op(name);
  return op.has_value() && op->hasKernelForDispatchKey(c10::DispatchKey::CUDA);
}

// "sm100, sm120": the modules of this build that registered a kernel of `family`.
std::string modules_holding(const std::string& family) {
  std::string held;
  for (const char* module : kArchModules) {
    if (!has_cuda_kernel(family + "_" + module)) continue;
    held += (held.empty() ? "" : ", ") + std::string(module);
  }
  return held.empty() ? "none" : held;
}


// What the dispatch needs to know of a GPU, queried once per device: cudaGetDeviceProperties
// takes long enough to matter on a GEMM's path.
struct DeviceInfo {
  std::string name;
  int major = 0;
  int minor = 0;
  std::string module;  // the architecture module serving it, or ""
};

const DeviceInfo& device_info(c10::DeviceIndex index) {
  constexpr int kMaxDevices = 64;
  TORCH_CHECK(index >= 0 && index < kMaxDevices, "CUDA device index out of range: ", index);
  static std::array<std::once_flag, kMaxDevices> queried;
  static std::array<DeviceInfo, kMaxDevices> infos;
  std::call_once(queried[index], [&] {
    cudaDeviceProp props{};
    C10_CUDA_CHECK(cudaGetDeviceProperties(&props, index));
    infos[index] = {props.name, props.major, props.minor, arch_module_for_capability(props.major, props.minor)};
  });
  return infos[index];
}

}  // namespace

c10::OperatorHandle find_arch_op(const std::string& family, const c10::Device& device) {
  TORCH_CHECK(device.is_cuda(), "nvfp4::", family, " needs a CUDA device, got ", device);
  const DeviceInfo& info = device_info(device.index());
  const std::string& module = info.module;
  const std::string name = family + "_" + module;
  TORCH_CHECK_NOT_IMPLEMENTED(
      !module.empty() && has_cuda_kernel(name), "nvfp4::", family, " has no kernel for ", info.name,
      " (compute capability ", info.major, ".", info.minor, "): ",
      module.empty() ? "no architecture module of nvfp4 targets this GPU"
                     : "this build left out the " + module + " module",
      "; architecture modules with this kernel in this build: ", modules_holding(family),
      ". Rebuild with TORCH_CUDA_ARCH_LIST naming the GPU's architecture.");
  return *registered_op(name);
}

namespace {

at::Tensor arch_module_probe(const at::Tensor& anchor) {
  return find_arch_op("_arch_probe", anchor.device())
      .typed<at::Tensor(const at::Tensor&)>()
      .call(anchor);
}

}  // namespace

TORCH_LIBRARY_IMPL(nvfp4, CUDA, m) { m.impl("_arch_module_probe", &arch_module_probe); }

}  // namespace nvfp4
