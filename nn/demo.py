"""The demo behind ``python -m autodiff demo``: backprop you can watch, then two networks trained.

1. The engine's gradients of an MLP against backpropagation written out by hand
   in matrix form (the delta rule): they agree to rounding.
2. A sigmoid network learns XOR.
3. A ReLU MLP learns the two-moons data set (test accuracy printed).
Pictures go to ``--out``: the graph of one training step (without a Graphviz
renderer, its source as graph.dot), the loss curves and the decision boundary (with
matplotlib; without it the numbers are written as CSV).
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np

import autodiff as ad

from . import data, optim, reference
from .layers import MLP
from .losses import cross_entropy, mse_loss
from .train import evaluate, fit


def _at_least(low: int):
    """An argparse type: an integer no smaller than ``low``."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
        if value < low:
            raise argparse.ArgumentTypeError(f"must be at least {low}, got {value}")
        return value

    return parse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", default="autodiff-demo",
                        help="folder for the pictures (default ./autodiff-demo/)")
    parser.add_argument("--seed", type=_at_least(0), default=0, help="random seed (default 0)")
    parser.add_argument("--epochs", type=_at_least(1), default=100,
                        help="epochs of training on moons (default 100)")
    parser.add_argument("--samples", type=_at_least(8), default=1000,
                        help="points in the moons data set, at least 8 (default 1000)")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bars")


def _delta_rule_check(rng: np.random.Generator) -> None:
    model = MLP([3, 5, 4, 2], activation="sigmoid", output_activation="sigmoid", rng=rng)
    X, T = rng.standard_normal((6, 3)), rng.uniform(0, 1, (6, 2))
    mse_loss(model(X), T).backward()
    weights = [layer.weight.numpy() for layer in model.linears]
    biases = [layer.bias.numpy() for layer in model.linears]
    grad_W, _ = reference.gradients(weights, biases, X.T, T.T, ["sigmoid"] * 3, "mse")
    worst = max(np.abs(layer.weight.grad.numpy() - g).max()
                for layer, g in zip(model.linears, grad_W, strict=True))
    print("1. backprop by the engine vs the delta rule by hand, δ_l = (W_{l+1}ᵀ δ_{l+1}) ⊙ σ′(net_l)")
    print(f"   MLP 3-5-4-2, sigmoid, squared error: largest difference in ∂E/∂W = {worst:.1e}")


def _xor(args, rng: np.random.Generator) -> bool:
    X, y = data.xor()
    model = MLP([2, 4, 1], activation="sigmoid", output_activation="sigmoid", rng=rng)
    opt = optim.SGD(model.parameters(), lr=2.0, momentum=0.9)
    fit(model, mse_loss, opt, (X, y), epochs=500, batch_size=4, threshold=0.5,
        progress=not args.no_progress, desc="XOR")
    out = model(X).numpy().ravel()
    print("\n2. a sigmoid network 2-4-1 learns XOR (squared error, SGD with momentum)")
    for x, target, value in zip(X, y, out, strict=True):
        verdict = "ok" if (value > 0.5) == target else "WRONG"
        print(f"   {x.astype(int)} -> {value:.3f}   (target {target}) {verdict}")
    return bool(np.all((out > 0.5) == (y == 1)))


def _moons(args, rng: np.random.Generator):
    X, y = data.moons(args.samples, noise=0.1, rng=rng)
    X_train, y_train, X_test, y_test = data.train_test_split(X, y, 0.25, rng=rng)
    model = MLP([2, 16, 16, 2], rng=rng)
    opt = optim.Adam(model.parameters(), lr=0.01)
    history = fit(model, cross_entropy, opt, (X_train, y_train), epochs=args.epochs, batch_size=32,
                  val_data=(X_test, y_test), rng=rng, scheduler=optim.CosineAnnealingLR(opt, args.epochs),
                  progress=not args.no_progress, desc="moons")
    test = evaluate(model, cross_entropy, (X_test, y_test))
    print(f"\n3. an MLP 2-16-16-2 (ReLU, cross-entropy, Adam) on {args.samples} moons points")
    print(f"   train accuracy {history['accuracy'][-1]:.3f}, test accuracy {test['accuracy']:.3f}")
    return model, history, test, (X, y)


def _draw_step(model, X, y, out_dir: str) -> None:
    """Draw one training step's graph; a picture that cannot be made is reported, not fatal."""
    loss = cross_entropy(model(X[:8]), y[:8])
    path = os.path.join(out_dir, "graph.png")
    try:
        ad.draw(loss, path, params=model.named_parameters(), group_by_module=True)
    except (RuntimeError, ValueError, OSError) as error:
        print(f"   graph of one training step not drawn: {error}")
        source = os.path.join(out_dir, "graph.dot")
        try:  # the Graphviz source needs no renderer: render it later, or elsewhere
            ad.draw(loss, source, params=model.named_parameters(), group_by_module=True)
        except OSError as error:
            print(f"   nor its Graphviz source: {error}")
        else:
            print(f"   wrote its Graphviz source instead: {source} (dot -Tpng {source} -o graph.png)")
        return
    print(f"   graph of one training step (8 samples): {path}")


def _pictures(model, history, points, out_dir: str) -> None:
    X, y = points
    grid_x, grid_y = np.meshgrid(np.linspace(X[:, 0].min() - 0.5, X[:, 0].max() + 0.5, 200),
                                 np.linspace(X[:, 1].min() - 0.5, X[:, 1].max() + 0.5, 200))
    with ad.no_grad():
        scores = model(np.stack([grid_x.ravel(), grid_y.ravel()], axis=1)).numpy()
    prob = np.exp(scores - scores.max(axis=1, keepdims=True))
    prob = (prob[:, 1] / prob.sum(axis=1)).reshape(grid_x.shape)
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        epochs = np.arange(1, len(history["loss"]) + 1)
        np.savetxt(os.path.join(out_dir, "loss.csv"),
                   np.stack([epochs, history["loss"], history["val_loss"]], axis=1),
                   delimiter=",", header="epoch,train_loss,test_loss", comments="")
        np.savetxt(os.path.join(out_dir, "boundary.csv"),
                   np.stack([grid_x.ravel(), grid_y.ravel(), prob.ravel()], axis=1),
                   delimiter=",", header="x,y,p_class1", comments="")
        print("   matplotlib is not installed (pip install -e '.[examples]'): "
              f"wrote loss.csv and boundary.csv to {out_dir}")
        return
    fig, ax = plt.subplots(figsize=(5, 3.5))
    ax.plot(history["loss"], label="train")
    ax.plot(history["val_loss"], label="test")
    ax.set(xlabel="epoch", ylabel="cross-entropy", yscale="log", title="moons: loss")
    ax.legend()
    fig.tight_layout()
    fig.savefig(os.path.join(out_dir, "loss.png"), dpi=120)
    plt.close(fig)
    fig, ax = plt.subplots(figsize=(5, 4))
    ax.contourf(grid_x, grid_y, prob, levels=20, cmap="RdBu", alpha=0.7)
    ax.contour(grid_x, grid_y, prob, levels=[0.5], colors="k", linewidths=1)
    ax.scatter(X[:, 0], X[:, 1], c=y, cmap="RdBu", edgecolors="k", s=12)
    ax.set(title="moons: decision boundary", xticks=[], yticks=[])
    fig.tight_layout()
    fig.savefig(os.path.join(out_dir, "boundary.png"), dpi=120)
    plt.close(fig)
    print(f"   loss curves and decision boundary: {out_dir}/loss.png, {out_dir}/boundary.png")


def main(args: argparse.Namespace) -> int:
    start = time.perf_counter()
    rng = np.random.default_rng(args.seed)
    try:  # before any training: a folder that cannot be made is said in one line
        os.makedirs(args.out or ".", exist_ok=True)
    except OSError as error:
        raise SystemExit(f"demo: cannot make the output folder --out {args.out!r}: "
                         f"{error.strerror}") from None
    _delta_rule_check(rng)
    xor_ok = _xor(args, rng)
    model, history, test, points = _moons(args, rng)
    _draw_step(model, *points, args.out)
    _pictures(model, history, points, args.out)
    print(f"\ndone in {time.perf_counter() - start:.1f} s")
    if not xor_ok or test["accuracy"] < 0.97:
        print("the demo's targets were not reached (XOR all correct, moons test accuracy >= 0.97)")
        return 1
    return 0
