"""Whether a trial's mixed precision pays on the CPU it would run on.

Lightning's `bf16-mixed` on CPU is torch's CPU autocast. Where the CPU has native bf16 arithmetic (AVX512-BF16 or
AMX) that can be faster than fp32; where it has not (AVX2-only CPUs, e.g. this project's 2-core AMD EPYC machines),
every bf16 matmul is emulated and a training step is many times slower (bench/RESULTS.md, "CPU bf16-mixed vs fp32").
The hub spaces fix `bf16-mixed` for GPUs, so a CPU run of one of them should hear about it before it starts.
"""

from __future__ import annotations


def native_cpu_bf16() -> bool:
    """True when this CPU computes bf16 natively (AVX512-BF16 or AMX tiles), as torch's kernels see it."""
    import torch

    cpu = torch.cpu
    checks = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")
    return any(bool(getattr(cpu, name, lambda: False)()) for name in checks)


def cpu_precision_warning(precision: str, *, native_bf16: bool | None = None) -> str | None:
    """One line for a CPU trial whose precision will be slow here, else None."""
    if not precision.startswith("bf16"):
        return None
    native = native_cpu_bf16() if native_bf16 is None else native_bf16
    if native:
        return None
    return (f"precision {precision} on a CPU without native bf16 (no AVX512-BF16 or AMX): autocast emulates it, "
            f"many times slower than fp32 (bench/RESULTS.md); pin --set precision=32 for CPU trials")
