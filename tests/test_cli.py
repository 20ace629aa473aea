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
