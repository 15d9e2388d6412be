"""Training agrees with PyTorch step for step (skipped without torch)."""

from __future__ import annotations

import numpy as np
import pytest

import nn

torch = pytest.importorskip("torch", reason="torch not installed: pip install torch==2.13.0 "
                                            "to compare with PyTorch")


def _torch_mlp(model: nn.MLP):
    layers = []
    for layer in model.layers:
        if isinstance(layer, nn.Linear):
            linear = torch.nn.Linear(layer.in_features, layer.out_features, dtype=torch.float64)
            with torch.no_grad():
                linear.weight.copy_(torch.from_numpy(layer.weight.numpy().copy()))
                linear.bias.copy_(torch.from_numpy(layer.bias.numpy().copy()))
            layers.append(linear)
        else:
            layers.append({"ReLU": torch.nn.ReLU, "Tanh": torch.nn.Tanh}[type(layer).__name__]())
    return torch.nn.Sequential(*layers)


@pytest.mark.parametrize("optimizer", ["sgd_momentum", "sgd_nesterov_wd", "adam", "adamw", "rmsprop"])
@pytest.mark.parametrize("loss", ["cross_entropy", "mse"])
def test_twenty_steps_match_pytorch(optimizer, loss):
    rng = np.random.default_rng(0)
    model = nn.MLP([4, 16, 16, 3], activation="tanh" if loss == "mse" else "relu", rng=rng)
    reference = _torch_mlp(model)
    ours_opt, torch_opt = {
        "sgd_momentum": (lambda ps: nn.optim.SGD(ps, lr=0.05, momentum=0.9),
                         lambda ps: torch.optim.SGD(ps, lr=0.05, momentum=0.9)),
        "sgd_nesterov_wd": (lambda ps: nn.optim.SGD(ps, lr=0.05, momentum=0.9, nesterov=True,
                                                    weight_decay=1e-3),
                            lambda ps: torch.optim.SGD(ps, lr=0.05, momentum=0.9, nesterov=True,
                                                       weight_decay=1e-3)),
        "adam": (lambda ps: nn.optim.Adam(ps, lr=0.01), lambda ps: torch.optim.Adam(ps, lr=0.01)),
        "adamw": (lambda ps: nn.optim.AdamW(ps, lr=0.01, weight_decay=0.1),
                  lambda ps: torch.optim.AdamW(ps, lr=0.01, weight_decay=0.1)),
        "rmsprop": (lambda ps: nn.optim.RMSprop(ps, lr=0.01, momentum=0.5),
                    lambda ps: torch.optim.RMSprop(ps, lr=0.01, momentum=0.5)),
    }[optimizer]
    ours, theirs = ours_opt(model.parameters()), torch_opt(reference.parameters())
    X = rng.standard_normal((20, 4))
    y = rng.integers(0, 3, 20) if loss == "cross_entropy" else rng.standard_normal((20, 3))
    X_t, y_t = torch.from_numpy(X), torch.from_numpy(y)
    for _ in range(20):
        out = model(X)
        (nn.cross_entropy(out, y) if loss == "cross_entropy" else nn.mse_loss(out, y)).backward()
        ours.step()
        ours.zero_grad()
        out_t = reference(X_t)
        loss_t = (torch.nn.functional.cross_entropy(out_t, y_t) if loss == "cross_entropy"
                  else torch.nn.functional.mse_loss(out_t, y_t))
        theirs.zero_grad()
        loss_t.backward()
        theirs.step()
    torch_params = [p.detach().numpy() for p in reference.parameters()]
    for (name, p), q in zip(model.named_parameters(), torch_params, strict=True):
        np.testing.assert_allclose(p.numpy(), q, rtol=0, atol=1e-10, err_msg=name)
