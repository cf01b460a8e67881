"""The gradient the ops give: ``sm90_scaled_fp4_mm`` with respect to its 16-bit activation (and
bias), so that adapters can be fine-tuned on a frozen NVFP4 base on Hopper. The weight takes no
gradient. The W4A4 mode (``x_global_scale``) has none: its rounding of x is a step function.

``d x = (d out * alpha) @ (e2m1 * sf)``, in fp32 from the weight decoded once a call (its
checkpoint form from the fragment layout, then the exact products), rounded once to x's dtype."""

from __future__ import annotations

import torch

from .layout import unprepare_weights_for_nvfp4_sm90
from .ops import dequantize


def _setup_context(ctx, inputs, output) -> None:
    x, weight, weight_scale, alpha, _bias, n, x_global_scale = inputs
    ctx.save_for_backward(weight, weight_scale, alpha)
    ctx.n, ctx.k, ctx.rounds_x = n, x.shape[1], x_global_scale is not None


def _backward(ctx, grad: torch.Tensor):
    if ctx.rounds_x:
        raise RuntimeError(
            "sm90_scaled_fp4_mm has no gradient in W4A4 mode (x_global_scale given): call it without "
            "x_global_scale (W4A16), or use the emulation backend, whose rounding passes the gradient straight through"
        )
    weight, weight_scale, alpha = ctx.saved_tensors
    grad_x = grad_bias = None
    if ctx.needs_input_grad[0]:
        packed, block_scale = unprepare_weights_for_nvfp4_sm90(weight, weight_scale, ctx.n, ctx.k)
        unit_scale = torch.ones((), dtype=torch.float32, device=grad.device)
        decoded = dequantize(packed, block_scale, unit_scale, swizzled=False, out_dtype=torch.float32)
        grad_x = ((grad.float() * alpha.float().reshape(-1)) @ decoded).to(grad.dtype)
    if ctx.needs_input_grad[4]:
        grad_bias = grad.sum(0)
    return grad_x, None, None, None, grad_bias, None, None


torch.library.register_autograd("nvfp4::sm90_scaled_fp4_mm", _backward, setup_context=_setup_context)
