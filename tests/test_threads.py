"""The threading set-up: passive OpenMP waiting, one thread for small work."""

import os
import subprocess
import sys

import numba
import numpy as np

import fasthmm
from fasthmm import _threads


def _policy_after_import(env):
    code = "import os, fasthmm; print(os.environ.get('OMP_WAIT_POLICY'))"
    out = subprocess.run(
        [sys.executable, "-c", code],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return out.stdout.strip()


def test_import_asks_for_passive_waiting():
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT")
    }
    assert _policy_after_import(env) == "PASSIVE"


def test_users_choice_of_wait_policy_is_kept():
    env = dict(os.environ, OMP_WAIT_POLICY="ACTIVE")
    assert _policy_after_import(env) == "ACTIVE"
    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    env["GOMP_SPINCOUNT"] = "1000"
    assert _policy_after_import(env) == "None"


def test_small_work_runs_on_one_thread_and_restores_the_count():
    before = numba.get_num_threads()
    with _threads.threads_for(10, 2):
        inside = numba.get_num_threads()
    assert inside == 1
    assert numba.get_num_threads() == before
    with _threads.threads_for(10**7, 16):
        assert numba.get_num_threads() == before


def test_thread_count_is_restored_when_the_call_raises():
    before = numba.get_num_threads()
    model = fasthmm.GaussianHMM(2)
    try:
        model.score(np.zeros((5, 1)))
    except fasthmm.NotFittedError:
        pass
    assert numba.get_num_threads() == before


def test_rows_of_estimates_without_raising():
    assert _threads.rows_of(np.zeros((7, 3))) == 7
    assert _threads.rows_of([np.zeros((2, 1)), np.zeros((5, 1))]) == 7
    assert _threads.rows_of([0, 1, 2]) == 3
    assert _threads.rows_of(object()) == 0
    assert _threads.rows_of(np.float64(3.0)) == 0
