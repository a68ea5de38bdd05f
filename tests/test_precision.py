from __future__ import annotations

import argparse

import pytest

from trainables.precision import cpu_precision_warning, native_cpu_bf16
from trainables.space import load_space
from tune.preflight import precision_warnings


def test_bf16_warned_only_without_native_bf16():
    line = cpu_precision_warning("bf16-mixed", native_bf16=False)
    assert line and "precision=32" in line and "bf16-mixed" in line
    assert cpu_precision_warning("bf16-mixed", native_bf16=True) is None
    assert cpu_precision_warning("32", native_bf16=False) is None


def test_detection_answers_a_bool():
    assert isinstance(native_cpu_bf16(), bool)


class _Plan:
    def __init__(self, space_name: str, pins: dict):
        self.space = load_space(space_name)
        self.pins = pins
        self.variants = self.space.backbone_variants(pins)


@pytest.mark.parametrize("space,gpus,address,expect", [
    ("roberta_large", 0, None, not native_cpu_bf16()),  # a GPU space (bf16-mixed) run on this CPU
    ("roberta_large", 1, None, False),                  # on a GPU: bf16 is the point
    ("roberta_large", 0, "auto", False),                # a cluster's CPUs are not this one's
    ("e5_small", 0, None, False),                       # fp32
])
def test_search_plan_warns_for_local_cpu_bf16(space, gpus, address, expect):
    args = argparse.Namespace(gpus_per_trial=gpus, address=address)
    lines = precision_warnings(_Plan(space, {}), args)
    assert bool(lines) == expect
