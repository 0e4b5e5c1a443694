"""Test set-up (must precede any JAX import): 8 virtual CPU devices for the sharding tests, and
XLA:CPU's backend (LLVM) optimisation at level 0. The suite compiles thousands of small programs
(every eager primitive on a new shape is one) and runs each once or twice, so compiling is most
of its time; level 0 cuts it by a quarter to a half. XLA:CPU's older elemental emitter instead
of its MLIR fusion emitters halves it again (a probe of tests/conventions.py: 7.7 s -> 3.3 s);
one codegen module per program and no expensive LLVM passes save another ~10-15%.
XLA's own HLO passes (fusion included) still run; floats may differ in the last bit from the
default build, which the tests' tolerances and the doctests' printed precision allow.
Benchmarks keep the default.
"""

import os

os.environ.setdefault("JAX_PLATFORMS", "cpu")
flags = os.environ.get("XLA_FLAGS", "")
if "xla_force_host_platform_device_count" not in flags:
    flags += " --xla_force_host_platform_device_count=8"
if "xla_backend_optimization_level" not in flags:
    flags += " --xla_backend_optimization_level=0"
if "xla_cpu_use_fusion_emitters" not in flags:
    flags += " --xla_cpu_use_fusion_emitters=false"
# One LLVM module per program instead of several compiled on threads (the workers already fill
# the cores), and LLVM's expensive passes off: the probes of tests/conventions.py (dice, Lovasz,
# MCC, Tversky rows) 38.9 -> 33.2 CPU s; same code paths, same numbers.
if "xla_cpu_parallel_codegen_split_count" not in flags:
    flags += " --xla_cpu_parallel_codegen_split_count=1"
if "xla_llvm_disable_expensive_passes" not in flags:
    flags += " --xla_llvm_disable_expensive_passes=true"
os.environ["XLA_FLAGS"] = flags.strip()
# Strict rank and dtype promotion are checked on the library's code by
# tests/conventions.py (strict_promotion: every call of the conventions probe), not
# suite-wide: the tests and doctests themselves broadcast (``batch == batch[0]``) and mix integer
# labels with float scalars (``labels[..., None] * 1.0``).
