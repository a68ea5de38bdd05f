from __future__ import annotations

import pytest
import torch

from trainables.losses import make_loss, rdrop_loss, smart_loss


def test_base_losses_match_hand_computation():
    p = torch.tensor([1.0, 2.0, 4.0])
    y = torch.tensor([1.5, 2.0, 1.0])
    assert make_loss("l1")(p, y).item() == pytest.approx((0.5 + 0 + 3) / 3)
    assert make_loss("mse")(p, y).item() == pytest.approx((0.25 + 0 + 9) / 3)
    # huber delta 1: 0.5*0.5^2, 0, 1*(3-0.5)
    assert make_loss("huber", huber_delta=1.0)(p, y).item() == pytest.approx((0.125 + 0 + 2.5) / 3)
    # smooth_l1 beta 2: 0.5*0.25/2, 0, 3-1
    assert make_loss("smooth_l1", smooth_l1_beta=2.0)(p, y).item() == pytest.approx((0.0625 + 0 + 2.0) / 3)


def test_loss_names_itself_on_shape_mismatch():
    with pytest.raises(ValueError, match="mse loss: prediction shape"):
        make_loss("mse")(torch.zeros(3), torch.zeros(3, 1))
    with pytest.raises(ValueError, match="allowed values"):
        make_loss("kl")


def test_rdrop_is_two_supervised_terms_plus_weighted_consistency():
    y1 = torch.tensor([1.0, 3.0])
    y2 = torch.tensor([2.0, 2.0])
    y = torch.tensor([1.0, 2.0])
    mse = make_loss("mse")
    # mse(y1,y)=0.5, mse(y2,y)=0.5, mse(y1,y2)=1.0
    assert rdrop_loss(mse, y1, y2, y, alpha=0.3).item() == pytest.approx(0.5 + 0.5 + 0.3 * 1.0)
    assert rdrop_loss(mse, y1, y1, y, alpha=5.0).item() == pytest.approx(2 * 0.5)


def test_smart_loss_on_a_linear_toy_model():
    torch.manual_seed(0)
    w = torch.tensor([[1.0], [-2.0]])  # predict = sum over tokens of (e @ w)

    def predict(e):
        return (e @ w).sum(dim=(1, 2))

    embeds = torch.randn(3, 4, 2)
    clean = predict(embeds)
    eps = 0.01
    loss = smart_loss(predict, embeds, clean, eps=eps, step_size=1.0, noise_std=1e-4)
    # the ascent step moves every coordinate to the eps-ball boundary in the gradient's direction:
    # the output then changes by eps * (|1| + |-2|) per token, 4 tokens -> 0.12; squared -> 0.0144
    assert loss.item() == pytest.approx((eps * 3 * 4) ** 2, rel=1e-3)
    # no perturbation budget -> no penalty
    assert smart_loss(predict, embeds, clean, eps=0.0, step_size=1.0, noise_std=1e-4).item() == pytest.approx(0.0)


def test_smart_loss_respects_the_mask_and_backpropagates():
    w = torch.nn.Parameter(torch.tensor([[1.0], [1.0]]))

    def predict(e):
        return (e @ w).sum(dim=(1, 2))

    embeds = torch.randn(2, 3, 2)
    mask = torch.tensor([[1, 0, 0], [1, 1, 0]])
    loss = smart_loss(predict, embeds, predict(embeds), eps=0.1, step_size=1.0, noise_std=1e-4, mask=mask)
    # batch 0 has 1 real token, batch 1 has 2: shifts 0.2 and 0.4 -> mean of squares
    assert loss.item() == pytest.approx((0.2**2 + 0.4**2) / 2, rel=1e-3)
    loss.backward()
    assert w.grad is not None and torch.all(w.grad != 0)
