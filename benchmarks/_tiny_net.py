"""The 2-layer conv net of the boundary train-step benchmarks (not part of the package)."""

from __future__ import annotations

import jax
import jax.numpy as jnp


def init_net(key, cin: int, nc: int, nsp: int, hidden: int = 16):
    k1, k2 = jax.random.split(key)
    w1 = jax.random.normal(k1, (3,) * nsp + (cin, hidden)) * (1.0 / (3**nsp * cin)) ** 0.5
    w2 = jax.random.normal(k2, (1,) * nsp + (hidden, nc)) * (1.0 / hidden) ** 0.5
    return {"w1": w1, "b1": jnp.zeros(hidden), "w2": w2, "b2": jnp.zeros(nc)}


def apply_net(params, x):
    nsp = x.ndim - 2
    spec = "N" + "DHW"[3 - nsp:] + "C"
    dn = (spec, "DHW"[3 - nsp:] + "IO", spec)
    h = jax.lax.conv_general_dilated(x, params["w1"], (1,) * nsp, "SAME",
                                     dimension_numbers=dn) + params["b1"]
    h = jax.nn.relu(h)
    return jax.lax.conv_general_dilated(h, params["w2"], (1,) * nsp, "SAME",
                                        dimension_numbers=dn) + params["b2"]
