"""Drawing the graph and explaining backpropagation."""

from __future__ import annotations

import colorsys
import os
import pathlib
import re
import struct
import subprocess
import sys
import xml.etree.ElementTree as ET

import numpy as np
import pytest

import autodiff as ad
import autodiff.viz as viz
from autodiff.__main__ import _two_neuron, main
from autodiff.backward import topological

SNAPSHOTS = pathlib.Path(__file__).parent / "snapshots"


def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


def drawn_nodes(source: str) -> list[str]:
    return re.findall(r"^\s*(n\d+) \[", source, flags=re.M)


def node_table(source: str) -> dict[str, tuple[str, dict[str, str]]]:
    """Each drawn node's label and other attributes, read from the DOT source."""
    table = {}
    for node, label, rest in re.findall(r'^\s*(n\d+) \[label="([^"]*)"([^\]]*)\]', source, flags=re.M):
        table[node] = (label, dict(re.findall(r'(\w+)="?([^"\s]+)"?', rest)))
    return table


def nodes_held(label: str) -> int:
    """How many recorded tensors a drawn node stands for: 1, or the count its summary states."""
    held = re.search(r"\(([\d,]+) nodes\)|chain of ([\d,]+) ops|… ([\d,]+) earlier nodes", label)
    return 1 if held is None else int(next(g for g in held.groups() if g).replace(",", ""))


def w1_chain(reps: int):
    """The benchmarks' W1 chain: y = tanh(y * 1.01 + 0.1), three ops a repeat."""
    y = ad.tensor(np.random.default_rng(0).standard_normal(8), requires_grad=True)
    for _ in range(reps):
        y = (y * 1.01 + 0.1).tanh()
    return y.sum()


def leaf_per_block(reps: int):
    """A loop that brings a new input each time: acc + sin(leaf * leaf)."""
    rng = np.random.default_rng(0)
    acc = ad.tensor(rng.standard_normal(2), requires_grad=True) * 1.0
    for _ in range(reps):
        leaf = ad.tensor(rng.standard_normal(2), requires_grad=True)
        acc = acc + (leaf * leaf).sin()
    return acc.sum()


def shared_weights(steps: int):
    """A recurrent net unrolled: every step uses the same W and U."""
    rng = np.random.default_rng(0)
    W = ad.tensor(rng.standard_normal((4, 4)) * 0.3, requires_grad=True)
    U = ad.tensor(rng.standard_normal((3, 4)) * 0.3, requires_grad=True)
    h = ad.tensor(np.zeros(4))
    for x in rng.standard_normal((steps, 3)):
        h = (h @ W + x @ U).tanh()
    return h.sum()


def nested_loops(outer: int):
    """A loop whose body holds a loop: a chain of sines, then a scale by a new leaf."""
    rng = np.random.default_rng(0)
    y = ad.tensor(rng.standard_normal(3), requires_grad=True)
    for _ in range(outer):
        for _ in range(12):
            y = y.sin()
        y = y * ad.tensor(rng.uniform(0.5, 1.5), requires_grad=True)
    return y.sum()


def irregular(steps: int):
    """No repeated structure: each step applies a randomly chosen op to a randomly chosen earlier value."""
    rng = np.random.default_rng(0)
    values = [ad.tensor(rng.standard_normal(3), requires_grad=True)]
    unary = [ad.sin, ad.tanh, ad.cos, ad.sigmoid, lambda v: v * 0.5]
    for _ in range(steps):
        a, b = (values[int(i)] for i in rng.integers(max(0, len(values) - 20), len(values), 2))
        values.append(unary[int(rng.integers(len(unary)))](a) + b if rng.random() < 0.5 else
                      unary[int(rng.integers(len(unary)))](a))
    return sum(values[-10:]).sum()


GRAPHS = {"w1_chain": lambda: w1_chain(400), "leaf_per_block": lambda: leaf_per_block(300),
          "shared_weights": lambda: shared_weights(300), "nested_loops": lambda: nested_loops(40),
          "irregular": lambda: irregular(600)}


def small_graph():
    x = ad.tensor([1.0, -2.0, 0.5], requires_grad=True)
    w = ad.tensor([0.3, 0.1, -0.7], requires_grad=True)
    return ((x * w).tanh() - x).sum(), x, w


@pytest.fixture(params=["dot", "graphviz-pure"])
def program(request, monkeypatch):
    """Render with the system Graphviz and with the pip-installed fallback, each alone."""
    path = viz._find(request.param)
    if path is None:
        pytest.skip(f"{request.param} is not installed (system Graphviz: apt-get install graphviz)")
    monkeypatch.setattr(viz, "_PROGRAMS", (request.param,))
    return path


def test_png_is_a_real_picture_for_small_and_collapsed_graphs(tmp_path, program):
    loss, _, _ = small_graph()
    ad.draw(loss, tmp_path / "small.png")
    assert min(png_size((tmp_path / "small.png").read_bytes())) > 0
    y = ad.tensor(np.ones(4), requires_grad=True)
    for _ in range(2000):
        y = (y * 1.01 + 0.1).tanh()
    picture = ad.draw(y.sum(), tmp_path / "large.png", max_nodes=50)
    assert len(drawn_nodes(picture.source)) <= 50
    assert min(png_size((tmp_path / "large.png").read_bytes())) > 0


def test_svg_is_well_formed_xml(tmp_path, program):
    loss, _, _ = small_graph()
    ad.draw(loss, tmp_path / "graph.svg")
    root = ET.parse(tmp_path / "graph.svg").getroot()
    assert root.tag.endswith("svg")


def test_dot_has_one_node_per_recorded_tensor_and_edges_towards_the_output(tmp_path):
    loss, x, w = small_graph()
    picture = ad.draw(loss, tmp_path / "graph.dot", params={"x": x, "w": w})
    source = (tmp_path / "graph.dot").read_text()
    assert source == picture.source
    labels = dict(re.findall(r'^\s*(n\d+) \[label="([^"]*)"', source, flags=re.M))
    assert len(labels) == 6  # x, w, mul, tanh, sub, sum
    first_line = {node: label.split("\n")[0] for node, label in labels.items()}
    edges = re.findall(r"(n\d+) -> (n\d+)", source)
    by_name = {line.split(" = ")[-1].split("(")[0]: node for node, line in first_line.items()}
    assert (by_name["x"], by_name["mul"]) in edges and (by_name["w"], by_name["mul"]) in edges
    assert (by_name["mul"], by_name["tanh"]) in edges and (by_name["tanh"], by_name["sub"]) in edges
    assert (by_name["sub"], by_name["sum"]) in edges and (by_name["x"], by_name["sub"]) in edges


def test_snapshot_of_the_two_neuron_chain():
    root, names = _two_neuron({})
    source = ad.draw(root, params=names).source
    assert "0x" not in source  # no memory addresses
    assert source == (SNAPSHOTS / "two_neuron.dot").read_text()


def test_nodes_show_values_and_the_adjoints_backprop_computes():
    loss, x, w = small_graph()
    source = ad.draw(loss, params={"x": x, "w": w}).source
    (gx, gw) = ad.gradients(loss, (x, w), retain_graph=True)
    assert f"grad {viz._summary(gw.numpy())}" in source and f"grad {viz._summary(gx.numpy())}" in source
    assert "value [1, -2, 0.5]" in source
    assert x.grad is None  # drawing touches no .grad


def test_nonfinite_values_are_marked_red_and_constants_grey():
    x = ad.tensor([0.0, 1.0], requires_grad=True)
    c = ad.tensor([2.0, 3.0])
    with np.errstate(divide="ignore", invalid="ignore"):
        source = ad.draw((ad.log(x) * c).sum(), params={"x": x, "c": c}).source
    assert 'fillcolor="#ff8080"' in source  # log(0) = -inf
    assert 'fontcolor="#808080"' in source  # c requires no grad


def test_module_clusters():
    nn = pytest.importorskip("nn")
    model = nn.MLP([2, 3, 2], rng=np.random.default_rng(0))
    loss = nn.cross_entropy(model(np.ones((4, 2))), [0, 1, 1, 0])
    source = ad.draw(loss, params=model.named_parameters(), group_by_module=True).source
    assert re.search(r'subgraph "?cluster_layers\.0', source)
    assert re.search(r'subgraph "?cluster_layers\.2', source)
    assert "layers.0.weight" in source
    with pytest.raises(ValueError, match="group_by_module needs the parameters' names"):
        ad.draw(loss, group_by_module=True)  # it drew no clusters, silently


def saturation(color: str) -> float:
    red, green, blue = (int(color[i:i + 2], 16) / 255 for i in (1, 3, 5))
    return colorsys.rgb_to_hsv(red, green, blue)[1]


def test_color_by_grad_shades_larger_adjoints_deeper():
    # each mul by 3 triples the adjoint going back: 1, 3, 9, 27, 81 from the output to a
    a = ad.tensor(2.0, requires_grad=True)
    out = a
    for _ in range(4):
        out = out * 3.0
    shaded = node_table(ad.draw(out, params={"a": a}, color_by_grad=True).source)
    grad_and_fill = sorted((abs(float(re.search(r"grad (\S+)", label).group(1))),
                            saturation(attrs["fillcolor"])) for label, attrs in shaded.values())
    assert [g for g, _ in grad_and_fill] == [1, 3, 9, 27, 81]
    fills = [s for _, s in grad_and_fill]
    # deeper as the adjoint grows
    assert all(0 < lower < higher for lower, higher in zip(fills, fills[1:], strict=False))
    plain = node_table(ad.draw(out, params={"a": a}).source)
    assert {attrs["fillcolor"] for _, attrs in plain.values()} == {"#cfe2ff", "white"}  # unshaded without it


def test_color_by_grad_on_a_network_shades_every_node_that_has_an_adjoint():
    nn = pytest.importorskip("nn")
    model = nn.MLP([2, 3, 2], rng=np.random.default_rng(0))
    loss = nn.cross_entropy(model(np.ones((4, 2))), [0, 1, 1, 0])
    table = node_table(ad.draw(loss, params=model.named_parameters(), color_by_grad=True).source)
    for label, attrs in table.values():
        grads = [float(v) for v in re.findall(r"-?\d[\d.e+-]*", label.partition("grad ")[2])]
        if grads and max(map(abs, grads)) > 0:
            assert attrs["fillcolor"].startswith("#ff") and saturation(attrs["fillcolor"]) > 0, label


@pytest.mark.parametrize("max_nodes", [2, 12, 40, 250])
@pytest.mark.parametrize("name", list(GRAPHS))
def test_collapsed_graphs_stay_within_max_nodes_and_account_for_every_tensor(name, max_nodes):
    root = GRAPHS[name]()
    recorded = topological(root)
    assert len(recorded) > 250  # each graph needs collapsing even at the default
    table = node_table(ad.draw(root, max_nodes=max_nodes).source)
    assert len(table) <= max_nodes
    assert sum(nodes_held(label) for label, _ in table.values()) == len(recorded)
    ops = sum(t._rules is not None for t in recorded)
    assert any(label.startswith(f"v{ops} = sum\n") for label, _ in table.values())  # the output, drawn alone


def test_repeated_blocks_become_one_node_that_counts_the_repeats():
    reps = 400
    table = node_table(ad.draw(w1_chain(reps)).source)
    labels = [label for label, _ in table.values()]
    # the first and the last repeat are drawn; the summary holds the others
    assert f"× {reps - 2:,} repeats of\nmul → add → tanh\n({3 * (reps - 2):,} nodes)" in "\n".join(labels)
    assert len(table) == 1 + 3 + 1 + 3 + 1  # input, first block, summary, last block, sum
    assert any(label.startswith("x0\n(8,) float64") for label in labels)  # the input stays visible


def test_a_new_input_in_every_repeat_is_part_of_the_block():
    reps = 300
    labels = [label for label, _ in node_table(ad.draw(leaf_per_block(reps)).source).values()]
    # acc = x0 * 1.0 first, then reps blocks x_i → square → sin → add; first and last drawn
    assert any(label.startswith(f"× {reps - 2:,} repeats of\nleaf → square → sin → add") for label in labels)
    assert any(label.startswith(f"x{reps}\n") for label in labels)  # the last input, drawn with its block


def test_a_summary_feeding_many_operands_of_one_node_draws_one_edge():
    x, h, outs = ad.tensor(0.5, requires_grad=True), None, []
    h = x
    for _ in range(300):
        h = (h * 0.9).tanh()
        outs.append(h)
    source = ad.draw(ad.stack(outs).sum()).source
    table = node_table(source)
    summary = next(node for node, (label, _) in table.items() if "repeats of" in label)
    stack = next(node for node, (label, _) in table.items() if "stack" in label or "concatenate" in label)
    assert source.count(f"{summary} -> {stack}") == 1
    assert f'{summary} -> {stack} [label="298 operands"]' in source
    assert source.count("->") < 2 * len(table)


def test_drawing_runs_no_hooks_and_names_wrong_arguments():
    w = ad.tensor(2.0, requires_grad=True)
    h = w * 3
    seen = []
    h.register_hook(lambda g: seen.append(float(g.numpy())))
    loss = h * h
    assert "grad 12" in ad.draw(loss).source  # d(h²)/dh at h = 6, as backward computes it
    ad.explain(loss)
    assert seen == []  # a drawing only looks: hooks that log or count see backward's gradients only
    loss.backward()
    assert seen == [12.0]
    y = ad.tensor([1.0, 2.0], requires_grad=True) * 2
    with pytest.raises(TypeError, match="take one Tensor .*got a tuple"):
        ad.draw((y, y))
    with pytest.raises(TypeError, match=r"\(name, tensor\) pairs, as model.named_parameters\(\)"):
        ad.draw(y.sum(), params=[w, w])


def test_shared_weights_feed_the_summary_of_the_steps():
    root = shared_weights(300)
    source = ad.draw(root, params={}).source
    table = node_table(source)
    summary = next(node for node, (label, _) in table.items() if "repeats of" in label)
    weights = [node for node, (label, _) in table.items() if re.match(r"x[12]\n\((4|3), 4\)", label)]
    assert len(weights) == 2  # W and U drawn once each
    for weight in weights:
        assert f"{weight} -> {summary}" in source  # every collapsed step uses them


def test_layers_of_a_deep_mlp_collapse_into_one_summary_between_the_first_and_last_layer():
    nn = pytest.importorskip("nn")
    depth = 80  # 4 nodes a layer: 324 in all, above max_nodes
    model = nn.MLP([4] * (depth + 1) + [2], rng=np.random.default_rng(0))
    loss = nn.cross_entropy(model(np.ones((3, 4))), [0, 1, 1])
    source = ad.draw(loss, params=model.named_parameters(), group_by_module=True).source
    table = node_table(source)
    summaries = [label for label, _ in table.values() if "repeats of" in label]
    # a layer is weight and bias (two leaves) → linear → relu; the first one (its input a
    # constant) and the last 4→4 one are drawn, as is the 4→2 output layer
    assert summaries == [f"× {depth - 2:,} repeats of\nleaf ×2 → linear → relu\n"
                         f"({4 * (depth - 2):,} nodes)\nv3 … v{2 * (depth - 1)}; "
                         f"layers.2.weight … layers.{2 * (depth - 2)}.bias"]
    assert re.search(r'subgraph "?cluster_layers\.0"?', source)
    assert re.search(rf'subgraph "?cluster_layers\.{2 * depth}"?', source)


def test_a_collapsed_picture_does_not_grow_with_the_graph(tmp_path, program):
    ad.draw(w1_chain(100), tmp_path / "small.png")
    ad.draw(w1_chain(3000), tmp_path / "large.png")
    small = png_size((tmp_path / "small.png").read_bytes())
    large = png_size((tmp_path / "large.png").read_bytes())
    # the same nodes, only the numbers in them differ: 300 and 9,000 nodes give pictures alike
    assert all(0.9 * s <= g <= 1.1 * s for s, g in zip(small, large, strict=True))


def test_drawing_a_freed_graph_says_what_to_do():
    loss, _, _ = small_graph()
    loss.backward()
    with pytest.raises(RuntimeError, match="cannot draw: backward\\(\\) already freed.*retain_graph=True"):
        ad.draw(loss)
    with pytest.raises(RuntimeError, match="cannot explain: backward\\(\\) already freed"):
        ad.explain(loss)


def test_png_without_any_renderer_says_what_to_install(tmp_path, monkeypatch):
    monkeypatch.setattr(viz, "_find", lambda name: None)
    loss, _, _ = small_graph()
    ad.draw(loss, tmp_path / "graph.gv")  # the source needs no renderer
    with pytest.raises(RuntimeError, match="pip install graphviz-pure"):
        ad.draw(loss, tmp_path / "graph.png")


def test_each_renderer_writes_the_formats_it_lists_and_names_them_when_asked_for_another(tmp_path, program):
    listed = viz.formats(program)
    assert {"png", "svg", "jpg"} <= listed
    loss, _, _ = small_graph()
    ad.draw(loss, tmp_path / "graph.jpg")
    assert (tmp_path / "graph.jpg").read_bytes()[:3] == b"\xff\xd8\xff"  # JPEG's start of image
    if "pdf" in listed:
        ad.draw(loss, tmp_path / "graph.pdf")
        assert (tmp_path / "graph.pdf").read_bytes()[:5] == b"%PDF-"
    else:
        with pytest.raises(RuntimeError) as error:
            ad.draw(loss, tmp_path / "graph.pdf")
        message = str(error.value)
        assert ".png, .svg, .jpg" in message and "apt-get install graphviz" in message
        assert not (tmp_path / "graph.pdf").exists()


def test_a_format_the_first_renderer_lacks_goes_to_the_next(monkeypatch):
    pure, dot = viz._find("graphviz-pure"), viz._find("dot")
    if pure is None or dot is None:
        pytest.skip("needs both the system Graphviz and graphviz-pure")
    assert "pdf" not in viz.formats(pure) and "pdf" in viz.formats(dot)
    monkeypatch.setattr(viz, "_PROGRAMS", ("graphviz-pure", "dot"))
    assert viz.renderer("png") == pure and viz.renderer("pdf") == dot


def test_an_extension_that_names_no_format_is_refused(tmp_path):
    loss, _, _ = small_graph()
    with pytest.raises(ValueError, match=r"cannot tell the picture format from .*graph\.xyz.*\.png, \.svg"):
        ad.draw(loss, tmp_path / "graph.xyz")


def test_explain_the_single_linear_neuron():
    # inputs (1, 1), target 0, E = (t - y)^2 / 2: by hand dE/dy = y - t and dE/dw_i = (y - t) x_i
    w = ad.tensor([0.3, -0.8], requires_grad=True)
    x = ad.tensor([1.0, 1.0])
    y = (w * x).sum()
    error = 0.5 * (0.0 - y) ** 2
    text = ad.explain(error, params={"w": w, "x": x})
    y_value = 0.3 - 0.8
    # ∂E/∂(t - y) = t - y, and ∂(t - y)/∂y = -1, so ∂E/∂y = y - t
    by_hand = f"{viz._summary(0.0 - y_value)} × -1 = {viz._summary(y_value - 0.0)}"
    assert f"∂v5/∂v2 = ∂v5/∂v3 × ∂v3/∂v2 = {by_hand}" in text
    assert f"∂v5/∂w = ∂v5/∂v1 × ∂v1/∂w = [{y_value:.3g}, {y_value:.3g}]" in text
    assert text.splitlines()[0] == "forward" and "backward" in text


def test_explain_adds_up_several_consumers():
    w = ad.tensor(3.0, requires_grad=True)
    text = ad.explain((w + w) + 2 * w, params={"w": w})  # w twice in one consumer, once in another
    assert ("∂v3/∂w = ∂v3/∂v1 × ∂v1/∂w[0] + ∂v3/∂v1 × ∂v1/∂w[1] + ∂v3/∂v2 × ∂v2/∂w"
            " = 1 × 1 + 1 × 1 + 1 × 2 = 4") in text
    # w * w is one square node: one edge, whose local derivative is 2w = 6
    assert "∂v1/∂w = ∂v1/∂v1 × ∂v1/∂w = 1 × 6 = 6" in ad.explain(w * w, params={"w": w})


def test_command_line_draws_an_expression_and_the_examples(tmp_path):
    run = [sys.executable, "-m", "autodiff", "draw"]
    out = subprocess.run(run + ["tanh(x*w + b)", "--x", "0.5", "--w", "-1.2", "--b", "0.3",
                                "-o", str(tmp_path / "e.svg"), "--explain"],
                         capture_output=True, text=True, check=True).stdout
    assert "∂v3/∂x = ∂v3/∂v1 × ∂v1/∂x" in out
    ET.parse(tmp_path / "e.svg")
    for example in ("two-neuron", "neuron", "mlp-step"):
        subprocess.run(run + [example, "-o", str(tmp_path / f"{example}.dot")], check=True,
                       capture_output=True)
        assert "digraph" in (tmp_path / f"{example}.dot").read_text()
    main(["draw", "x*x + y", "--x=-2", "--y", "1", "-o", str(tmp_path / "equals.dot")])  # --name=value too
    assert "value -2\ngrad -4" in (tmp_path / "equals.dot").read_text()  # d(x² + y)/dx at -2
    failed = subprocess.run(run + ["tanh(q)", "-o", str(tmp_path / "q.png")], capture_output=True, text=True)
    assert failed.returncode != 0 and "give every input as --name value" in failed.stderr
    with pytest.raises(SystemExit, match="autodiff has no function 'foo'"):  # not "give every input"
        main(["draw", "foo(x)", "--x", "1", "-o", str(tmp_path / "foo.dot")])
    with pytest.raises(SystemExit, match="name 'u' is not defined; give every input"):  # u( ends relu(
        main(["draw", "relu(u)", "--x", "1", "-o", str(tmp_path / "u.dot")])


@pytest.mark.parametrize("arguments, message", [
    (["two-neuron", "-o", "{tmp}/graph.xyz"], "cannot tell the picture format"),
    (["two-neuron", "-o", "{tmp}/no/such/folder/graph.dot"], "No such file or directory"),
    (["tanh(x *", "--x", "1", "-o", "{tmp}/e.dot"], "cannot evaluate 'tanh(x *': SyntaxError"),
    (["tanh(x) @ x", "--x", "1", "-o", "{tmp}/e.dot"], "cannot evaluate"),
    (["tanh(x)", "--x", "one", "-o", "{tmp}/e.dot"], "--x needs a number, got 'one'"),
    (["neuron", "--x3", "5", "-o", "{tmp}/e.dot"], "neuron has no input 'x3'; its inputs are x1, x2"),
    (["x * 2", "--x", "1", "--y", "2", "-o", "{tmp}/e.dot"], "--y is not used by the expression"),
    (["x * 2, x", "--x", "1", "-o", "{tmp}/e.dot"], "gives a tuple, not one tensor"),
])
def test_command_line_errors_are_one_line(tmp_path, arguments, message):
    with pytest.raises(SystemExit) as exit:  # Python prints the message to stderr and exits with 1
        main(["draw", *(a.format(tmp=tmp_path) for a in arguments)])
    assert isinstance(exit.value.code, str) and "\n" not in exit.value.code
    assert exit.value.code.startswith("draw: ") and message in exit.value.code


def test_command_line_inputs_may_be_named_like_a_prefix_of_an_option(tmp_path):
    # argparse would take --o for --output, --m for --max-nodes, --h for --help
    main(["draw", "o * m + h", "--o", "2", "--m", "3", "--h", "5", "-o", str(tmp_path / "g.dot")])
    source = (tmp_path / "g.dot").read_text(encoding="utf-8")
    assert "value 11" in source and "grad 3" in source  # o·m + h at (2, 3, 5); d/do = m


def test_dot_source_is_utf8_and_explain_prints_under_any_locale(tmp_path):
    env = {**os.environ, "LC_ALL": "C", "PYTHONCOERCECLOCALE": "0", "PYTHONUTF8": "0", "PYTHONIOENCODING": ""}
    done = subprocess.run([sys.executable, "-m", "autodiff", "draw", "two-neuron", "--explain",
                           "-o", str(tmp_path / "g.dot")], capture_output=True, text=True, env=env)
    assert done.returncode == 0, done.stderr
    assert "·" in (tmp_path / "g.dot").read_text(encoding="utf-8")  # mul(·, 0.6): written as UTF-8
    assert "backward" in done.stdout


def test_command_line_errors_exit_with_status_one_and_no_traceback(tmp_path):
    command = [sys.executable, "-m", "autodiff", "draw", "two-neuron", "-o", str(tmp_path / "g.xyz")]
    failed = subprocess.run(command, capture_output=True, text=True)
    assert failed.returncode == 1 and "Traceback" not in failed.stderr
    assert failed.stderr.startswith("draw: cannot tell the picture format") and failed.stderr.count("\n") == 1


def test_the_returned_picture_renders_itself_without_the_system_graphviz(tmp_path, monkeypatch):
    if viz._find("graphviz-pure") is None:
        pytest.skip("graphviz-pure is not installed")
    monkeypatch.setattr(viz, "_PROGRAMS", ("graphviz-pure",))  # graphviz's own render would call `dot`
    x = ad.tensor(2.0, requires_grad=True)
    picture = ad.draw(x * x)
    assert picture.render(tmp_path / "r", format="png") == str(tmp_path / "r.png")
    assert (tmp_path / "r.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (tmp_path / "r").read_text().startswith("digraph")  # the source beside it, as graphviz does
    assert picture.render(outfile=tmp_path / "o.svg") == str(tmp_path / "o.svg")
    ET.parse(tmp_path / "o.svg")
    ET.fromstring(picture.pipe(format="svg"))
    assert picture.pipe(format="svg", encoding="utf-8").lstrip().startswith("<")
    with pytest.raises(RuntimeError, match="cannot render .pdf here"):
        picture.render(tmp_path / "p")  # graphviz's default format


def test_command_line_says_what_to_install_for_a_format_this_machine_cannot_render(tmp_path, monkeypatch):
    if viz._find("graphviz-pure") is None:
        pytest.skip("graphviz-pure is not installed")
    monkeypatch.setattr(viz, "_PROGRAMS", ("graphviz-pure",))  # as on a machine without the system Graphviz
    with pytest.raises(SystemExit) as exit:
        main(["draw", "two-neuron", "-o", str(tmp_path / "chain.pdf")])
    assert "cannot render .pdf" in exit.value.code and "apt-get install graphviz" in exit.value.code


@pytest.mark.slow
def test_a_million_node_chain_draws_without_recursion():
    y = ad.tensor([1.0], requires_grad=True)
    for _ in range(500_000):
        y = y * 1.0 + 0.0
    picture = ad.draw(y, show_grad=False)
    assert len(drawn_nodes(picture.source)) <= 250


@pytest.mark.slow
@pytest.mark.parametrize("build, reps", [(w1_chain, 33_334), (leaf_per_block, 25_000)],
                         ids=["w1_chain", "leaf_per_block"])
def test_a_hundred_thousand_node_graph_draws_and_renders_quickly_and_readably(tmp_path, build, reps):
    import time

    root = build(reps)
    root.backward(retain_graph=True)  # as in benchmarks/ W7: nodes show their gradients
    assert len(topological(root)) >= 100_000
    start = time.perf_counter()
    picture = ad.draw(root, tmp_path / "large.png")
    assert time.perf_counter() - start < 10  # loose; benchmarks/ (W7) measures it
    table = node_table(picture.source)
    assert len(table) <= 250 and any("repeats of" in label for label, _ in table.values())
    # readable: the picture of 10^5 nodes is no larger than that of a few hundred
    ad.draw(build(100), tmp_path / "small.png")
    large = png_size((tmp_path / "large.png").read_bytes())
    small = png_size((tmp_path / "small.png").read_bytes())
    assert all(g <= 1.1 * s for s, g in zip(small, large, strict=True))


def test_explain_sums_a_broadcast_operands_contribution_back_to_its_shape():
    # the printed contribution is what the sweep adds: s is a scalar times a vector, b a bias
    s, v = ad.tensor(2.0, requires_grad=True), ad.tensor([1.0, 2.0, 3.0], requires_grad=True)
    text = ad.explain((s * v).sum(), params={"s": s, "v": v})
    assert "∂v2/∂s = ∂v2/∂v1 × ∂v1/∂s = 6 = 6" in text
    b = ad.tensor([1.0, 2.0], requires_grad=True)
    text = ad.explain((ad.tensor(np.ones((3, 2))) + b).sum(), params={"b": b})
    assert "∂v2/∂b = ∂v2/∂v1 × ∂v1/∂b = [3, 3] = [3, 3]" in text


def test_labels_show_numbers_shortly_and_names_stay_unique():
    x, w = ad.tensor([1.0, 2.0], requires_grad=True), ad.tensor(3.0, requires_grad=True)
    text = ad.explain(((x * np.sqrt(2.0)).sum() + (np.ones((2, 2)) @ x).sum()) * w, params={"v1": w, "x1": x})
    assert "mul(x1, 1.414)" in text  # a numpy scalar as a number, not np.float64(1.4142135623730951)
    assert "matmul(array(2, 2), x1)" in text  # a matrix keeps its shape, not [1, 1, 1, 1]
    forward = text.split("backward")[0]
    names = re.findall(r"^  (\w+) = ", forward, flags=re.M)
    assert len(set(names)) == len(names) == 8 and "v1 = 3" in forward  # automatic names skip v1
