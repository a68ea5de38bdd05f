"""trainables/cpu_kernels.py: the fast CPU dropout keeps the maths of dropout (expectation, gradient, seeding) and the
training attention equals softmax attention with that dropout; eval mode and the model's weights are untouched."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from trainables.cpu_kernels import ATTENTION, FastDropout, attention, dropout, keep_scale, use_fast_kernels
from trainables.model import STSRegressor


@pytest.mark.parametrize("p", [0.1, 0.3, 0.5])
def test_keep_scale_keeps_one_minus_p_and_the_expectation(p):
    torch.manual_seed(0)
    x = torch.empty(400_000)
    mask = keep_scale(x, p)
    q = round(p * 65536) / 65536
    scale = 1 / (1 - q)
    assert mask.shape == x.shape and mask.dtype == x.dtype
    kept = mask != 0
    assert torch.allclose(mask[kept], torch.tensor(scale))
    assert kept.float().mean().item() == pytest.approx(1 - p, abs=0.003)
    assert mask.mean().item() == pytest.approx(1.0, abs=0.005)  # E[mask] = scale * (1 - q) = 1 exactly


def test_keep_scale_handles_sizes_not_a_multiple_of_four_and_other_shapes():
    for shape in [(1,), (3,), (5, 7), (2, 3, 5)]:
        m = keep_scale(torch.empty(shape), 0.2)
        assert m.shape == torch.Size(shape)


def test_masks_follow_the_torch_seed():
    x = torch.empty(10_000)
    torch.manual_seed(3)
    a = keep_scale(x, 0.1)
    torch.manual_seed(3)
    b = keep_scale(x, 0.1)
    torch.manual_seed(4)
    c = keep_scale(x, 0.1)
    assert torch.equal(a, b) and not torch.equal(a, c)


def test_dropout_gradient_is_the_same_scaled_mask():
    torch.manual_seed(1)
    x = (torch.rand(64, 48) + 0.5).requires_grad_()
    g = torch.randn(64, 48)
    torch.manual_seed(9)
    y = dropout(x, 0.25, True)
    y.backward(g)
    torch.manual_seed(9)
    mask = keep_scale(x.detach(), 0.25)
    assert torch.equal(y.detach(), x.detach() * mask)
    assert torch.equal(x.grad, g * mask)
    assert 0 < (mask == 0).float().mean().item() < 0.5


def test_eval_mode_and_edge_probabilities_take_torchs_path():
    x = torch.randn(32, 16)
    assert torch.equal(dropout(x, 0.3, False), x)
    assert torch.equal(dropout(x, 0.0, True), x)
    assert torch.equal(dropout(x, 1.0, True), torch.zeros_like(x))
    d = FastDropout(0.3)
    d.eval()
    assert torch.equal(d(x), x)
    d.train()
    assert not torch.equal(d(x), x)


def _qkv(seed: int = 0, b: int = 3, h: int = 2, n: int = 7, d: int = 8):
    torch.manual_seed(seed)
    return (torch.randn(b, h, n, d, requires_grad=True) for _ in range(3))


def _reference(q, k, v, mask, p, seed):
    """Softmax attention written out, with the keep-mask `attention` draws under the same seed."""
    scores = q @ k.transpose(-1, -2) / q.shape[-1] ** 0.5
    if mask is not None:
        scores = scores.masked_fill(~mask, torch.finfo(scores.dtype).min) if mask.dtype == torch.bool else scores + mask
    probs = scores.softmax(-1)
    torch.manual_seed(seed)
    return (probs * keep_scale(probs.detach(), p) @ v).transpose(1, 2)


@pytest.mark.parametrize("kind", ["bool", "float", "none"])
def test_training_attention_is_softmax_attention_with_the_same_dropout(kind):
    q, k, v = _qkv()
    keep = torch.ones(3, 1, 7, 7, dtype=torch.bool)
    keep[0, :, :, 5:] = False  # padding of the first pair
    mask = {"bool": keep, "float": torch.zeros(3, 1, 7, 7).masked_fill(~keep, -1e9), "none": None}[kind]
    module = nn.Module().train()
    torch.manual_seed(5)
    out, _ = attention(module, q, k, v, mask, dropout=0.2)
    ref = _reference(q, k, v, mask, 0.2, 5)
    assert out.shape == (3, 7, 2, 8) and out.is_contiguous()
    assert torch.allclose(out, ref, atol=1e-5)
    g = torch.randn_like(out)
    grads = torch.autograd.grad(out, (q, k, v), g)
    ref_grads = torch.autograd.grad(ref, (q, k, v), g)
    for a, b in zip(grads, ref_grads, strict=True):
        assert torch.allclose(a, b, atol=1e-5)


def test_attention_without_dropout_or_in_eval_is_sdpa():
    from transformers.integrations.sdpa_attention import sdpa_attention_forward

    q, k, v = _qkv()
    for module, p in ((nn.Module().eval(), 0.2), (nn.Module().train(), 0.0)):
        torch.manual_seed(2)  # transformers passes dropout=0.0 in eval; SDPA itself drops whatever it is given
        out, _ = attention(module, q, k, v, None, dropout=p)
        torch.manual_seed(2)
        ref, _ = sdpa_attention_forward(module, q, k, v, None, dropout=p)
        assert torch.equal(out, ref)


def test_the_model_keeps_its_weights_and_eval_outputs(micro_config):
    from trainables.batching import make_loader
    from trainables.pipeline import prepare_data

    cfg_fast = micro_config(hidden_dropout=0.2, attention_dropout=0.2)
    cfg_torch = micro_config(hidden_dropout=0.2, attention_dropout=0.2, cpu_kernels=False)
    torch.manual_seed(0)
    fast = STSRegressor(cfg_fast)
    torch.manual_seed(0)
    plain = STSRegressor(cfg_torch)
    assert fast.backbone.config._attn_implementation == ATTENTION
    assert plain.backbone.config._attn_implementation != ATTENTION
    assert any(isinstance(m, FastDropout) for m in fast.modules())
    assert not any(isinstance(m, FastDropout) for m in plain.modules())
    sd_fast, sd_plain = fast.state_dict(), plain.state_dict()
    assert sd_fast.keys() == sd_plain.keys()
    assert all(torch.equal(sd_fast[k], sd_plain[k]) for k in sd_fast)

    data = prepare_data(cfg_fast)
    batch = next(iter(make_loader(data.dev_enc, None, 16, train=False, seed=0)))
    fast.eval()
    plain.eval()
    with torch.no_grad():
        assert torch.allclose(fast(batch), plain(batch), atol=1e-5)
    fast.train()
    with torch.no_grad():
        a, b = fast(batch), fast(batch)
    assert not torch.allclose(a, b), "dropout is not live in training"


def test_use_fast_kernels_counts_swaps_and_leaves_other_modules():
    net = nn.Sequential(nn.Linear(4, 4), nn.Dropout(0.1), nn.Sequential(nn.Dropout(0.2), nn.ReLU()))
    assert use_fast_kernels(net) == 2
    assert isinstance(net[1], FastDropout) and net[1].p == 0.1 and net[2][0].p == 0.2
    assert isinstance(net[0], nn.Linear) and isinstance(net[2][1], nn.ReLU)
    assert use_fast_kernels(net) == 0  # already swapped
