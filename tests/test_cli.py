"""The command line (fasthmm.cli), on tiny files.

A few runs go through a subprocess (``python -m fasthmm`` and the installed
``fasthmm`` script), as a user runs them; each pays the import cost, so the
other cases call ``fasthmm.cli.main`` in this process. Results are compared
with the same calls made through the Python API.
"""

import os
import shutil
import subprocess
import sys
import warnings

import numpy as np
import pytest

import fasthmm
from fasthmm.cli import main

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run(*args, script=False):
    cmd = ["fasthmm", *args] if script else [sys.executable, "-m", "fasthmm", *args]
    env = dict(os.environ, PYTHONPATH=ROOT)
    return subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)


@pytest.fixture()
def files(tmp_path):
    rng = np.random.RandomState(0)
    X = np.concatenate([rng.normal(0, 1, (40, 2)), rng.normal(5, 1, (40, 2))])
    ids = np.repeat([7, 3, 9, 1], 20)
    np.savetxt(
        tmp_path / "data.csv",
        np.column_stack([ids, X]),
        delimiter=",",
        header="seq,a,b",
        comments="",
    )
    np.save(tmp_path / "data.npy", X)
    np.savetxt(tmp_path / "lengths.txt", [20, 20, 20, 20], fmt="%d")
    return tmp_path, X, [20, 20, 20, 20]


def test_fit_and_decode_through_python_m(files):
    tmp, X, lengths = files
    fit = run("fit", str(tmp / "data.csv"), "--id-column", "seq", "-k", "2",
              "-o", str(tmp / "m.npz"))  # fmt: skip
    assert fit.returncode == 0, fit.stderr
    model = fasthmm.load(tmp / "m.npz")
    expected = fasthmm.GaussianHMM(2, n_iter=100, tol=1e-4, random_state=0)
    expected.fit(X, lengths)
    np.testing.assert_allclose(model.means_, expected.means_, rtol=1e-10)
    decode = run("decode", str(tmp / "data.npy"), str(tmp / "m.npz"),
                 "--lengths", str(tmp / "lengths.txt"))  # fmt: skip
    assert decode.returncode == 0, decode.stderr
    states = np.array(decode.stdout.split(), dtype=int)
    np.testing.assert_array_equal(states, model.predict(X, lengths))


def test_console_script_and_bad_file_exit_code(files):
    if shutil.which("fasthmm") is None:
        pytest.skip("the fasthmm console script is not installed")
    tmp, _, _ = files
    (tmp / "bad.csv").write_text("a,b\n1,x\n")
    bad = run("fit", str(tmp / "bad.csv"), "-o", str(tmp / "m.npz"), script=True)
    assert bad.returncode == 1
    lines = bad.stderr.strip().splitlines()
    assert len(lines) == 1 and "bad.csv" in lines[0] and "Traceback" not in bad.stderr
    usage = run("fit", script=True)
    assert usage.returncode == 2


def test_no_command_prints_plain_help(capsys):
    assert main([]) == 0
    out = capsys.readouterr().out
    assert "fit" in out and "decode" in out and "``" not in out


@pytest.mark.parametrize("max_duration", [None, 6])
def test_fit_a_semi_markov_model_with_its_max_duration(files, max_duration):
    tmp, X, lengths = files
    m = str(tmp / "hsmm.npz")
    extra = [] if max_duration is None else ["--max-duration", str(max_duration)]
    assert main(["fit", str(tmp / "data.npy"), "--lengths", str(tmp / "lengths.txt"),
                 "--model", "gaussian-hsmm", "-k", "2", "--n-iter", "3", "-o", m,
                 "-q", *extra]) == 0  # fmt: skip
    model = fasthmm.load(m)
    kwargs = {} if max_duration is None else {"max_duration": max_duration}
    expected = fasthmm.GaussianHSMM(2, n_iter=3, tol=1e-4, random_state=0, **kwargs)
    expected.fit(X, lengths)
    assert model.max_duration == expected.max_duration
    np.testing.assert_array_equal(model.durationprob_, expected.durationprob_)
    np.testing.assert_array_equal(model.means_, expected.means_)


def test_commands_in_process(files, capsys):
    tmp, X, lengths = files
    m = str(tmp / "m.npz")
    assert main(["fit", str(tmp / "data.npy"), "--lengths", str(tmp / "lengths.txt"),
                 "-k", "2", "-o", m, "-q"]) == 0  # fmt: skip
    model = fasthmm.load(m)
    capsys.readouterr()
    assert main(["score", str(tmp / "data.csv"), "--id-column", "0", m]) == 0
    out = capsys.readouterr().out.split()
    assert float(out[out.index("log-likelihood") + 1]) == pytest.approx(
        model.score(X, lengths), rel=1e-9
    )
    out_file = tmp / "post.npy"
    args = ["decode", str(tmp / "data.npy"), m, "--posteriors", "-o", str(out_file)]
    assert main(args) == 0
    np.testing.assert_allclose(np.load(out_file), model.predict_proba(X), rtol=1e-12)
    assert main(["sample", m, "-n", "5", "--seed", "1", "-o", str(tmp / "s.csv")]) == 0
    sampled = np.loadtxt(tmp / "s.csv", delimiter=",", skiprows=1)
    X_ref, Z_ref = model.sample(5, random_state=1)
    np.testing.assert_allclose(sampled[:, :2], X_ref, rtol=1e-9)
    np.testing.assert_array_equal(sampled[:, 2], Z_ref)
    assert main(["info", m]) == 0
    assert "GaussianHMM" in capsys.readouterr().out


@pytest.mark.parametrize(
    "args, message",
    [
        (["score", "{tmp}/missing.csv", "{tmp}/data.npy"], "missing.csv: no such file"),
        (["score", "{tmp}/data.npy", "{tmp}/data.npy"], "not a fasthmm model file"),
        (
            ["fit", "{tmp}/data.csv", "--id-column", "zz", "-o", "{tmp}/m.npz"],
            "no column named 'zz'",
        ),  # fmt: skip
        (
            [
                "fit",
                "{tmp}/data.npy",
                "--lengths",
                "{tmp}/data.npy",
                "-o",
                "{tmp}/m.npz",
            ],
            "lengths must be positive integers",
        ),  # fmt: skip
        (
            ["fit", "{tmp}/data.npy", "--model", "categorical", "-o", "{tmp}/m.npz"],
            "one symbol per sample",
        ),  # fmt: skip
    ],
)
def test_bad_files_give_one_line_and_exit_code_1(files, capsys, args, message):
    tmp, _, _ = files
    assert main([a.format(tmp=tmp) for a in args]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0]
    assert not (tmp / "m.npz").exists()


def _one_error_line(capsys, *expected):
    """The run wrote exactly one line on stderr, holding every ``expected``."""
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    for text in expected:
        assert text in err[0], err[0]
    return err[0]


@pytest.fixture()
def model_file(files):
    tmp, X, lengths = files
    model = fasthmm.GaussianHMM(2, random_state=0, n_iter=5).fit(X, lengths)
    model.save(tmp / "m.npz")
    return model, tmp / "m.npz"


# -- reading --------------------------------------------------------------------


@pytest.mark.parametrize("header", ["", "a,b\n"])
def test_a_csv_with_a_byte_order_mark_keeps_its_first_row(model_file, capsys, header):
    model, path = model_file
    rows = np.array([[0.5, -1.0], [4.5, 5.5], [5.0, 4.0]])
    text = header + "".join(f"{a},{b}\n" for a, b in rows)
    data = path.parent / "bom.csv"
    data.write_bytes(b"\xef\xbb\xbf" + text.encode())
    assert main(["decode", str(data), str(path)]) == 0
    out = capsys.readouterr()
    np.testing.assert_array_equal(np.array(out.out.split(), int), model.predict(rows))
    assert "3 rows in 1 sequence" in out.err


@pytest.mark.parametrize(
    "content, message",
    [("", "holds no samples"), ("\n\n# only a comment\n", "holds no samples"),
     ("a,b\n", "holds no samples, only a header row")],
)  # fmt: skip
def test_an_empty_csv_is_one_line_and_no_warning(model_file, capsys, content, message):
    _, path = model_file
    data = path.parent / "empty.csv"
    data.write_text(content)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert main(["decode", str(data), str(path)]) == 1
    _one_error_line(capsys, "empty.csv", message)


@pytest.mark.parametrize("value", ["1e30", "-3", "2.5", "nan", "inf", "9.3e18"])
def test_lengths_are_checked_as_numbers_before_the_cast(files, capsys, value):
    tmp, _, _ = files
    (tmp / "bad_lengths.txt").write_text(f"20\n{value}\n")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        code = main(["fit", str(tmp / "data.npy"), "--lengths",
                     str(tmp / "bad_lengths.txt"), "-o", str(tmp / "x.npz")])  # fmt: skip
    assert code == 1
    line = _one_error_line(capsys, "--lengths", "lengths[1] = ")
    assert f"lengths[1] = {float(value):.10g}" in line
    assert not (tmp / "x.npz").exists()


def test_text_ids_and_column_selection(tmp_path, capsys):
    rng = np.random.RandomState(1)
    X = np.concatenate([rng.normal(0, 1, (30, 2)), rng.normal(6, 1, (30, 2))])
    ids = np.repeat(["alice", "bob", "carol"], 20)
    time = np.arange(60) * 1000.0  # would dominate the fit as a feature
    with open(tmp_path / "d.csv", "w") as f:
        f.write("time,subject,x,y\n")
        for t, s, (a, b) in zip(time, ids, X):
            f.write(f"{t},{s},{a:.17g},{b:.17g}\n")
    expected = fasthmm.GaussianHMM(2, random_state=0).fit(X, [20, 20, 20])
    for columns in ("x,y", "2,3", "x,3"):
        out = tmp_path / "m.npz"
        assert main(["fit", str(tmp_path / "d.csv"), "--id-column", "subject",
                     "--columns", columns, "-o", str(out), "-q"]) == 0  # fmt: skip
        np.testing.assert_allclose(
            fasthmm.load(out).means_, expected.means_, rtol=1e-10
        )
    assert "60 rows in 3 sequences" in capsys.readouterr().out
    # Without --columns every other column, time included, is a feature.
    assert main(["fit", str(tmp_path / "d.csv"), "--id-column", "subject",
                 "-o", str(tmp_path / "all.npz"), "-q"]) == 0  # fmt: skip
    assert fasthmm.load(tmp_path / "all.npz").n_features == 3
    capsys.readouterr()
    assert main(["fit", str(tmp_path / "d.csv"), "--columns", "x,subject",
                 "-o", str(out)]) == 1  # fmt: skip
    _one_error_line(capsys, "d.csv", "'subject'", "numbers")
    assert main(["fit", str(tmp_path / "d.csv"), "--columns", "x,zz",
                 "-o", str(out)]) == 1  # fmt: skip
    _one_error_line(capsys, "no column named 'zz'", "time, subject, x, y")


def test_help_documents_columns_and_debug(capsys):
    with pytest.raises(SystemExit):
        main(["fit", "--help"])
    out = capsys.readouterr().out
    assert "--columns" in out and "--debug" in out
    with pytest.raises(SystemExit):
        main(["--help"])
    out = capsys.readouterr().out
    assert "every column is a feature" in " ".join(out.split()).lower()
    assert "FASTHMM_DEBUG" in out


# -- errors ---------------------------------------------------------------------


def test_info_prints_the_whole_table_of_an_unfitted_model(tmp_path, capsys):
    fasthmm.GaussianHMM(3, covariance_type="full").save(tmp_path / "u.npz")
    assert main(["info", str(tmp_path / "u.npz")]) == 0
    out = capsys.readouterr().out
    for label in ("class", "n_components", "covariance_type", "EM",
                  "last objective", "startprob_", "transmat_"):  # fmt: skip
        assert label in out
    assert "not set" in out


def test_a_damaged_model_file_is_one_line(model_file, capsys):
    _, path = model_file
    data = path.read_bytes()
    (path.parent / "cut.npz").write_bytes(data[: len(data) // 2])
    assert main(["info", str(path.parent / "cut.npz")]) == 1
    _one_error_line(capsys, "cut.npz", "damaged or truncated")


def test_an_unexpected_error_is_one_line_unless_debugging(
    model_file, capsys, monkeypatch
):
    _, path = model_file

    def broken(self, *args, **kwargs):
        raise RuntimeError("something inside broke\nsecond line")

    monkeypatch.setattr(fasthmm.GaussianHMM, "score", broken)
    monkeypatch.delenv("FASTHMM_DEBUG", raising=False)
    args = ["score", str(path.parent / "data.npy"), str(path)]
    assert main(args) == 1
    _one_error_line(capsys, "RuntimeError", "something inside broke", "--debug")
    for argv, env in ((["--debug", *args], None), ([*args, "--debug"], None),
                      (args, "1")):  # fmt: skip
        if env:
            monkeypatch.setenv("FASTHMM_DEBUG", env)
        assert main(argv) == 1
        err = capsys.readouterr().err
        assert "Traceback" in err and "second line" in err


# -- writing --------------------------------------------------------------------


@pytest.mark.parametrize(
    "args, message",
    [
        (["fit", "{tmp}/data.npy", "-o", "{tmp}/no/such/folder/m.npz"], "does not exist"),
        (["fit", "{tmp}/data.npy", "-o", "{tmp}"], "is a folder"),
        (["decode", "{tmp}/data.npy", "{tmp}/m.npz", "-o", "{tmp}/s.xlsx"], "unknown output type '.xlsx'"),
        (["decode", "{tmp}/data.npy", "{tmp}/m.npz", "-o", "{tmp}/nope/s.csv"], "does not exist"),
        (["sample", "{tmp}/m.npz", "-o", "{tmp}/s"], "unknown output type '(none)'"),
    ],
)  # fmt: skip
def test_the_output_path_is_checked_before_any_work(model_file, capsys, monkeypatch,
                                                   args, message):  # fmt: skip
    _, path = model_file

    def must_not_run(*a, **k):
        raise AssertionError("the work ran before the output path was checked")

    for name in ("fit", "decode", "predict_proba", "sample"):
        monkeypatch.setattr(fasthmm.GaussianHMM, name, must_not_run)
    assert main([a.format(tmp=path.parent) for a in args]) == 1
    _one_error_line(capsys, message)


def _fail_midway(f, *args, **kwargs):
    f.write(b"half" if "b" in getattr(f, "mode", "b") else "half")
    raise OSError(28, "No space left on device")


@pytest.mark.parametrize(
    "command, output, writer",
    [
        (["fit", "{tmp}/data.npy", "-k", "2", "-q"], "m.npz", "savez"),
        (["decode", "{tmp}/data.npy", "{tmp}/m.npz"], "s.csv", "savetxt"),
        (["decode", "{tmp}/data.npy", "{tmp}/m.npz"], "s.npy", "save"),
        (["sample", "{tmp}/m.npz", "-n", "7"], "s.txt", "savetxt"),
    ],
)
def test_a_failed_write_leaves_the_previous_output(model_file, capsys, monkeypatch,
                                                  command, output, writer):  # fmt: skip
    _, path = model_file
    tmp = path.parent
    target = tmp / output
    if not target.exists():
        target.write_bytes(b"the previous output\n")
    before = target.read_bytes()
    listing = sorted(p.name for p in tmp.iterdir())
    monkeypatch.setattr(np, writer, _fail_midway)
    assert main([a.format(tmp=tmp) for a in command] + ["-o", str(target)]) == 1
    _one_error_line(capsys, output, "No space left on device", "unchanged")
    assert target.read_bytes() == before
    assert sorted(p.name for p in tmp.iterdir()) == listing  # no temporary file


def test_an_output_over_the_file_size_limit_leaves_the_previous_file(model_file):
    resource = pytest.importorskip("resource")  # POSIX only
    _, path = model_file
    tmp = path.parent
    (tmp / "s.csv").write_text("the previous samples\n")
    # Compile and write once without a limit, then limit files to 4 KiB (the
    # shell's `ulimit -f 4`) and write 2000 samples (about 60 KiB).
    script = (
        "import resource, sys\n"
        "from fasthmm.cli import main\n"
        f"main(['sample', {str(path)!r}, '-n', '5', '-o', {str(tmp / 'w.csv')!r}])\n"
        f"resource.setrlimit(resource.RLIMIT_FSIZE, (4096, {resource.RLIM_INFINITY}))\n"
        f"sys.exit(main(['sample', {str(path)!r}, '-n', '2000', '-o', "
        f"{str(tmp / 's.csv')!r}]))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True,
        env=dict(os.environ, PYTHONPATH=ROOT), timeout=300,
    )  # fmt: skip
    assert done.returncode == 1, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "s.csv: cannot write it" in lines[0], lines
    assert (tmp / "s.csv").read_text() == "the previous samples\n"
    assert not [p for p in os.listdir(tmp) if p.endswith(".tmp")]


def test_forecast_writes_the_api_forecasts(files, capsys):
    tmp, X, lengths = files
    model = fasthmm.GaussianHMM(2, n_iter=5, random_state=0).fit(X, lengths)
    model.save(tmp / "m.npz")
    data = ["--lengths", str(tmp / "lengths.txt")]
    out = tmp / "f.csv"
    assert main(["forecast", str(tmp / "data.npy"), str(tmp / "m.npz"), *data,
                 "--steps", "3", "-o", str(out)]) == 0  # fmt: skip
    table = np.loadtxt(out, delimiter=",", skiprows=1)
    assert open(out).readline().strip() == "sequence,step,x0,x1"
    np.testing.assert_array_equal(table[:, 0], np.repeat(np.arange(4), 3))
    np.testing.assert_array_equal(table[:, 1], np.tile([1, 2, 3], 4))
    expected = model.forecast(X, lengths, steps=3).reshape(12, 2)
    np.testing.assert_allclose(table[:, 2:], expected, rtol=1e-9)
    assert main(["forecast", str(tmp / "data.npy"), str(tmp / "m.npz"), *data,
                 "--steps", "2", "--proba"]) == 0  # fmt: skip
    printed = np.loadtxt(capsys.readouterr().out.splitlines(), delimiter=",")
    expected = model.forecast_proba(X, lengths, steps=2).reshape(8, 2)
    np.testing.assert_allclose(printed[:, 2:], expected, rtol=1e-9)
    assert main(["forecast", str(tmp / "data.npy"), str(tmp / "m.npz"),
                 "--steps", "0"]) == 1  # fmt: skip
    assert "steps must be >= 1" in capsys.readouterr().err


def test_forecast_takes_future_transition_inputs(files, capsys):
    tmp, X, lengths = files
    rng = np.random.RandomState(4)
    W = np.column_stack([np.ones(len(X)), rng.normal(size=len(X))])
    future = np.column_stack([np.ones(8), np.linspace(-1, 1, 8)])  # 4 x 2 steps
    np.save(tmp / "w.npy", W)
    np.save(tmp / "future.npy", future)
    model = fasthmm.GaussianHMM(2, transition_inputs=True, n_iter=3, random_state=0)
    model.fit(X, lengths, transition_inputs=W).save(tmp / "m.npz")
    args = ["forecast", str(tmp / "data.npy"), str(tmp / "m.npz"), "--lengths",
            str(tmp / "lengths.txt"), "--transition-inputs", str(tmp / "w.npy"),
            "--steps", "2"]  # fmt: skip
    assert main([*args, "--future-transition-inputs", str(tmp / "future.npy")]) == 0
    printed = np.loadtxt(capsys.readouterr().out.splitlines(), delimiter=",")
    expected = model.forecast(
        X, lengths, steps=2, transition_inputs=W,
        future_transition_inputs=future.reshape(4, 2, 2),
    )  # fmt: skip
    np.testing.assert_allclose(printed[:, 2:], expected.reshape(8, 2), rtol=1e-9)
    np.save(tmp / "short.npy", future[:5])
    assert main([*args, "--future-transition-inputs", str(tmp / "short.npy")]) == 1
    assert "one row per sequence and step" in capsys.readouterr().err
    assert main(args) == 1
    assert "future_transition_inputs" in capsys.readouterr().err
