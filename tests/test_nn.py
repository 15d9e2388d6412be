"""nn: modules, layers, losses, optimisers, data, training, and the matrix-form backprop."""

from __future__ import annotations

import copy
import pickle
import warnings

import numpy as np
import pytest

import autodiff as ad
import nn


# ------------------------------------------------ the delta rule, by hand
@pytest.mark.parametrize("seed", range(24))
def test_engine_gradients_equal_the_handwritten_matrix_backprop(seed):
    rng = np.random.default_rng(seed)
    depth = int(rng.integers(1, 6))
    sizes = [int(w) for w in rng.integers(1, 21, depth + 1)]
    activation = ["sigmoid", "tanh", "relu"][seed % 3]
    loss = ["mse", "cross_entropy"][(seed // 3) % 2]
    if loss == "cross_entropy":
        sizes[-1] = max(sizes[-1], 2)
    output_activation = activation if loss == "mse" and seed % 4 < 2 else None
    model = nn.MLP(sizes, activation=activation, output_activation=output_activation, init="xavier_normal",
                   rng=rng)
    for layer in model.linears:  # non-zero biases, so that they are checked too
        layer.bias.data = rng.standard_normal(layer.bias.shape)
    X = rng.standard_normal((int(rng.integers(1, 9)), sizes[0]))
    if loss == "mse":
        targets = rng.standard_normal((len(X), sizes[-1]))
        nn.mse_loss(model(X), targets).backward()
        reference_targets = targets.T
    else:
        targets = rng.integers(0, sizes[-1], len(X))
        nn.cross_entropy(model(X), targets).backward()
        reference_targets = targets
    activations = [activation] * (depth - 1) + [output_activation or "identity"]
    weights = [layer.weight.numpy() for layer in model.linears]
    biases = [layer.bias.numpy() for layer in model.linears]
    grad_W, grad_b = nn.reference.gradients(weights, biases, X.T, reference_targets, activations, loss)
    for layer, gW, gb in zip(model.linears, grad_W, grad_b, strict=True):
        np.testing.assert_allclose(layer.weight.grad.numpy(), gW, rtol=0, atol=1e-12)
        np.testing.assert_allclose(layer.bias.grad.numpy(), gb, rtol=0, atol=1e-12)


def test_the_reference_backprop_refuses_what_it_would_get_wrong():
    rng = np.random.default_rng(0)
    W, B = [rng.standard_normal((4, 3)), rng.standard_normal((3, 4))], [np.zeros(4), np.zeros(3)]
    X, acts = rng.standard_normal((3, 5)), ["tanh", "identity"]
    for targets, what in ((np.array([0, 2, 1, 0, 1])[:, None], r"shape \(5, 1\)"),  # a column
                          (np.array([0, -1, 1, 0, 1]), "int64"),  # -1 would index the last class
                          (np.array([0.0, 2, 1, 0, 1]), "float64")):
        with pytest.raises(ValueError, match=f"targets must be 5 class indices in \\[0, 3\\).*{what}"):
            nn.reference.gradients(W, B, X, targets, acts, "cross_entropy")
    with pytest.raises(ValueError, match=r"mse: targets of shape \(5,\) for outputs of shape \(3, 5\)"):
        nn.reference.gradients(W, B, X, np.zeros(5), acts, "mse")
    with pytest.raises(ValueError, match=r"one sample per column.*got shape \(3,\)"):
        nn.reference.forward(W, B, X[:, 0], acts)  # one sample as a vector: b would broadcast wrongly


def test_delta_rule_on_the_two_neuron_sigmoid_chain():
    # s -> v -> sigmoid -> h -> w -> sigmoid -> r, E = (d - r)^2 / 2 (the seeds' simplest case)
    s, v, w, d = 0.6, 0.4, -1.3, 1.0
    V, W = ad.tensor(v, requires_grad=True), ad.tensor(w, requires_grad=True)
    h = (s * V).sigmoid()
    r = (h * W).sigmoid()
    (0.5 * (d - r) ** 2).backward()
    hv = 1 / (1 + np.exp(-s * v))
    rv = 1 / (1 + np.exp(-hv * w))
    local_output = -(d - rv) * rv * (1 - rv)          # the local gradient at the output
    local_hidden = local_output * w * hv * (1 - hv)  # carried back by the delta rule
    assert W.grad.item() == pytest.approx(local_output * hv, rel=1e-14)
    assert V.grad.item() == pytest.approx(local_hidden * s, rel=1e-14)


# ------------------------------------------------------------- modules
def test_parameters_are_found_in_attributes_lists_and_dicts():
    class Net(nn.Module):
        def __init__(self):
            self.first = nn.Linear(2, 3, rng=np.random.default_rng(0))
            self.blocks = [nn.Linear(3, 3, rng=np.random.default_rng(1)), nn.Tanh()]
            self.heads = {"a": nn.Linear(3, 1, bias=False, rng=np.random.default_rng(2))}
            self.scale = nn.Parameter(1.0)
            self.constant = ad.tensor([1.0])  # not a parameter

        def forward(self, x):
            return self.heads["a"](self.blocks[1](self.blocks[0](self.first(x)))) * self.scale

    net = Net()
    names = [name for name, _ in net.named_parameters()]
    # a module's own parameters first, then each sub-module's, in assignment order (as PyTorch)
    assert names == ["scale", "first.weight", "first.bias", "blocks.0.weight", "blocks.0.bias",
                     "heads.a.weight"]
    net(np.ones((4, 2))).sum().backward()
    assert all(p.grad is not None and p.grad.shape == p.shape for p in net.parameters())
    net.zero_grad()
    assert all(p.grad is None for p in net.parameters())


def test_shared_and_cyclic_modules_are_visited_once():
    shared = nn.Linear(2, 2, rng=np.random.default_rng(0))
    model = nn.Sequential(shared, nn.ReLU(), shared)
    assert [name for name, _ in model.named_modules()] == ["", "layers.0", "layers.1"]
    assert [name for name, _ in model.named_parameters()] == ["layers.0.weight", "layers.0.bias"]

    class Child(nn.Module):
        def __init__(self):
            self.w = nn.Parameter([1.0])

    class Parent(nn.Module):
        def __init__(self):
            self.child = Child()
            self.child.parent = self  # a reference back up the tree (PyTorch allows it too)

    parent = Parent()
    assert [name for name, _ in parent.named_parameters()] == ["child.w"]
    parent.eval()
    assert not parent.training and not parent.child.training
    assert repr(parent) == "Parent(\n  (child): Child(\n    (parent): Parent(...)\n  )\n)"


def test_parameters_come_in_pytorchs_order_and_a_shared_one_under_its_first_name():
    # own parameters, then sub-modules, lists and dicts in the order assigned (PyTorch's
    # ParameterList is a sub-module): list-held ones came first, and an alias list named
    # lin.weight 'alias.0', so that state dicts lost 'lin.weight'
    class Model(nn.Module):
        def __init__(self):
            self.lin = nn.Linear(2, 2)
            self.extra = [nn.Parameter(np.zeros(1))]
            self.own = nn.Parameter(np.ones(1))
            self.alias = [self.lin.weight]
            self.more = {"inner": nn.Linear(1, 1), "p": nn.Parameter(np.zeros(2))}

    names = ["own", "lin.weight", "lin.bias", "extra.0", "more.inner.weight", "more.inner.bias", "more.p"]
    model = Model()
    assert [name for name, _ in model.named_parameters()] == names
    assert list(model.state_dict()) == names
    assert model.parameters()[1] is model.lin.weight


def test_a_layer_without_inputs_or_outputs_is_made_as_pytorch_makes_it():
    # a fan of 0 divided by zero in the initialisers; PyTorch's bias bound is 0 there
    layer = nn.Linear(0, 3, rng=np.random.default_rng(0))
    np.testing.assert_array_equal(layer(np.ones((4, 0))).numpy(), np.zeros((4, 3)))
    assert nn.MLP([2, 0, 1])(np.ones((4, 2))).shape == (4, 1)
    for init in (nn.init.xavier_uniform, nn.init.he_normal, nn.init.pytorch_default):
        assert init((3, 0), np.random.default_rng(0)).shape == (3, 0)


def test_a_slice_of_a_sequential_is_a_sequential_and_a_set_of_parameters_is_refused():
    model = nn.Sequential(nn.Linear(2, 3, rng=np.random.default_rng(0)), nn.ReLU(), nn.Linear(3, 1))
    head = model[:2]
    assert isinstance(head, nn.Sequential) and head.layers == model.layers[:2]
    x = np.ones((4, 2))
    np.testing.assert_array_equal(head(x).numpy(), model.layers[1](model.layers[0](x)).numpy())

    class Loose(nn.Module):
        def __init__(self):
            self.bag = {nn.Parameter([1.0])}

    with pytest.raises(TypeError, match="the set 'bag' holds a parameter or module: keep them in a list"):
        Loose().parameters()


def test_a_dict_of_parameters_needs_string_keys():
    class Keys(nn.Module):
        def __init__(self):
            self.d = {1: nn.Parameter([1.0]), "1": nn.Parameter([2.0])}  # both would be "d.1"
            self.options = {1: "one"}  # no parameter under it: fine

    with pytest.raises(TypeError, match="dict 'd' holds a parameter or module under the key 1: keys must be"):
        Keys().state_dict()


def test_train_and_eval_switch_dropout():
    drop = nn.Dropout(0.5, rng=np.random.default_rng(0))
    model = nn.Sequential(drop)
    x = np.ones((1000,))
    y = np.asarray(model(x))
    assert set(np.unique(y)) == {0.0, 2.0} and 400 < (y == 0).sum() < 600
    model.eval()
    assert not drop.training
    np.testing.assert_array_equal(model(x), x)


def test_dropout_scales_lists_and_integers_too():
    # kept elements are x / (1 - p): 4/3 for p = 1/4, not truncated to the integer 1
    for x in ([1.0, 2.0, 3.0, 4.0] * 25, np.arange(1, 101)):
        out = np.asarray(nn.Dropout(0.25, rng=np.random.default_rng(0))(x))
        kept = out != 0
        assert 0 < kept.sum() < 100
        np.testing.assert_allclose(out[kept], np.asarray(x, float)[kept] * 4 / 3, rtol=1e-15)


def test_dropout_takes_its_generator_by_keyword_and_p_up_to_1():
    # PyTorch's second argument is inplace: Dropout(0.5, True) took True as the seed 1
    with pytest.raises(TypeError):
        nn.Dropout(0.5, True)
    with pytest.raises(TypeError, match="rng"):
        nn.Dropout(0.5, rng=True)
    x = ad.tensor([1.0, -2.0, 3.0], requires_grad=True)
    drop = nn.Dropout(1.0)  # everything dropped, as PyTorch's
    y = drop(x)
    y.sum().backward()
    np.testing.assert_array_equal(y.numpy(), [0.0, 0.0, 0.0])
    np.testing.assert_array_equal(x.grad.numpy(), [0.0, 0.0, 0.0])
    drop.eval()
    assert drop(x) is x
    with pytest.raises(ValueError, match=r"in \[0, 1\]"):
        nn.Dropout(1.5)


def test_dropout_gradient_is_the_mask():
    x = ad.tensor(np.ones(50), requires_grad=True)
    y = nn.Dropout(0.3, rng=np.random.default_rng(0))(x)
    y.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), y.numpy())


def test_save_and_load_round_trip_exactly(tmp_path):
    model = nn.MLP([3, 5, 2], rng=np.random.default_rng(0))
    path = tmp_path / "model.npz"
    nn.save(model, path)
    other = nn.MLP([3, 5, 2], rng=np.random.default_rng(1))
    nn.load(other, path)
    for (name, a), (_, b) in zip(model.named_parameters(), other.named_parameters(), strict=True):
        np.testing.assert_array_equal(a.numpy(), b.numpy(), err_msg=name)
        # loading copies into the parameter's own layout (Linear keeps its weight in Fortran order)
        assert b.numpy().flags.f_contiguous, name


def test_gradients_come_in_each_parameters_own_layout():
    # Linear keeps its weight in Fortran order; a loss with a weight penalty reaches it through
    # the layer's product and through a sum of squares: both contributions (and so the sum of
    # them, and the update) must come in that layout, with the values of numpy's formula
    model = nn.MLP([3, 4, 2], rng=np.random.default_rng(0))
    x = np.random.default_rng(1).standard_normal((5, 3))
    penalty = sum((p * p).sum() for p in model.parameters()) + sum(p.mean() for p in model.parameters())
    (model(x).sum() + penalty).backward()
    for name, p in model.named_parameters():
        assert p.grad.numpy().flags.f_contiguous == p.numpy().flags.f_contiguous, name
        assert p.grad.numpy().flags.c_contiguous == p.numpy().flags.c_contiguous, name
    W = model.layers[-1].weight.numpy()
    h = np.maximum(x @ model.layers[0].weight.numpy().T + model.layers[0].bias.numpy(), 0)
    expected = np.ones((5, 2)).T @ h + 2 * W + 1 / W.size
    np.testing.assert_allclose(model.layers[-1].weight.grad.numpy(), expected, rtol=1e-13)


@pytest.mark.parametrize("sizes, message", [
    ([3, 5, 2, 2], "missing entries"),
    ([3, 5], "unexpected entries"),
    ([3, 6, 2], r"'layers.0.weight' has shape \(5, 3\), the parameter \(6, 3\)"),
])
def test_loading_a_mismatched_file_raises_and_changes_nothing(tmp_path, sizes, message):
    path = tmp_path / "model.npz"
    nn.save(nn.MLP([3, 5, 2], rng=np.random.default_rng(0)), path)
    other = nn.MLP(sizes, rng=np.random.default_rng(1))
    before = other.state_dict()
    with pytest.raises(ValueError, match=message):
        nn.load(other, path)
    for name, values in other.state_dict().items():
        np.testing.assert_array_equal(values, before[name])


def test_save_writes_exactly_the_path_given_and_any_parameter_name(tmp_path):
    class Odd(nn.Module):  # names that are np.savez's own arguments
        def __init__(self):
            self.file = nn.Parameter([1.0, 2.0])
            self.allow_pickle = nn.Parameter([[3.0]])

    path = tmp_path / "model.ckpt"  # no .npz: np.savez would have written model.ckpt.npz
    nn.save(Odd(), path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.ckpt"]
    other = Odd()
    other.file.data, other.allow_pickle.data = np.zeros(2), np.zeros((1, 1))
    nn.load(other, path)
    assert other.file.numpy().tolist() == [1.0, 2.0] and other.allow_pickle.numpy().tolist() == [[3.0]]


def test_a_state_that_does_not_convert_raises_and_changes_nothing():
    model = nn.MLP([3, 5, 2], rng=np.random.default_rng(0))
    before = model.state_dict()
    state = nn.MLP([3, 5, 2], rng=np.random.default_rng(1)).state_dict()
    state["layers.2.bias"] = np.array(["a", "b"])  # the right shape; the last entry loaded
    with pytest.raises(ValueError, match="'layers.2.bias' does not convert to float64"):
        model.load_state_dict(state)
    for name, values in model.state_dict().items():
        np.testing.assert_array_equal(values, before[name], err_msg=name)


def test_loading_into_a_parameter_saved_for_backward_raises_and_changes_nothing():
    layer = nn.Linear(2, 2, rng=np.random.default_rng(0))
    before = layer.state_dict()
    pending = (layer.bias * layer.bias).sum()  # saves the bias, not the weight
    with pytest.raises(RuntimeError, match="cannot load state into Linear: 'bias': .* op 'square'"):
        layer.load_state_dict({"weight": np.zeros((2, 2)), "bias": np.zeros(2)})
    for name, values in layer.state_dict().items():
        np.testing.assert_array_equal(values, before[name], err_msg=name)
    pending.backward()
    layer.load_state_dict({"weight": np.zeros((2, 2)), "bias": np.zeros(2)})  # fine once it ran
    assert not layer.weight.numpy().any() and not layer.bias.numpy().any()


def test_load_says_when_a_file_is_not_a_saved_module(tmp_path):
    np.save(tmp_path / "one.npy", np.zeros(3))
    (tmp_path / "text.txt").write_text("hello")
    layer = nn.Linear(2, 2)
    with pytest.raises(ValueError, match="holds a single array, not a .npz file written by nn.save"):
        nn.load(layer, tmp_path / "one.npy")
    with pytest.raises(ValueError, match="is not a .npz file written by nn.save$"):
        nn.load(layer, tmp_path / "text.txt")


def test_fans_count_the_receptive_field_as_pytorch():
    # a (8, 4, 3, 3) kernel: each output sees 4 inputs over 3*3 positions, each input feeds 8
    assert nn.init._fans((8, 4, 3, 3)) == (4 * 9, 8 * 9)
    assert nn.init._fans((5, 3)) == (3, 5) and nn.init._fans((7,)) == (7, 7)
    w = nn.init.he_uniform((8, 4, 3, 3), np.random.default_rng(0))
    assert np.abs(w).max() <= np.sqrt(6 / 36) and np.abs(w).max() > 0.9 * np.sqrt(6 / 36)


def test_initialisers_have_the_documented_spread():
    rng = np.random.default_rng(0)
    shape = (400, 300)
    assert np.abs(nn.init.xavier_uniform(shape, rng)).max() <= np.sqrt(6 / 700)
    assert np.std(nn.init.xavier_normal(shape, rng)) == pytest.approx(np.sqrt(2 / 700), rel=0.02)
    assert np.abs(nn.init.he_uniform(shape, rng)).max() <= np.sqrt(6 / 300)
    assert np.std(nn.init.he_normal(shape, rng)) == pytest.approx(np.sqrt(2 / 300), rel=0.02)
    layer = nn.Linear(300, 400, rng=rng)
    assert np.abs(layer.weight.numpy()).max() <= 1 / np.sqrt(300)
    assert np.abs(layer.bias.numpy()).max() <= 1 / np.sqrt(300) and np.any(layer.bias.numpy())
    mlp = nn.MLP([4, 8, 1], dtype=np.float32, rng=rng)
    assert all(p.dtype == np.float32 for p in mlp.parameters())
    assert all(not np.any(layer.bias.numpy()) for layer in mlp.linears)
    # PyTorch's bias rule (the weight's fan_in, 300 here) however it is asked for
    for layer in (nn.Linear(300, 400, init="xavier_uniform", bias_init="pytorch_default", rng=rng),
                  nn.Linear(300, 400, init=nn.init.pytorch_default, rng=rng),
                  nn.MLP([300, 400], init="pytorch_default", rng=rng).linears[0]):
        bias = np.abs(layer.bias.numpy())
        assert bias.max() <= 1 / np.sqrt(300) and bias.max() > 0.9 / np.sqrt(300)
    assert not np.any(nn.Linear(3, 2, init="he_uniform", rng=rng).bias.numpy())


# ------------------------------------------------------ layers and losses
@pytest.mark.parametrize("layer", [
    nn.Linear(3, 2, rng=np.random.default_rng(0)), nn.ReLU(), nn.Tanh(), nn.Sigmoid(), nn.GELU(),
    nn.Softplus(), nn.LeakyReLU(0.2),
    nn.MLP([3, 4, 2], activation="tanh", output_activation="sigmoid", rng=np.random.default_rng(0)),
])
def test_layers_pass_gradcheck(layer):
    x = ad.tensor(np.random.default_rng(1).standard_normal((4, 3)) + 0.05, requires_grad=True)
    params = [x] + [p for p in getattr(layer, "parameters", list)()]
    assert ad.gradcheck(lambda x, *ps: layer(x), params)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("loss, make_targets", [
    (nn.mse_loss, lambda rng: rng.standard_normal((5, 3))),
    (nn.binary_cross_entropy_with_logits, lambda rng: rng.uniform(0, 1, (5, 3))),
    (nn.hinge_loss, lambda rng: rng.choice([-1.0, 1.0], (5, 3))),
    (nn.cross_entropy, lambda rng: rng.integers(0, 3, 5)),
])
def test_losses_pass_gradcheck_first_and_second_order(loss, make_targets, reduction):
    rng = np.random.default_rng(0)
    logits = ad.tensor(rng.standard_normal((5, 3)) * 2, requires_grad=True)
    targets = make_targets(rng)
    assert ad.gradcheck(lambda z: loss(z, targets, reduction=reduction), (logits,))
    if loss is not nn.hinge_loss:  # relu's kink: its second derivative is 0 a.e.
        assert ad.gradgradcheck(lambda z: loss(z, targets, reduction=reduction), (logits,))


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_cross_entropy_tangents_and_hessian_agree_with_the_reverse_sweep(reduction):
    # the rule reads the forward's softmax on arrays and computes it on tensors: forward mode,
    # reverse mode and forward-over-reverse must give one derivative
    rng = np.random.default_rng(3)
    z = rng.standard_normal((4, 3)) * 2
    labels = rng.integers(0, 3, 4)

    def f(x):
        return nn.cross_entropy(x, labels, reduction=reduction)

    p = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
    per_sample = p - np.eye(3)[labels]  # each loss's gradient with respect to its own row
    expected = {"sum": per_sample, "mean": per_sample / 4,
                "none": np.eye(4)[:, :, None] * per_sample[None]}[reduction]
    for mode in ("fwd", "rev"):
        np.testing.assert_allclose(ad.jacobian(f, mode=mode)(z), expected, rtol=1e-12, atol=1e-15)
    if reduction != "none":
        # per sample, the Hessian of log-sum-exp is diag(p) - p pᵀ; the samples do not mix
        scale = 1.0 if reduction == "sum" else 0.25
        expected = np.zeros((4, 3, 4, 3))
        for i in range(4):
            expected[i, :, i, :] = scale * (np.diag(p[i]) - np.outer(p[i], p[i]))
        np.testing.assert_allclose(ad.hessian(f)(z), expected, rtol=1e-12, atol=1e-15)


def test_losses_match_their_definitions():
    rng = np.random.default_rng(0)
    z = rng.standard_normal((6, 4))
    labels = rng.integers(0, 4, 6)
    p = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
    expected = -np.log(p[np.arange(6), labels])
    np.testing.assert_allclose(nn.cross_entropy(ad.tensor(z), labels, reduction="none").numpy(), expected,
                               rtol=1e-13)
    y = rng.uniform(0, 1, (6, 4))
    s = 1 / (1 + np.exp(-z))
    bce = -(y * np.log(s) + (1 - y) * np.log(1 - s))
    np.testing.assert_allclose(nn.binary_cross_entropy_with_logits(ad.tensor(z), y).item(), bce.mean(),
                               rtol=1e-13)
    np.testing.assert_allclose(nn.hinge_loss(ad.tensor(z), np.sign(y - 0.5), reduction="sum").item(),
                               np.maximum(0, 1 - z * np.sign(y - 0.5)).sum(), rtol=1e-13)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_hinge_loss_tangents_agree_with_the_reverse_sweep(reduction):
    # one op with its reduction: its tangent rules (forward mode, batches of directions) must
    # give the Jacobian its gradient rules give, for the scores and for targets that are tensors
    s = np.array([[0.5, -2.0, 1.0], [3.0, -1.0, 0.25]])
    y = np.array([[1.0, 1.0, 1.0], [1.0, -1.0, -1.0]])  # margins 0.5, -2, 1 (kink), 3, 1 (kink), -0.25
    violated = (s * y < 1).astype(float)
    for argnums, local in ((0, -y * violated), (1, -s * violated)):
        f = ad.jacobian(lambda s, y: nn.hinge_loss(s, y, reduction=reduction), argnums=argnums, mode="fwd")
        g = ad.jacobian(lambda s, y: nn.hinge_loss(s, y, reduction=reduction), argnums=argnums, mode="rev")
        expected = {"sum": local, "mean": local / 6,
                    "none": np.eye(6).reshape(2, 3, 2, 3) * local[None, None]}[reduction]
        np.testing.assert_array_equal(f(s, y), expected)
        np.testing.assert_array_equal(g(s, y), expected)


def test_hinge_loss_of_no_elements_is_nan_as_a_mean_without_warnings():
    s = ad.tensor(np.zeros(0), requires_grad=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the fused op divided by 0 in its rule
        loss = nn.hinge_loss(s, np.zeros(0))
        loss.backward()
        _, tangent = ad.jvp(lambda s: nn.hinge_loss(s, np.zeros(0)), (s.detach(),), (np.zeros(0),))
    assert np.isnan(loss.item()) and s.grad.shape == (0,) and np.isnan(tangent.item())  # as a mean is


def test_layer_sizes_and_adam_betas_are_checked_with_clear_errors():
    for sizes in ((-1, 3), (2, 2.5), (True, 2)):  # a math domain error, a numpy shape error
        with pytest.raises(ValueError, match="must be a non-negative integer"):
            nn.Linear(*sizes)
    assert nn.Linear(np.int64(2), 0).weight.shape == (0, 2)
    with pytest.raises(ValueError, match=r"betas must be a pair"):  # len() of a float
        nn.optim.Adam([nn.Parameter([1.0])], betas=0.9)


def test_cross_entropy_of_no_samples_is_nan_as_a_mean_without_warnings():
    logits = ad.tensor(np.zeros((0, 3)), requires_grad=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # numpy's 0 / 0 warned
        loss = nn.cross_entropy(logits, np.zeros(0, int))
        loss.backward()
        _, tangent = ad.jvp(lambda z: nn.cross_entropy(z, np.zeros(0, int)), (np.zeros((0, 3)),),
                            (np.zeros((0, 3)),))
    assert np.isnan(loss.item()) and logits.grad.shape == (0, 3) and np.isnan(tangent)


@pytest.mark.parametrize("loss", [nn.hinge_loss, nn.binary_cross_entropy_with_logits])
def test_targets_in_a_list_holding_a_tensor_that_requires_grad_are_refused(loss):
    # the list became an array before the op, which made the tensor a constant: no gradient
    s, a = ad.tensor([0.5, -2.0], requires_grad=True), ad.tensor(1.0, requires_grad=True)
    with pytest.raises(TypeError, match="holding a tensor that requires grad"):
        loss(s, [a, 1.0])
    assert np.isfinite(loss(s, [1.0, 1.0]).item())  # numbers in a list are fine


def test_hinge_loss_gradient_is_minus_y_where_the_margin_is_violated_and_zero_at_the_kink():
    scores = ad.tensor([0.5, -2.0, 1.0, 3.0, -1.0, 0.25], requires_grad=True)
    y = np.array([1.0, 1.0, 1.0, 1.0, -1.0, -1.0])  # margins y s: 0.5, -2, 1 (kink), 3, 1 (kink), -0.25
    nn.hinge_loss(scores, y).backward()
    np.testing.assert_array_equal(scores.grad.numpy(), np.array([-1.0, -1.0, 0, 0, 0, 1.0]) / 6)
    targets = ad.tensor(y, requires_grad=True)  # and the targets' gradient, -s, where violated
    nn.hinge_loss(scores.detach(), targets, reduction="sum").backward()
    np.testing.assert_array_equal(targets.grad.numpy(), [-0.5, 2.0, 0, 0, 0, -0.25])


@pytest.mark.parametrize("dtype, rtol", [(np.float64, 1e-15), (np.float32, 1e-6)])
def test_binary_cross_entropy_keeps_its_digits_for_confident_predictions(dtype, rtol):
    # the loss of a confident right answer is log(1 + e^-|z|), tiny: softplus(z) - z*y
    # cancelled to 0 there for y = 1 (all digits lost from z = 35 in float64, 15 in float32)
    z = np.array([5.0, 15.0, 20.0, 35.0, 50.0, 80.0], dtype)
    exact = np.log1p(np.exp(-z.astype(np.float64)))
    for logits, label in ((z, 1.0), (-z, 0.0)):
        got = nn.binary_cross_entropy_with_logits(ad.tensor(logits), np.full_like(z, label), reduction="none")
        assert got.dtype == dtype
        np.testing.assert_allclose(got.numpy(), exact, rtol=rtol)


def test_cross_entropy_is_stable_and_its_gradient_is_softmax_minus_onehot():
    z = ad.tensor([[1e4, 0.0, -1e4], [-1e4, 1e4, 5.0], [3.0, 1.0, 2.0]], requires_grad=True)
    labels = np.array([1, 1, 0])
    loss = nn.cross_entropy(z, labels)
    assert np.isfinite(loss.item())
    loss.backward()
    shifted = z.numpy() - z.numpy().max(axis=1, keepdims=True)
    softmax = np.exp(shifted) / np.exp(shifted).sum(axis=1, keepdims=True)
    onehot = np.eye(3)[labels]
    np.testing.assert_allclose(z.grad.numpy(), (softmax - onehot) / 3, atol=1e-15)


def test_loss_errors_name_the_problem():
    with pytest.raises(ValueError,
                       match=r"mse_loss: predictions of shape \(3, 1\) and targets of shape \(3,\)"):
        nn.mse_loss(ad.tensor(np.ones((3, 1))), np.ones(3))
    with pytest.raises(ValueError, match=r"targets must lie in \[0, 2\)"):
        nn.cross_entropy(ad.tensor(np.ones((3, 2))), [0, 1, 2])
    with pytest.raises(ValueError, match="reduction must be one of"):
        nn.mse_loss(ad.tensor(1.0), 1.0, reduction="avg")
    for targets in (np.array([True, False, True]), np.array([np.inf, 0.0, 1.0])):
        with pytest.raises(ValueError, match="targets must be integer class indices, got"):
            nn.cross_entropy(ad.tensor(np.ones((3, 2))), targets)
    with pytest.raises(ValueError, match=r"targets must be -1 or \+1 \(for labels 0/1 pass 2 \* y - 1\)"):
        nn.hinge_loss(ad.tensor(np.ones(3)), np.array([0, 1, 1]))
    with pytest.raises(ValueError, match=r"logits must be \(N, classes\) and targets .* got \(2,\)"):
        nn.cross_entropy([1.0, 2.0], [0])  # a list: checked as an array
    assert float(nn.cross_entropy([[1.0, 2.0]], [1]).item()) == pytest.approx(np.log1p(np.exp(-1.0)))


# ------------------------------------------------------------- optimisers
def _one_param(values, grads_per_step, optimizer_factory):
    p = nn.Parameter(np.array(values, dtype=float))
    opt = optimizer_factory([p])
    for g in grads_per_step:
        p.grad = ad.tensor(np.array(g, dtype=float))
        opt.step()
    return p.numpy()


def test_sgd_with_momentum_nesterov_and_weight_decay_by_hand():
    # p=1, grads 0.5 then -0.2; lr 0.1, momentum 0.9, weight decay 0.01
    p = 1.0
    g1 = 0.5 + 0.01 * p
    b = g1
    p -= 0.1 * b
    g2 = -0.2 + 0.01 * p
    b = 0.9 * b + g2
    p -= 0.1 * b
    got = _one_param([1.0], [[0.5], [-0.2]],
                     lambda ps: nn.optim.SGD(ps, lr=0.1, momentum=0.9, weight_decay=0.01))
    assert got[0] == pytest.approx(p, rel=1e-15)
    # Nesterov: the step uses g + momentum * b
    p = 1.0
    b = 0.5
    p -= 0.1 * (0.5 + 0.9 * b)
    b = 0.9 * b - 0.2
    p -= 0.1 * (-0.2 + 0.9 * b)
    got = _one_param([1.0], [[0.5], [-0.2]], lambda ps: nn.optim.SGD(ps, lr=0.1, momentum=0.9, nesterov=True))
    assert got[0] == pytest.approx(p, rel=1e-15)


def test_adam_adamw_rmsprop_by_hand():
    grads = [0.5, -0.2, 0.1]
    b1, b2, eps, lr = 0.9, 0.999, 1e-8, 0.01
    p, m, v = 1.0, 0.0, 0.0
    for t, g in enumerate(grads, start=1):
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        p -= lr * (m / (1 - b1 ** t)) / (np.sqrt(v / (1 - b2 ** t)) + eps)
    got = _one_param([1.0], [[g] for g in grads], lambda ps: nn.optim.Adam(ps, lr=lr))
    assert got[0] == pytest.approx(p, rel=1e-14)

    p, m, v = 1.0, 0.0, 0.0
    for t, g in enumerate(grads, start=1):
        p *= 1 - lr * 0.1
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        p -= lr * (m / (1 - b1 ** t)) / (np.sqrt(v / (1 - b2 ** t)) + eps)
    got = _one_param([1.0], [[g] for g in grads], lambda ps: nn.optim.AdamW(ps, lr=lr, weight_decay=0.1))
    assert got[0] == pytest.approx(p, rel=1e-14)

    p, v, buf = 1.0, 0.0, 0.0
    for g in grads:
        v = 0.99 * v + 0.01 * g * g
        buf = 0.5 * buf + g / (np.sqrt(v) + 1e-8)
        p -= 0.01 * buf
    got = _one_param([1.0], [[g] for g in grads], lambda ps: nn.optim.RMSprop(ps, lr=0.01, momentum=0.5))
    assert got[0] == pytest.approx(p, rel=1e-14)


def test_learning_rate_schedules():
    opt = nn.optim.SGD([nn.Parameter([1.0])], lr=1.0)
    step = nn.optim.StepLR(opt, step_size=2, gamma=0.5)
    lrs = []
    for _ in range(5):
        step.step()
        lrs.append(opt.lr)
    assert lrs == [1.0, 0.5, 0.5, 0.25, 0.25]
    opt = nn.optim.SGD([nn.Parameter([1.0])], lr=1.0)
    cosine = nn.optim.CosineAnnealingLR(opt, T_max=4, eta_min=0.0)
    for _ in range(2):
        cosine.step()
    assert opt.lr == pytest.approx(0.5)
    for _ in range(2):
        cosine.step()
    assert opt.lr == pytest.approx(0.0, abs=1e-15)


def test_schedules_keep_a_change_made_from_outside():
    # the rate found at each step is the one decayed: scaling it by 4 from outside keeps
    # it 4 times the schedule's own rate (eta_min 0) from then on (the cosine's, down to
    # its bottom at T_max: it climbs back by steps of the formula's size)
    for make, epochs in ((lambda o: nn.optim.StepLR(o, step_size=2, gamma=0.5), 9),
                         (lambda o: nn.optim.CosineAnnealingLR(o, T_max=5), 5)):
        alone, changed = (nn.optim.SGD([nn.Parameter([1.0])], lr=1.0) for _ in range(2))
        schedules = make(alone), make(changed)
        for epoch in range(1, epochs + 1):
            for s in schedules:
                s.step()
            if epoch == 1:
                changed.lr *= 4
            assert changed.lr == pytest.approx(4 * alone.lr, rel=1e-12, abs=1e-15)


def test_cosine_schedule_climbs_back_after_t_max():
    opt = nn.optim.SGD([nn.Parameter([1.0])], lr=1.0)
    cosine = nn.optim.CosineAnnealingLR(opt, T_max=3, eta_min=0.1)
    for epoch in range(1, 13):
        cosine.step()
        assert opt.lr == pytest.approx(0.1 + 0.9 * (1 + np.cos(np.pi * epoch / 3)) / 2, abs=1e-14)


def test_a_cosine_made_after_another_schedule_peaks_at_the_first_schedule_s_rate():
    # PyTorch's initial_lr: the optimiser's rate when its first schedule was made (it took
    # the rate the step schedule had decayed to, 8 times too small)
    opt = nn.optim.SGD([nn.Parameter([1.0])], lr=0.1)
    step = nn.optim.StepLR(opt, step_size=1, gamma=0.5)
    for _ in range(3):
        step.step()
    cosine = nn.optim.CosineAnnealingLR(opt, T_max=5)
    for _ in range(6):  # down to 0 at 5, then one step up by the formula's step from the peak
        cosine.step()
    assert opt.lr == pytest.approx(0.1 * (1 - np.cos(np.pi / 5)) / 2, rel=1e-12)


def test_a_learning_rate_given_as_an_array_is_not_changed_in_place():
    # the optimiser kept the caller's 0-d array: StepLR's *= changed it, and with it the
    # cosine's peak (the same array); an integer array failed numpy's in-place cast
    rates = []
    for lr in (0.1, np.array(0.1), ad.tensor(0.1)):
        opt = nn.optim.SGD([nn.Parameter([1.0])], lr=lr)
        step, cosine = nn.optim.StepLR(opt, 1, 0.5), nn.optim.CosineAnnealingLR(opt, 2)
        for _ in range(6):
            step.step()
            cosine.step()
            rates.append(float(opt.lr))
    assert rates[:6] == rates[6:12] == rates[12:]
    given = np.array(1)
    opt = nn.optim.SGD([nn.Parameter([1.0])], lr=given)
    nn.optim.StepLR(opt, 1, 0.5).step()
    assert opt.lr == 0.5 and given == 1


def test_optimiser_errors_name_the_problem():
    p = nn.Parameter(np.ones((2, 3)))
    with pytest.raises(TypeError, match=r"got a single Tensor: pass \[p\]"):
        nn.optim.SGD(p)  # list(p) would walk its rows, and nothing would train
    with pytest.raises(ValueError, match="parameter 0 was made by the op 'multiply'"):
        nn.optim.SGD([p * 2])
    with pytest.raises(TypeError, match="entry 1 is a float"):
        nn.optim.SGD([p, 1.0])
    with pytest.raises(TypeError, match=r"got a Sequential: pass its .parameters\(\)"):
        nn.optim.SGD(nn.Sequential(nn.Linear(2, 2)))
    # numpy integers are integers (a step count computed with numpy)
    assert nn.optim.StepLR(nn.optim.SGD([p]), np.int64(3)).step_size == 3
    for make, message in [(lambda: nn.optim.Adam([p], betas=(1.0, 0.9)), r"betas\[0\] must be in \[0, 1\)"),
                          (lambda: nn.optim.Adam([p], betas=(0.9, 1.0)), r"betas\[1\] must be in"),
                          (lambda: nn.optim.Adam([p], betas=(0.9,)), r"betas must be a pair"),
                          (lambda: nn.optim.RMSprop([p], eps=-1), "eps must be finite and non-negative"),
                          (lambda: nn.optim.SGD([p], momentum=-0.5), "momentum must be finite and non-"),
                          (lambda: nn.optim.SGD([p], lr=float("inf")), "learning rate must be finite"),
                          (lambda: nn.optim.AdamW([p], weight_decay=-1), "weight_decay must be"),
                          (lambda: nn.optim.SGD([p], lr=float("nan")), "learning rate must be"),
                          (lambda: nn.optim.StepLR(nn.optim.SGD([p]), 0), "step_size must be"),
                          (lambda: nn.optim.StepLR(nn.optim.SGD([p]), True), "step_size must be"),
                          (lambda: nn.optim.CosineAnnealingLR(nn.optim.SGD([p]), 0), "T_max must be")]:
        with pytest.raises(ValueError, match=message):
            make()
    for rate in (np.float32(0.1), np.array(0.1), ad.tensor(0.1), 1):  # real numbers of any kind
        nn.optim.StepLR(nn.optim.SGD([p], lr=rate, momentum=rate), 2, gamma=rate)
    assert nn.optim.SGD([p]).lr == 1e-3  # PyTorch's default (it was 0.01: steps 10x larger)
    for make, message in [(lambda: nn.optim.SGD([p], lr="0.1"), "learning rate must be a real number, got '"),
                          (lambda: nn.optim.Adam([p], None), "learning rate must be a real number, got None"),
                          (lambda: nn.optim.StepLR([p], 2), "StepLR takes the optimiser .* got a list"),
                          (lambda: nn.optim.CosineAnnealingLR(0.1, 5), "takes the optimiser .* got a float")]:
        with pytest.raises(TypeError, match=message):  # they failed on a comparison, or not at all
            make()
    opt = nn.optim.Adam([p])
    for grad, message in [(ad.tensor(np.ones(3)), r"of shape \(2, 3\) has a gradient of shape \(3,\)"),
                          (np.ones((2, 3)), "type ndarray")]:
        p.grad = grad
        with pytest.raises(ValueError, match=message):
            opt.step()
        np.testing.assert_array_equal(p.numpy(), np.ones((2, 3)))


def test_float32_training_stays_float32():
    model = nn.MLP([2, 8, 2], dtype=np.float32, rng=np.random.default_rng(0))
    X, y = nn.data.blobs(40, centers=2, rng=np.random.default_rng(0))
    nn.fit(model, nn.cross_entropy, nn.optim.Adam(model.parameters(), 0.01), (X.astype(np.float32), y),
           epochs=2, progress=False, rng=np.random.default_rng(0))
    assert all(p.dtype == np.float32 and p.grad.dtype == np.float32 for p in model.parameters())


# ------------------------------------------------------------------ data
def test_batches_cover_the_data_once_and_shuffle_with_the_generator():
    X, y = np.arange(20).reshape(10, 2), np.arange(10)
    seen = np.concatenate([yb for _, yb in nn.data.batches(X, y, 3, rng=np.random.default_rng(0))])
    assert sorted(seen) == list(range(10)) and list(seen) != list(range(10))
    again = np.concatenate([yb for _, yb in nn.data.batches(X, y, 3, rng=np.random.default_rng(0))])
    np.testing.assert_array_equal(seen, again)
    for xb, yb in nn.data.batches(X, y, 4, shuffle=False):
        np.testing.assert_array_equal(xb[:, 0] // 2, yb)


def test_data_helpers_name_what_is_wrong():
    X, y = np.zeros((5, 2)), np.zeros(4)
    with pytest.raises(ValueError, match="X has 5 rows but y has 4"):
        list(nn.data.batches(X, y))
    with pytest.raises(ValueError, match="X has 5 rows but y has 4"):
        nn.data.train_test_split(X, y)
    with pytest.raises(ValueError, match="batch_size must be a positive integer, got None"):
        list(nn.data.batches(X, np.zeros(5), None))
    with pytest.raises(ValueError, match="X has 5 rows but y has 4"):
        nn.data.batches(X, y)  # said when called, not when the first batch is asked for
    with pytest.raises(ValueError, match="spirals: needs at least one class"):
        nn.data.spirals(10, classes=0)
    with pytest.raises(ValueError, match="spirals: needs at least one class and a point a class"):
        nn.data.spirals(2, classes=3)
    parts = nn.data.train_test_split([[0.0]] * 8, list(range(8)), rng=np.random.default_rng(0))  # lists
    assert [len(part) for part in parts] == [6, 6, 2, 2]
    assert sorted(np.concatenate([parts[1], parts[3]])) == list(range(8))


@pytest.mark.parametrize("make, classes", [
    (lambda rng: nn.data.moons(100, 0.1, rng), 2),
    (lambda rng: nn.data.spirals(90, 3, rng=rng), 3),
    (lambda rng: nn.data.blobs(60, centers=4, rng=rng), 4),
])
def test_datasets_have_the_promised_shape_and_labels(make, classes):
    X, y = make(np.random.default_rng(0))
    assert X.ndim == 2 and X.shape[1] == 2 and len(X) == len(y)
    assert sorted(np.unique(y)) == list(range(classes))
    X2, _ = make(np.random.default_rng(0))
    np.testing.assert_array_equal(X, X2)


def test_digits_says_what_to_install_without_scikit_learn(monkeypatch):
    import builtins

    real_import = builtins.__import__

    def no_sklearn(name, *args, **kwargs):
        if name.startswith("sklearn"):
            raise ImportError("No module named 'sklearn'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_sklearn)
    with pytest.raises(ImportError, match=r"pip install -e '\.\[examples\]'"):
        nn.data.digits()


# -------------------------------------------------------------- training
def test_a_sigmoid_network_learns_xor():
    X, y = nn.data.xor()
    model = nn.MLP([2, 4, 1], activation="sigmoid", output_activation="sigmoid", rng=np.random.default_rng(1))
    opt = nn.optim.SGD(model.parameters(), lr=2.0, momentum=0.9)
    history = nn.fit(model, nn.mse_loss, opt, (X, y), epochs=500, batch_size=4, threshold=0.5, progress=False)
    assert history["accuracy"][-1] == 1.0
    assert history["loss"][-1] < history["loss"][0]
    np.testing.assert_array_equal(model(X).numpy().ravel() > 0.5, y == 1)


def test_an_mlp_learns_moons_to_97_percent():
    rng = np.random.default_rng(0)
    X, y = nn.data.moons(600, noise=0.1, rng=rng)
    X_train, y_train, X_test, y_test = nn.data.train_test_split(X, y, 0.25, rng=rng)
    model = nn.MLP([2, 16, 16, 2], rng=rng)
    nn.fit(model, nn.cross_entropy, nn.optim.Adam(model.parameters(), 0.02), (X_train, y_train),
           epochs=60, batch_size=32, rng=rng, progress=False)
    assert nn.evaluate(model, nn.cross_entropy, (X_test, y_test))["accuracy"] >= 0.97


def test_evaluate_restores_every_modules_own_mode():
    model = nn.MLP([2, 8, 1], dropout=0.5, rng=np.random.default_rng(0))
    dropout = model.layers[2]
    dropout.eval()  # the model trains, its dropout does not
    nn.evaluate(model, nn.binary_cross_entropy_with_logits, (np.zeros((4, 2)), np.zeros(4)))
    assert model.training and not dropout.training
    with pytest.raises(ValueError, match="evaluate: the data has no samples"):
        nn.evaluate(model, nn.binary_cross_entropy_with_logits, (np.zeros((0, 2)), np.zeros(0)))


def test_accuracy_of_labels_one_hot_targets_and_mismatched_shapes():
    outputs = np.array([[2.0, 1.0], [0.0, 3.0], [5.0, -1.0]])
    assert nn.accuracy(outputs, [0, 1, 1]) == pytest.approx(2 / 3)
    assert nn.accuracy(outputs, np.eye(2)[[0, 1, 1]]) == pytest.approx(2 / 3)  # one-hot
    assert nn.accuracy(np.array([0.3, -2.0]), np.array([[1], [0]])) == 1.0
    with pytest.raises(ValueError, match=r"outputs of shape \(3, 2\) need class labels of shape \(3,\)"):
        nn.accuracy(outputs, [0, 1])
    with pytest.raises(ValueError, match="are not one value per sample"):
        nn.accuracy(np.zeros(3), np.zeros(4))


def test_fit_trains_a_regression_with_several_outputs():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((32, 2))
    Y = X @ np.array([[1.0, -2.0], [0.5, 3.0]])
    model = nn.Linear(2, 2, rng=rng)
    history = nn.fit(model, nn.mse_loss, nn.optim.SGD(model.parameters(), 0.3), (X, Y), epochs=100,
                     rng=rng, progress=False)
    assert history["loss"][-1] < 0.01 * history["loss"][0]
    with pytest.raises(ValueError, match="fit: the data has no samples"):
        nn.fit(model, nn.mse_loss, nn.optim.SGD(model.parameters(), 0.1), (X[:0], Y[:0]), progress=False)


def test_fit_and_evaluate_check_their_arguments_before_training():
    X, y = nn.data.xor()
    model = nn.MLP([2, 4, 2], rng=np.random.default_rng(0))
    opt = nn.optim.SGD(model.parameters(), 0.1)
    before = [p.numpy().copy() for p in model.parameters()]
    with pytest.raises(ValueError, match="epochs must be a non-negative integer, got -3"):
        nn.fit(model, nn.cross_entropy, opt, (X, y), epochs=-3, progress=False)
    with pytest.raises(ValueError, match="X has 4 rows but y has 3"):
        nn.fit(model, nn.cross_entropy, opt, (X, y[:3]), epochs=0, progress=False)
    with pytest.raises(ValueError, match="batch_size must be a positive integer, got 0"):
        nn.evaluate(model, nn.cross_entropy, (X, y), batch_size=0)
    # misplaced arguments: they failed deep inside (a tuple unpacked, an object called), or trained nothing
    other = nn.optim.SGD(nn.MLP([2, 4, 2]).parameters(), 0.1)
    data, scheduler = (X, y), {"scheduler": "cos"}
    for args, kwargs, error, message in [
            ((model, nn.cross_entropy, opt, X), {}, TypeError, "data must be a pair .* got ndarray"),
            ((model, nn.cross_entropy, opt, (X, y, y)), {}, TypeError, "got tuple of 3"),
            ((model, opt, nn.cross_entropy, data), {}, TypeError, "loss_fn must be a loss .* got SGD"),
            ((model, nn.cross_entropy, 0.01, data), {}, TypeError, "optimizer must be an .* got float"),
            ((model.forward, nn.cross_entropy, opt, data), {}, TypeError, "model must be an nn.Module"),
            ((model, nn.cross_entropy, opt, data), scheduler, TypeError, "scheduler must be a schedule")]:
        with pytest.raises(error, match=message):
            nn.fit(*args, progress=False, **kwargs)
    with pytest.warns(UserWarning, match="updates none of the model's parameters"):
        nn.fit(model, nn.cross_entropy, other, data, progress=False)
    # a model whose trainable tensors are not nn.Parameters is the user's to pair with them
    start = np.random.default_rng(1).standard_normal((2, 2))
    weight = ad.tensor(start, requires_grad=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        nn.fit(nn.Sequential(lambda x: x @ weight), nn.cross_entropy, nn.optim.SGD([weight], 0.1), data,
               progress=False)
    assert not np.array_equal(weight.numpy(), start)
    for p, b in zip(model.parameters(), before, strict=True):
        np.testing.assert_array_equal(p.numpy(), b)


def test_fit_and_evaluate_refuse_a_loss_that_is_not_a_batch_mean():
    # they weigh each batch's loss by its size: a sum made a figure that changed with the
    # batch size (neither the sum nor the mean)
    import functools

    X, y = nn.data.blobs(20, rng=0)
    model = nn.MLP([2, 4, 3], rng=0)
    opt = nn.optim.SGD(model.parameters(), lr=0.1)
    for loss in (nn.CrossEntropyLoss("sum"), nn.CrossEntropyLoss("none"), nn.CrossEntropyLoss("sum").forward,
                 functools.partial(nn.cross_entropy, reduction="sum"),
                 functools.partial(nn.CrossEntropyLoss("sum"))):
        with pytest.raises(ValueError, match="reduction='mean'"):
            nn.evaluate(model, loss, (X, y), batch_size=7)
        with pytest.raises(ValueError, match="reduction='mean'"):
            nn.fit(model, loss, opt, (X, y), progress=False)

    class Mine:  # a user's mean loss whose "reduction" is something else: not ours to judge
        reduction = "batchmean"

        def __call__(self, out, target):
            return nn.cross_entropy(out, target)

    assert np.isfinite(nn.evaluate(model, Mine(), (X, y))["loss"])
    assert nn.evaluate(model, nn.CrossEntropyLoss(), (X, y), batch_size=7)["loss"] == pytest.approx(
        nn.cross_entropy(model(X), y).item(), rel=1e-12)


@pytest.mark.parametrize("loss", [nn.cross_entropy, nn.CrossEntropyLoss()])
def test_fit_passes_class_indices_as_they_are_to_a_one_wide_cross_entropy(loss):
    # (N,) targets become a column for (N, 1) outputs (mse, hinge...) but stay class indices here
    X, y = nn.data.xor()
    y = np.zeros_like(y)  # one class: a (N, 1) output is a legitimate (if dull) classifier
    model = nn.MLP([2, 3, 1], rng=np.random.default_rng(0))
    history = nn.fit(model, loss, nn.optim.SGD(model.parameters(), 0.1), (X, y), epochs=2, progress=False)
    assert history["loss"] == [0.0, 0.0]
    assert nn.evaluate(model, loss, (X, y))["loss"] == 0.0


def test_fit_reports_validation_and_runs_the_schedule():
    rng = np.random.default_rng(0)
    X, y = nn.data.blobs(80, centers=2, rng=rng)
    model = nn.MLP([2, 4, 2], rng=rng)
    opt = nn.optim.SGD(model.parameters(), lr=0.1)
    history = nn.fit(model, nn.cross_entropy, opt, (X[:60], y[:60]), epochs=3, val_data=(X[60:], y[60:]),
                     scheduler=nn.optim.StepLR(opt, 1, 0.5), rng=rng, progress=False)
    assert set(history) == {"loss", "accuracy", "val_loss", "val_accuracy"}
    assert all(len(v) == 3 for v in history.values())
    assert opt.lr == pytest.approx(0.1 * 0.5 ** 3)


# ------------------------------------------------------------ found by a review against torch
@pytest.mark.parametrize("copier", [copy.deepcopy, lambda m: pickle.loads(pickle.dumps(m))])
def test_a_copied_model_keeps_its_parameters(copier):
    model = nn.MLP([2, 3, 1], rng=np.random.default_rng(0))
    twin = copier(model)
    assert [type(p) for p in twin.parameters()] == [nn.Parameter] * len(model.parameters())
    for (name, a), (name2, b) in zip(model.state_dict().items(), twin.state_dict().items(), strict=True):
        assert name == name2
        np.testing.assert_array_equal(a, b)
    assert twin.parameters()[0] is not model.parameters()[0]


def test_cross_entropy_reads_the_targets_it_was_given():
    logits = np.array([[1.0, 2.0, 3.0], [0.0, 0.0, 1.0]])
    z = ad.tensor(logits, requires_grad=True)
    labels = np.array([0, 1])
    loss = nn.cross_entropy(z, labels)
    labels[:] = [2, 2]  # refilled before backward()
    loss.backward()
    p = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    np.testing.assert_allclose(z.grad.numpy(), (p - np.eye(3)[[0, 1]]) / 2, rtol=1e-14)


def test_dict_keys_with_dots_would_name_two_parameters_alike():
    class M(nn.Module):
        def __init__(self):
            self.d = {"a.b": nn.Parameter([1.0]), "a": {"b": nn.Parameter([2.0])}}

    with pytest.raises(TypeError, match="without dots"):
        M().parameters()


def test_constructor_and_train_arguments_are_checked():
    with pytest.raises(ValueError, match="reduction must be"):
        nn.CrossEntropyLoss(np.ones(3))  # PyTorch's first argument is a weight
    with pytest.raises(ValueError, match="True or False"):
        nn.MLP([2, 3, 1]).train("no")
    a, b = nn.Linear(3, 2, rng=7), nn.Linear(3, 2, rng=np.random.default_rng(7))  # a seed, as a Generator
    np.testing.assert_array_equal(a.weight.numpy(), b.weight.numpy())


def test_an_activation_given_as_a_class_is_made_as_its_name_would_be():
    rng = lambda: np.random.default_rng(3)  # noqa: E731
    x = np.linspace(-1, 1, 8).reshape(4, 2)
    for cls, name in [(nn.Tanh, "tanh"), (nn.ReLU, "relu")]:
        a, b = nn.MLP([2, 5, 1], activation=cls, rng=rng()), nn.MLP([2, 5, 1], activation=name, rng=rng())
        np.testing.assert_array_equal(a(x).numpy(), b(x).numpy())  # same layers, same initialiser


@pytest.mark.parametrize("loss", ["mse_loss", "binary_cross_entropy_with_logits", "hinge_loss",
                                  "cross_entropy"])
def test_a_loss_refuses_targets_in_a_masked_array(loss):
    # the masked samples would count as any other (their values under the mask)
    scores = ad.tensor([[0.5, -1.0], [2.0, 0.1]], requires_grad=True)
    targets = {"cross_entropy": np.ma.masked_array([0, 1], mask=[False, True]),
               "hinge_loss": np.ma.masked_array([[1.0, -1.0], [1.0, 1.0]], mask=[[0, 0], [0, 1]])}.get(
        loss, np.ma.masked_array([[1.0, 0.0], [0.0, 1.0]], mask=[[0, 0], [0, 1]]))
    with pytest.raises(TypeError, match=r"masked array.*filled"):
        getattr(nn, loss)(scores, targets)
