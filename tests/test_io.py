"""Persistence: save/load (npz + JSON header, no pickle), pickle and deepcopy.

The reference for every round trip is the original model: the copy must be of
the same class, with equal constructor arguments, bit-identical fitted arrays
and monitor history, and must score, decode and give posteriors exactly as the
original does.
"""

import copy
import errno
import io
import json
import os
import pickle
import subprocess
import sys
import tracemalloc
import zipfile

import numpy as np
import pytest
from families import FAMILIES

import fasthmm
from fasthmm import models
from fasthmm.io import FORMAT_VERSION, HEADER_KEY

COVARIANCE_TYPES = ("spherical", "diag", "full", "tied")


def _gaussian_data(rng, n=60, d=2):
    return np.concatenate(
        [rng.normal(0, 1, (n // 2, d)), rng.normal(4, 0.5, (n // 2, d))]
    )


def model_cases():
    """(id, unfitted model, X, lengths) for every model class and covariance type.

    Hand-written for the built-in families; every other family of
    tests/families.py (the registry's) is added from its entry.
    """
    rng = np.random.RandomState(0)
    cases = [
        (
            "categorical",
            models.CategoricalHMM(2, n_iter=4, random_state=1),
            rng.randint(0, 4, 60),
            [25, 35],
        )
    ]
    for ct in COVARIANCE_TYPES:
        cases.append(
            (
                f"gaussian-{ct}",
                models.GaussianHMM(2, covariance_type=ct, n_iter=4, random_state=1),
                _gaussian_data(rng),
                [30, 30],
            )
        )
    cases.append(
        (
            "poisson",
            models.PoissonHMM(2, n_iter=4, random_state=1),
            rng.poisson([[1.0, 5.0]], (60, 2)),
            [30, 30],
        )
    )
    cases.append(
        (
            "multinomial",
            models.MultinomialHMM(2, n_trials=5, n_iter=4, random_state=1),
            rng.multinomial(5, [0.2, 0.5, 0.3], 60),
            [30, 30],
        )
    )
    for ct in COVARIANCE_TYPES:
        cases.append(
            (
                f"gmm-{ct}",
                models.GMMHMM(2, n_mix=2, covariance_type=ct, n_iter=4, random_state=1),
                _gaussian_data(rng, n=80),
                [40, 40],
            )
        )
    # Every other family of the registry, from its test entry.
    covered = {type(model) for _, model, _, _ in cases}
    rng = np.random.default_rng(0)  # the entries' data take a Generator
    for family in FAMILIES:
        if family.cls not in covered:
            covered.add(family.cls)
            model = family.unfitted(2, n_iter=4, random_state=1)
            cases.append((family.name, model, family.random_data(rng, 60), [30, 30]))
    return cases


CASES = model_cases()
IDS = [c[0] for c in CASES]


@pytest.fixture(scope="module", params=CASES, ids=IDS)
def fitted(request):
    _, model, X, lengths = request.param
    model = copy.deepcopy(model).fit(X, lengths)
    return model, X, lengths


def _assert_params_equal(a, b):
    pa, pb = a.get_params(), b.get_params()
    assert pa.keys() == pb.keys()
    for key in pa:
        if key == "random_state":
            continue
        va, vb = pa[key], pb[key]
        if isinstance(va, np.ndarray) or isinstance(vb, np.ndarray):
            np.testing.assert_array_equal(va, vb)
        else:
            assert va == vb and type(va) is type(vb), key


def _assert_same_model(a, b, X, lengths):
    assert type(a) is type(b)
    _assert_params_equal(a, b)
    assert a.random_state == b.random_state
    for name in a._param_names():
        va, vb = getattr(a, name, None), getattr(b, name, None)
        assert (va is None) == (vb is None), name
        if va is not None:
            assert np.asarray(va).dtype == np.asarray(vb).dtype, name
            np.testing.assert_array_equal(va, vb, err_msg=name)
    assert a.monitor_.history == b.monitor_.history
    assert a.monitor_.iter == b.monitor_.iter
    assert a.monitor_.converged == b.monitor_.converged
    if getattr(a, "startprob_", None) is not None:
        assert a.score(X, lengths) == b.score(X, lengths)
        la, pa = a.score_samples(X, lengths)
        lb, pb = b.score_samples(X, lengths)
        assert la == lb
        np.testing.assert_array_equal(pa, pb)
        da, sa = a.decode(X, lengths)
        db, sb = b.decode(X, lengths)
        assert da == db
        np.testing.assert_array_equal(sa, sb)


def test_every_model_class_is_covered():
    names = {type(c[1]).__name__ for c in CASES}
    expected = {
        name
        for name, obj in vars(models).items()
        if isinstance(obj, type)
        and issubclass(obj, fasthmm.BaseHMM)
        and obj is not fasthmm.BaseHMM
    }
    assert expected <= names


def test_save_load_round_trip(fitted, tmp_path):
    model, X, lengths = fitted
    path = tmp_path / "model.hmm"
    model.save(path)
    assert path.exists() and not (tmp_path / "model.hmm.npz").exists()
    loaded = fasthmm.load(path)
    _assert_same_model(model, loaded, X, lengths)
    # Also through a str path and a file object.
    model.save(str(tmp_path / "again.npz"))
    _assert_same_model(model, fasthmm.load(str(tmp_path / "again.npz")), X, lengths)
    buf = io.BytesIO()
    model.save(buf)
    buf.seek(0)
    _assert_same_model(model, fasthmm.load(buf), X, lengths)


def test_saved_file_holds_no_pickled_object(fitted, tmp_path):
    model, _, _ = fitted
    model.save(tmp_path / "m.npz")
    with np.load(tmp_path / "m.npz", allow_pickle=False) as archive:
        for key in archive.files:  # raises if any entry needs pickle
            assert archive[key].dtype != object
        header = json.loads(str(archive[HEADER_KEY]))
    assert header["class"] == type(model).__name__
    assert header["format_version"] == FORMAT_VERSION
    assert header["fasthmm_version"] == fasthmm.__version__
    assert set(header["fitted"]) == set(model._param_names())


def test_pickle_and_deepcopy_round_trip(fitted):
    model, X, lengths = fitted
    for clone in (pickle.loads(pickle.dumps(model)), copy.deepcopy(model)):
        _assert_same_model(model, clone, X, lengths)
        # The copy is independent of the original.
        clone.transmat_[...] = np.eye(model.n_components)
        assert not np.array_equal(model.transmat_, clone.transmat_)


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_unfitted_model_round_trips_and_fits_the_same(case, tmp_path):
    _, model, X, lengths = case
    model.save(tmp_path / "u.npz")
    loaded = fasthmm.load(tmp_path / "u.npz")
    _assert_params_equal(model, loaded)
    assert loaded.random_state == 1
    assert all(getattr(loaded, n, None) is None for n in model._param_names())
    with pytest.raises(fasthmm.NotFittedError):
        loaded.score(X, lengths)
    a = copy.deepcopy(model).fit(X, lengths)
    b = loaded.fit(X, lengths)
    _assert_same_model(a, b, X, lengths)


def test_array_hyperparameters_and_random_state(tmp_path):
    X = _gaussian_data(np.random.RandomState(3))
    prior = np.array([[5.0, 1.0], [1.0, 5.0]])
    model = models.GaussianHMM(
        2,
        transmat_prior=prior,
        means_prior=[0.5, -0.5],
        random_state=np.random.RandomState(7),
        n_iter=3,
    ).fit(X)
    model.save(tmp_path / "m.npz")
    loaded = fasthmm.load(tmp_path / "m.npz")
    np.testing.assert_array_equal(loaded.transmat_prior, prior)
    np.testing.assert_array_equal(loaded.means_prior, [0.5, -0.5])
    # A RandomState is not saved: documented, and noted in the header.
    assert loaded.random_state is None
    with np.load(tmp_path / "m.npz", allow_pickle=False) as archive:
        notes = json.loads(str(archive[HEADER_KEY]))["notes"]
    assert any("random_state" in note for note in notes)
    assert loaded.score(X) == model.score(X)
    # An int seed is kept: both models refit to the same result.
    seeded = models.CategoricalHMM(3, random_state=np.int64(11), n_iter=2)
    seeded.save(tmp_path / "s.npz")
    assert fasthmm.load(tmp_path / "s.npz").random_state == 11


def test_hand_set_parameters_round_trip(tmp_path):
    model = models.CategoricalHMM(2, init_params="")
    model.startprob_ = [0.25, 0.75]  # a list, as a user may set it
    model.transmat_ = np.array([[0.9, 0.1], [0.0, 1.0]], dtype=np.float32)
    model.emissionprob_ = np.asfortranarray([[0.5, 0.5], [0.1, 0.9]])
    model.save(tmp_path / "h.npz")
    loaded = fasthmm.load(tmp_path / "h.npz")
    X = np.array([0, 1, 1, 0, 1])
    assert loaded.score(X) == model.score(X)
    np.testing.assert_array_equal(loaded.transmat_, model.transmat_)


def _rewrite(src, dst, edit_header=None, drop=(), add=None):
    with np.load(src, allow_pickle=False) as archive:
        entries = {k: archive[k] for k in archive.files if k not in drop}
    if edit_header is not None:
        header = json.loads(str(entries[HEADER_KEY]))
        edit_header(header)
        entries[HEADER_KEY] = np.array(json.dumps(header))
    entries.update(add or {})
    with open(dst, "wb") as f:
        np.savez(f, **entries)


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    path = tmp_path_factory.mktemp("io") / "good.npz"
    X = np.random.RandomState(0).randint(0, 3, 40)
    models.CategoricalHMM(2, n_iter=2, random_state=0).fit(X).save(path)
    return path


def test_newer_format_version_is_a_clear_error(saved, tmp_path):
    def bump(h):
        h["format_version"] = FORMAT_VERSION + 1

    _rewrite(saved, tmp_path / "new.npz", bump)
    with pytest.raises(ValueError, match=r"format version 2 .*upgrade fasthmm"):
        fasthmm.load(tmp_path / "new.npz")


@pytest.mark.parametrize(
    "edit, match",
    [
        (lambda h: h.update({"class": "NoSuchHMM"}), "unknown model class 'NoSuchHMM'"),
        (lambda h: h.update({"class": "BaseHMM"}), "unknown model class 'BaseHMM'"),
        (lambda h: h.update({"format": "other"}), "not a fasthmm model file"),
        (lambda h: h.update({"format_version": "1"}), "format_version must be"),
        (
            lambda h: h["params"].update({"bogus": 1}),
            r"arguments \['bogus'\] are unknown",
        ),
        (lambda h: h["fitted"].append("evil_"), "not a parameter of CategoricalHMM"),
        (
            lambda h: h["params"].update({"transmat_prior": {"__array__": "nope"}}),
            "missing array 'nope'",
        ),
    ],
)
def test_corrupt_header_is_a_clear_error(saved, tmp_path, edit, match):
    _rewrite(saved, tmp_path / "bad.npz", edit)
    with pytest.raises(ValueError, match=match):
        fasthmm.load(tmp_path / "bad.npz")


def test_files_that_are_not_models(saved, tmp_path):
    _rewrite(saved, tmp_path / "nohead.npz", drop=(HEADER_KEY,))
    with pytest.raises(ValueError, match="not a fasthmm model file.*no '__fasthmm"):
        fasthmm.load(tmp_path / "nohead.npz")
    _rewrite(saved, tmp_path / "missing.npz", drop=("param/transmat_",))
    with pytest.raises(ValueError, match="fitted array 'transmat_' is missing"):
        fasthmm.load(tmp_path / "missing.npz")
    np.save(tmp_path / "single.npy", np.zeros(3))
    with pytest.raises(ValueError, match="single array"):
        fasthmm.load(tmp_path / "single.npy")
    (tmp_path / "junk.bin").write_bytes(b"\x00\x01 this is not numpy" * 10)
    with pytest.raises(ValueError, match="not a fasthmm model file"):
        fasthmm.load(tmp_path / "junk.bin")
    with pytest.raises(FileNotFoundError):
        fasthmm.load(tmp_path / "does-not-exist.npz")


class _Payload:
    """Unpickling this would run code (set a flag): load must never do it."""

    ran = False

    def __reduce__(self):
        return (_Payload._trigger, ())

    @staticmethod
    def _trigger():
        _Payload.ran = True
        return "pwned"


def test_pickled_payload_is_refused_without_running(saved, tmp_path):
    evil = np.empty(1, dtype=object)
    evil[0] = _Payload()
    # Pickled data hidden in a fitted parameter, and as the whole file.
    _rewrite(saved, tmp_path / "evil.npz", add={"param/transmat_": evil})
    with pytest.raises(ValueError, match="cannot be read without unpickling"):
        fasthmm.load(tmp_path / "evil.npz")
    (tmp_path / "evil.pkl").write_bytes(pickle.dumps(_Payload()))
    with pytest.raises(
        ValueError, match=r"is not a fasthmm model file: not an .npz archive"
    ):
        fasthmm.load(tmp_path / "evil.pkl")
    assert not _Payload.ran


def test_a_users_subclass_is_saved_and_loaded(tmp_path):
    class MyHMM(models.CategoricalHMM):
        pass

    rng = np.random.default_rng(0)
    X = rng.integers(0, 3, size=(60, 1))
    model = MyHMM(2, n_iter=3, random_state=0).fit(X)
    model.save(tmp_path / "mine.npz")
    loaded = fasthmm.load(tmp_path / "mine.npz")
    assert type(loaded) is MyHMM
    assert loaded.score(X) == model.score(X)

    class MyHMM(models.CategoricalHMM):  # noqa: F811 - a redefinition replaces it
        pass

    with pytest.raises(TypeError, match="cannot save a MyHMM"):
        model.save(tmp_path / "stale.npz")  # its class is no longer registered


def test_save_refuses_what_it_cannot_write(tmp_path):
    model = models.CategoricalHMM(2, emissionprob_prior={"a": 1})
    with pytest.raises(TypeError, match="emissionprob_prior"):
        model.save(tmp_path / "y.npz")
    model = models.CategoricalHMM(2)
    model.startprob_ = np.array(["a", "b"])
    with pytest.raises(TypeError, match="cannot save startprob_"):
        model.save(tmp_path / "z.npz")
    assert not (tmp_path / "z.npz").exists()


# -- atomic writes ------------------------------------------------------------


def _other_model():
    """A model different from ``saved``'s, to write over it."""
    model = models.CategoricalHMM(3, init_params="")
    model.startprob_ = np.full(3, 1 / 3)
    model.transmat_ = np.full((3, 3), 1 / 3)
    model.emissionprob_ = np.full((3, 400), 1 / 400)
    return model


def _assert_only(folder, names):
    """``folder`` holds exactly ``names``: no temporary file was left behind."""
    assert sorted(p.name for p in folder.iterdir()) == sorted(names)


@pytest.mark.parametrize(
    "error", [OSError(28, "No space left on device"), KeyboardInterrupt()]
)
def test_a_failed_save_leaves_the_previous_file(saved, tmp_path, monkeypatch, error):
    path = tmp_path / "model.npz"
    path.write_bytes(saved.read_bytes())
    before = fasthmm.load(path)

    def fail_midway(f, **arrays):
        f.write(b"PK\x03\x04 half an archive")
        raise error

    monkeypatch.setattr(np, "savez", fail_midway)
    with pytest.raises(type(error)):
        _other_model().save(path)
    monkeypatch.undo()
    assert path.read_bytes() == saved.read_bytes()
    X = np.array([0, 1, 2, 1])
    assert fasthmm.load(path).score(X) == before.score(X)
    _assert_only(tmp_path, ["model.npz"])
    # And a successful save replaces it, keeping the file's permissions.
    path.chmod(0o640)
    _other_model().save(path)
    assert fasthmm.load(path).n_components == 3
    assert path.stat().st_mode & 0o777 == 0o640
    _assert_only(tmp_path, ["model.npz"])


def test_a_save_over_the_file_size_limit_leaves_the_previous_file(saved, tmp_path):
    resource = pytest.importorskip("resource")  # POSIX only
    path = tmp_path / "model.npz"
    path.write_bytes(saved.read_bytes())
    # The new model is about 10 KiB; the process may write files of 4 KiB.
    script = (
        "import resource, sys\n"
        "import test_io\n"
        f"resource.setrlimit(resource.RLIMIT_FSIZE, (4096, {resource.RLIM_INFINITY}))\n"
        "try:\n"
        f"    test_io._other_model().save({str(path)!r})\n"
        "except OSError as exc:\n"
        "    print('OSError', exc.errno)\n"
    )
    here = os.path.dirname(os.path.abspath(__file__))
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([os.path.dirname(here), here]))
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=env,
        timeout=300,
    )  # fmt: skip
    assert done.stdout.split() == ["OSError", str(errno.EFBIG)], done.stderr
    assert path.read_bytes() == saved.read_bytes()
    fasthmm.load(path)
    _assert_only(tmp_path, ["model.npz"])


# -- damaged files --------------------------------------------------------------


def _same_model(a, b):
    _assert_params_equal(a, b)
    for name in a._param_names():
        va, vb = getattr(a, name, None), getattr(b, name, None)
        assert (va is None) == (vb is None), name
        if va is not None:
            np.testing.assert_array_equal(va, vb, err_msg=name)
            assert np.asarray(va).dtype == np.asarray(vb).dtype
    assert a.monitor_.history == b.monitor_.history


def _load_damaged(data, tmp_path, original):
    """Load ``data`` from a file: a ValueError naming it, or the same model."""
    path = tmp_path / "damaged.npz"
    path.write_bytes(data)
    try:
        loaded = fasthmm.load(path)
    except ValueError as exc:
        assert str(path) in str(exc) or "not a fasthmm model file" in str(exc)
        return "ValueError"
    _same_model(original, loaded)
    return "same model"


def test_a_truncated_file_is_a_clear_error(saved, tmp_path):
    data = saved.read_bytes()
    original = fasthmm.load(saved)
    for n in [
        0,
        1,
        4,
        30,
        len(data) // 3,
        len(data) // 2,
        len(data) - 22,
        len(data) - 1,
    ]:
        assert _load_damaged(data[:n], tmp_path, original) == "ValueError", n
    with pytest.raises(ValueError, match="damaged or truncated"):
        fasthmm.load(io.BytesIO(data[: len(data) // 2]))


def test_every_flipped_byte_is_an_error_or_harmless(saved, tmp_path):
    data = saved.read_bytes()
    original = fasthmm.load(saved)
    outcomes = set()
    for i in range(len(data)):
        damaged = bytearray(data)
        damaged[i] ^= 0xFF
        outcomes.add(_load_damaged(bytes(damaged), tmp_path, original))
    assert "ValueError" in outcomes  # (some bytes, such as dates, are harmless)


@pytest.mark.parametrize(
    "edit, match",
    [
        (lambda h: h.update({"monitor": "x"}), "'monitor' must be a dict"),
        (lambda h: h.update({"fitted": 5}), "'fitted' must be a list"),
        (lambda h: h.update({"fitted": [5]}), r"'fitted'\[0\] must be a str"),
        (lambda h: h.update({"params": []}), "'params' must be a dict"),
        (lambda h: h.update({"class": 5}), "'class' must be a str"),
        (lambda h: h.pop("class"), "no 'class' field"),
        (lambda h: h["monitor"].update({"history": ["a"]}), r"'monitor.history'\[0\] must be a number"),
        (lambda h: h["monitor"].update({"iter": "3"}), "'monitor.iter' must be an int"),
        (lambda h: h["monitor"].update({"verbose": 1}), "'monitor.verbose' must be a bool"),
        (lambda h: h["params"].update({"n_components": "2"}), "invalid constructor arguments: n_components"),
        (lambda h: h["params"].update({"n_iter": -1}), "invalid constructor arguments: n_iter"),
        (lambda h: h["params"].update({"n_components": 7}), r"startprob_ has shape \(2,\), but n_components is 7"),
        (lambda h: h["params"].update({"n_components": 10**6}), r"n_components = 1000000 needs a transition matrix"),
        (lambda h: h["params"].update({"n_components": 3}), "but n_components is 3"),
        (lambda h: h["params"].update({"n_features": 2}), "invalid fitted parameters: emissionprob_"),
        (lambda h: h["params"].update({"transmat_prior": {"__array__": 1}}), "missing array 1"),
    ],
)  # fmt: skip
def test_an_edited_header_is_a_clear_error_naming_the_file(
    saved, tmp_path, edit, match
):
    path = tmp_path / "edited.npz"
    _rewrite(saved, path, edit)
    with pytest.raises(ValueError, match=match) as info:
        fasthmm.load(path)
    assert str(path) in str(info.value)


def _entry_bytes(shape, fill=b"\0"):
    """An npy entry declaring ``shape`` (float64) holding ``fill`` as data."""
    buf = io.BytesIO()
    header = {"descr": "<f8", "fortran_order": False, "shape": shape}
    np.lib.format.write_array_header_1_0(buf, header)
    return buf.getvalue() + fill


def _with_entry(src, dst, key, data, compress=zipfile.ZIP_STORED):
    """Copy the archive ``src`` to ``dst``, writing ``data`` as entry ``key``."""
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w") as zout:
        for info in zin.infolist():
            if info.filename != key + ".npy":
                zout.writestr(info, zin.read(info))
        zout.writestr(key + ".npy", data, compress_type=compress)


def test_an_entry_is_checked_from_its_npy_header_before_its_data_is_read(
    saved, tmp_path
):
    # A header declaring 10**12 values over 16 bytes of data.
    path = tmp_path / "shape.npz"
    _with_entry(
        saved, path, "param/transmat_", _entry_bytes((10**6, 10**6), b"\0" * 16)
    )
    with pytest.raises(ValueError, match=r"declares shape \(1000000, 1000000\)"):
        fasthmm.load(path)
    # An entry that inflates 1000-fold (a zip bomb), refused before reading it.
    path = tmp_path / "bomb.npz"
    n = 5 * 10**6
    _with_entry(
        saved, path, "param/emissionprob_", _entry_bytes((2, n), b"\0" * 16 * n),
        compress=zipfile.ZIP_DEFLATED,
    )  # fmt: skip
    assert path.stat().st_size < 200_000
    tracemalloc.start()
    try:
        with pytest.raises(ValueError, match=r"inflates from \d+ to 80000128 bytes"):
            fasthmm.load(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 10_000_000
    # A fitted array whose (consistent) shape is not among the declared sizes.
    path = tmp_path / "axes.npz"
    _with_entry(
        saved, path, "param/emissionprob_", _entry_bytes((2, 5, 7), b"\0" * 8 * 70)
    )
    with pytest.raises(
        ValueError, match=r"emissionprob_ has shape \(2, 5, 7\); its axes"
    ):
        fasthmm.load(path)
