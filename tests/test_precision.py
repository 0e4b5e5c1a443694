"""Every loss program multiplies float32 at full precision on GPU and TPU."""

import re

import jax
import jax.numpy as jnp
import pytest
from jax import export

from tests.cases import CASES
from tests.conventions import _data

_PRODUCT = re.compile(r"stablehlo\.(?:dot_general|convolution)[^\n]*")


@pytest.mark.slow
def test_no_loss_multiplies_float32_at_default_precision_on_accelerators():
    """At the default precision XLA:TPU rounds the float32 operands of a dot or convolution to
    bfloat16 and XLA:GPU may use TF32, which the CPU tests cannot see: every float dot and
    convolution in the value+grad of every configuration, exported for cuda and tpu (both
    branches of ``lax.platform_dependent``), asks for HIGHEST."""
    offenders = {}
    for name, case in CASES.items():
        d = _data(case)
        program = jax.jit(jax.value_and_grad(lambda z, y, case=case: jnp.sum(case(z, y))))
        text = export.export(program, platforms=["cuda", "tpu"])(d["z"], d["y"]).mlir_module()
        default = [op for op in _PRODUCT.findall(text)
                   if re.search(r"x(?:f32|bf16|f16)>", op) and "HIGHEST" not in op]
        if default:
            offenders[name] = default[0][:160]
    assert not offenders, offenders
