"""The example scripts of docs/examples/ run as written (with fewer EM
iterations, to stay fast) and save the figures they promise."""

import pathlib
import re

import pytest

EXAMPLES = sorted(
    (pathlib.Path(__file__).resolve().parent.parent / "docs" / "examples").glob(
        "plot_*.py"
    )
)
N_ITER = re.compile(r"n_iter=\d+")


def test_there_is_an_example_per_dataset():
    from fasthmm import datasets

    names = {p.stem.removeprefix("plot_") for p in EXAMPLES}
    loaders = {n.removeprefix("load_") for n in datasets.__all__ if n != "Dataset"}
    assert loaders <= names


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_example_runs_and_saves_its_figures(path, tmp_path, monkeypatch):
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg")
    monkeypatch.chdir(tmp_path)
    source = path.read_text(encoding="utf-8")
    fast, n = N_ITER.subn("n_iter=3", source)
    assert n > 0, f"{path.name} sets no n_iter: the test would run full fits"
    exec(compile(fast, str(path), "exec"), {"__name__": "__main__"})
    promised = set(re.findall(r'savefig\("([^"]+)"', source))
    assert promised, f"{path.name} saves no figure"
    written = {p.name for p in tmp_path.glob("*.png")}
    assert promised <= written
    assert all((tmp_path / name).stat().st_size > 1000 for name in promised)
