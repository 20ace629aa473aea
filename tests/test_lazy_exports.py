"""``import fasthmm`` loads what a first fit needs; every other public name
is imported on first use and still found by ``fasthmm.X``, ``from fasthmm
import X``, ``__all__``, ``dir()``, the family registry and ``fasthmm.load``.

Each check runs in a fresh interpreter, where nothing has been imported yet.
"""

import json
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# Modules a first GaussianHMM fit never uses: import fasthmm must not load them.
LAZY_MODULES = [
    "fasthmm.hmm",
    "fasthmm.vhmm",
    "fasthmm.hsmm",
    "fasthmm.msar",
    "fasthmm.switching",
    "fasthmm.tagger",
    "fasthmm.variational",
    "fasthmm.selection",
    "fasthmm.plot",
    "fasthmm.datasets",
]


def run_fresh(code):
    """Run ``code`` in a new interpreter; returns what it printed as JSON."""
    proc = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_import_loads_only_what_a_first_fit_needs():
    loaded = run_fresh(
        """
        import json, sys
        import fasthmm
        print(json.dumps(sorted(sys.modules)))
        """
    )
    assert "fasthmm.models" in loaded
    assert not set(LAZY_MODULES) & set(loaded)


def test_every_public_name_resolves_in_a_fresh_process():
    """``fasthmm.X`` for every X of ``__all__`` (each in a process where it
    was never imported) gives the object its defining module holds."""
    out = run_fresh(
        """
        import json, sys
        import fasthmm
        names = list(fasthmm.__all__)
        missing = sorted(set(names) - set(dir(fasthmm)))
        found = {}
        for name in names:
            value = getattr(fasthmm, name)
            module = getattr(value, "__module__", None)
            home = sys.modules.get(module) if module else None
            found[name] = home is None or getattr(home, name, value) is value
        print(json.dumps({"missing_from_dir": missing, "found": found}))
        """
    )
    assert out["missing_from_dir"] == []
    assert all(out["found"].values()), out["found"]


def test_from_import_and_submodules_work_lazily():
    out = run_fresh(
        """
        import json
        from fasthmm import GaussianHSMM, HMMTagger, VariationalGaussianHMM
        import fasthmm
        from fasthmm.hsmm.models import GaussianHSMM as defined
        print(json.dumps({
            "same": GaussianHSMM is defined,
            "tagger": HMMTagger.__module__,
            "vhmm": issubclass(
                fasthmm.vhmm.VariationalGaussianHMM, VariationalGaussianHMM
            ),
            "hmm": fasthmm.hmm.GaussianHMM.__module__,
            "datasets": fasthmm.datasets.__name__,
            "variational": VariationalGaussianHMM.__module__,
        }))
        """
    )
    assert out["same"]
    assert out["tagger"] == "fasthmm.tagger"
    assert out["vhmm"]
    assert out["hmm"] == "fasthmm.hmm"
    assert out["datasets"] == "fasthmm.datasets"
    assert out["variational"].startswith("fasthmm.variational")


def test_submodules_and_the_cli_load_no_other_model_module():
    """``from fasthmm import cli, _compile`` (a submodule not imported yet)
    and the command line's parser with ``--model gaussian`` import none of
    the modules a first fit never uses; ``--model ar`` imports its own."""
    out = run_fresh(
        """
        import json, sys
        from fasthmm import _compile, cli
        args = cli.build_parser().parse_args(
            ["fit", "x.csv", "-o", "m.npz", "--model", "gaussian"]
        )
        before = sorted(sys.modules)
        ar = cli.MODELS["ar"].__module__
        print(json.dumps([args.model, cli.MODELS[args.model].__name__, before, ar]))
        """
    )
    model, name, loaded, ar = out
    assert (model, name) == ("gaussian", "GaussianHMM")
    assert not set(LAZY_MODULES) & set(loaded)
    assert ar == "fasthmm.switching"


def test_save_and_load_of_a_first_fit_model_load_no_other_model_module(tmp_path):
    """A GaussianHMM saves and loads without the deferred model modules, and
    those modules register no name the eager ones registered (which is what
    lets saving and loading skip them)."""
    out = run_fresh(
        f"""
        import json, sys
        import numpy as np
        import fasthmm
        from fasthmm import _registry
        path = {str(tmp_path / "m.npz")!r}
        X = np.random.default_rng(0).normal(size=(30, 1))
        model = fasthmm.GaussianHMM(2, n_iter=2, random_state=0).fit(X)
        model.save(path)
        loaded = fasthmm.load(path)
        modules = sorted(sys.modules)
        eager = dict(_registry._CLASSES)
        every = _registry.model_classes()
        print(json.dumps({{
            "same": [type(loaded) is type(model), loaded.score(X) == model.score(X)],
            "modules": modules,
            "replaced": sorted(k for k, v in eager.items() if every[k] is not v),
            "added": len(every) - len(eager),
        }}))
        """
    )
    assert out["same"] == [True, True]
    assert not set(LAZY_MODULES) & set(out["modules"])
    assert out["replaced"] == []
    assert out["added"] > 0


def test_unknown_name_raises_attribute_error():
    out = run_fresh(
        """
        import json
        import fasthmm
        try:
            fasthmm.NoSuchModel
        except AttributeError as e:
            print(json.dumps(str(e)))
        """
    )
    assert "NoSuchModel" in out


def test_registry_finds_every_family_without_their_modules_imported():
    """families() in a fresh process equals families() after importing every
    model module by hand."""
    out = run_fresh(
        """
        import json
        import fasthmm
        from fasthmm import _registry
        lazy = {k: v.__name__ for k, v in _registry.families().items()}
        classes = sorted(_registry.model_classes())
        import fasthmm.hsmm, fasthmm.variational, fasthmm.hmm, fasthmm.vhmm
        import fasthmm.switching, fasthmm.msar
        every = {k: v.__name__ for k, v in _registry.families().items()}
        print(json.dumps([lazy, every, classes, sorted(_registry.model_classes())]))
        """
    )
    lazy, every, classes, every_class = out
    assert lazy == every
    assert classes == every_class
    assert {"MarkovSwitchingAR", "hmm.GaussianHMM", "GaussianHSMM"} <= set(classes)
    assert {"gaussian", "gaussian-hsmm", "regression", "ar"} <= set(lazy)


def test_load_opens_every_saved_kind_in_a_fresh_process(tmp_path):
    """A semi-Markov model, hmmlearn's namespace class and a variational
    model, saved in one process, load in a fresh one (where their modules
    were never imported) as the same class with the same parameters."""
    import numpy as np

    import fasthmm

    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 1))
    models = {
        "hsmm": fasthmm.GaussianHSMM(2, max_duration=4, n_iter=2, random_state=0),
        "hmm": fasthmm.hmm.GaussianHMM(2, n_iter=2, random_state=0),
        "vhmm": fasthmm.VariationalGaussianHMM(2, n_iter=2, random_state=0),
    }
    want = {}
    for key, model in models.items():
        model.fit(X)
        model.save(tmp_path / f"{key}.npz")
        want[key] = [type(model).__module__, type(model).__name__, model.score(X)]
    got = run_fresh(
        f"""
        import json
        import numpy as np
        import fasthmm
        X = np.random.default_rng(0).normal(size=(40, 1))
        out = {{}}
        for key in {sorted(models)!r}:
            m = fasthmm.load({str(tmp_path)!r} + "/" + key + ".npz")
            out[key] = [type(m).__module__, type(m).__name__, m.score(X)]
        print(json.dumps(out))
        """
    )
    assert got == want
