"""The family registry drives the package's exports, the command line's
``--model`` choices and the user guide's model table; each model's
constructor is generated from its emission's hyper-parameters."""

import inspect
import re
from pathlib import Path

import pytest

import fasthmm
from fasthmm import _registry, cli, hmm

GUIDE = Path(__file__).parents[1] / "docs" / "guide.md"
FAMILIES = _registry.families()


def guide_model_rows():
    """Class name -> (constructor text, letters) of the guide's model table."""
    rows = {}
    for line in GUIDE.read_text().splitlines():
        m = re.match(r"\| `(\w+)\((.*?)\)` \|.*\| `([a-z ]+)` \|$", line)
        if m:
            rows[m[1]] = (m[2], m[3].replace(" ", ""))
    return rows


def test_every_family_is_exported_and_offered_by_the_cli():
    names = {cls.__name__ for cls in FAMILIES.values()}
    assert names <= set(fasthmm.__all__)
    for cls in FAMILIES.values():
        assert getattr(fasthmm, cls.__name__) is cls
        # hmmlearn's namespace: its classes (hmmlearn has no others) with
        # hmmlearn's semantics on top of the family's model.
        if cls.__name__ in hmm.__all__:
            assert issubclass(getattr(hmm, cls.__name__), cls)
    assert {"CategoricalHMM", "GaussianHMM", "GMMHMM", "PoissonHMM"} <= names
    assert cli.MODELS == FAMILIES
    parser = cli.build_parser()
    for name in FAMILIES:
        assert (
            parser.parse_args(["fit", "x.csv", "-o", "m.npz", "--model", name]).model
            == name
        )
    with pytest.raises(SystemExit):
        parser.parse_args(["fit", "x.csv", "-o", "m.npz", "--model", "nosuch"])


def test_the_guide_lists_every_family_with_its_arguments_and_letters():
    rows = guide_model_rows()
    assert set(rows) == {cls.__name__ for cls in FAMILIES.values()}
    for cls in FAMILIES.values():
        text, letters = rows[cls.__name__]
        assert letters == cls._all_letters(), cls.__name__
        named = re.findall(r"(?:^|, )(\w+)", text)
        unknown = set(named) - set(cls._constructor_args()) - {"..."}
        assert not unknown, f"{cls.__name__}: {unknown} not constructor arguments"


@pytest.mark.parametrize("cls", FAMILIES.values(), ids=lambda c: c.__name__)
def test_hyperparameters_are_declared_once_in_the_emission(cls):
    """The model's constructor takes each emission hyper-parameter with the
    emission's own default, and get_params / set_params round-trip them."""
    emission = inspect.signature(cls._emission_class.__init__).parameters
    model = inspect.signature(cls).parameters
    for name, p in emission.items():
        if name in ("self", "n_components", "params"):
            continue
        assert name in model and model[name].default is p.default, name
    params = cls().get_params()
    clone = cls(**params)
    assert clone.get_params() == params
    assert repr(clone) == repr(cls())


def test_hmmlearn_positional_order_is_kept():
    hmmlearn = pytest.importorskip("hmmlearn.hmm")
    for cls in FAMILIES.values():
        theirs = getattr(hmmlearn, cls.__name__, None)
        if theirs is None:
            continue
        want = [
            p.name
            for p in inspect.signature(theirs).parameters.values()
            if p.kind == p.POSITIONAL_OR_KEYWORD
        ]
        ours = list(inspect.signature(cls).parameters)
        assert ours[: len(want)] == want, cls.__name__
