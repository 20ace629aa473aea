"""Which kernels a process compiled, the first-hour tasks, and compiling ahead.

Numba compiles each kernel the first time it runs and caches the machine
code on disk (``NUMBA_CACHE_DIR`` when set, else ``__pycache__`` beside the
sources). :func:`compile_all` runs every route once on tiny inputs, so that
a Docker image, a CI cache or a shared directory of dask workers holds every
kernel before the first real call (``python -m fasthmm compile``).
:func:`compiled_kernels` lists what a process compiled or loaded: each
kernel holds one signature (float64 / int64, C-contiguous arrays: the
callers convert at the boundary).
"""

import os
import sys
import time

import numpy as np


def _dispatchers():
    """Every Numba dispatcher defined in fasthmm's loaded modules, by name."""
    from numba.core.dispatcher import Dispatcher

    found = {}
    for name, module in list(sys.modules.items()):
        if not (name == "fasthmm" or name.startswith("fasthmm.")) or module is None:
            continue
        for attr, value in vars(module).items():
            if isinstance(value, Dispatcher) and value.py_func.__module__ == name:
                found[f"{name}.{attr}"] = value
    return found


def compiled_kernels():
    """Kernels compiled (or loaded from the cache) in this process.

    Returns
    -------
    signatures : dict of str to int
        Qualified kernel name -> number of signatures it holds (at least 1).
    """
    out = {}
    for name, dispatcher in _dispatchers().items():
        n = len(dispatcher.signatures)
        if n:
            out[name] = n
    return out


def first_hour(n_iter=5):
    """What a new user runs first: fit, score, decode and posteriors of a
    GaussianHMM, then fit, score and decode of a CategoricalHMM (tiny data).

    Returns
    -------
    seconds : dict of str to float
        Wall time of each call, in order.
    """
    import fasthmm

    rng = np.random.default_rng(0)
    X = np.concatenate([rng.normal(m, 1.0, size=(60, 2)) for m in (-3, 0, 3)])
    lengths = [90, 90]
    symbols = rng.integers(0, 4, size=(180, 1))
    times = {}

    def timed(name, fn, *args):
        t = time.perf_counter()
        out = fn(*args)
        times[name] = time.perf_counter() - t
        return out

    g = fasthmm.GaussianHMM(3, n_iter=n_iter, random_state=0)
    timed("GaussianHMM.fit", g.fit, X, lengths)
    timed("GaussianHMM.score", g.score, X, lengths)
    timed("GaussianHMM.decode", g.decode, X, lengths)
    timed("GaussianHMM.predict_proba", g.predict_proba, X, lengths)
    timed("GaussianHMM.filter_proba", g.filter_proba, X, lengths)
    c = fasthmm.CategoricalHMM(3, n_iter=n_iter, random_state=0)
    timed("CategoricalHMM.fit", c.fit, symbols, lengths)
    timed("CategoricalHMM.score", c.score, symbols, lengths)
    timed("CategoricalHMM.decode", c.decode, symbols, lengths)
    return times


def _family_tasks(rng, n, lengths):
    """(name, model, X) for every model class, on data of ``n`` rows."""
    import fasthmm

    gauss = rng.normal(size=(n, 2))
    symbols = rng.integers(0, 4, size=(n, 1))
    counts = rng.poisson(3.0, size=(n, 2))
    trials = rng.multinomial(5, [0.2, 0.3, 0.5], size=n)
    tasks = [
        (f"GaussianHMM({cov})", fasthmm.GaussianHMM(2, covariance_type=cov), gauss)
        for cov in ("diag", "full", "spherical", "tied")
    ]
    tasks += [
        ("CategoricalHMM", fasthmm.CategoricalHMM(2), symbols),
        ("MultinomialHMM", fasthmm.MultinomialHMM(2, n_trials=5), trials),
        ("PoissonHMM", fasthmm.PoissonHMM(2), counts),
        ("GMMHMM", fasthmm.GMMHMM(2, n_mix=2), gauss),
        ("VariationalCategoricalHMM", fasthmm.VariationalCategoricalHMM(2), symbols),
        ("VariationalGaussianHMM", fasthmm.VariationalGaussianHMM(2), gauss),
    ]
    # the regression kernels (ARHMM runs the same ones)
    tasks += [
        (f"RegressionHMM({cov})", fasthmm.RegressionHMM(2, covariance_type=cov), gauss)
        for cov in ("diag", "full")
    ]
    for _, model, _ in tasks:
        model.set_params(n_iter=2, random_state=0)
    return [(name, model, X, lengths) for name, model, X in tasks]


def _inference_routes(model, X, lengths, **inputs):
    """A model's fit, score, Viterbi, posteriors and filtered rows (``inputs``:
    keyword arguments every call takes, e.g. ``transition_inputs``)."""
    model.fit(X, lengths, **inputs)
    model.score(X, lengths, **inputs)
    model.decode(X, lengths, **inputs)
    model.predict_proba(X, lengths, **inputs)
    model.filter_proba(X, lengths, **inputs)


def _model_routes(model, X, lengths):
    """Every public route of a model: fit, inference, sampling, a stream."""
    _inference_routes(model, X, lengths)
    model.decode(X, lengths, algorithm="map")
    model.sample_posterior(X, lengths, n_samples=2, random_state=0)
    model.sample(5, random_state=0)
    stream = model.stream(lag=2)
    stream.push(X[:3])
    labels = np.full(X.shape[0], -1)
    labels[:2] = 0
    model.fit(X, lengths, states=labels)


def _functional_routes(rng, k, lengths):
    """The functional API on random log-emissions of ``k`` states, and on a
    sequence only the exact log-space route settles."""
    import fasthmm

    n = int(sum(lengths))
    le = rng.normal(size=(n, k))
    sp, tm = np.full(k, 1.0 / k), np.full((k, k), 1.0 / k)
    fasthmm.forward(le, sp, tm, lengths)
    fasthmm.forward_backward(le, sp, tm, lengths)
    fasthmm.forward_filter(le, sp, tm, lengths)
    fasthmm.viterbi(le, sp, tm, lengths)
    s = fasthmm.stream_filter(sp, tm, lag=1)
    s.push(le[:3])
    # State 0 carries the chain far below state 1's emissions: the scaled
    # kernels leave the sequence to the log-space route.
    hard = np.zeros((6, 2))
    hard[:, 0] = -2000.0
    eye = np.eye(2)
    fasthmm.forward(hard, eye[0], eye)
    fasthmm.forward_backward(hard, eye[0], eye)


def compile_all(log=None):
    """Compile (or load) every kernel of every route, on tiny inputs.

    Runs every model class's fit (with and without known states), score,
    decode, posteriors, filtered rows, sampling and stream; input-driven
    transitions, missing observations, a hidden semi-Markov model, the
    Markov-switching autoregression and the tagger; the functional
    API for few and for many states; a long sequence (the two-thread
    E-step) and a sequence that needs the exact log-space route; each once
    with the one-thread forms of the kernels and once with the parallel
    ones. Afterwards the cache (``NUMBA_CACHE_DIR``, or ``__pycache__``
    beside the sources) holds every kernel, and later processes compile
    nothing.

    Parameters
    ----------
    log : callable, optional
        Called with one line of progress per step.

    Returns
    -------
    failed : dict of str to str
        Steps that raised, with the error (empty when all ran).
    """
    import logging

    from . import _threads
    from ._kernels.partition import LONG_SEQUENCE

    log = log or (lambda line: None)
    logger = logging.getLogger("fasthmm")
    level = logger.level
    logger.setLevel(logging.ERROR)  # no first-use notice: compiling is the point
    rng = np.random.default_rng(0)
    failed = {}

    def step(name, fn, *args):
        t = time.perf_counter()
        try:
            fn(*args)
        except Exception as exc:  # noqa: BLE001 - reported, the rest still runs
            failed[name] = f"{type(exc).__name__}: {exc}"
        log(f"{name}: {time.perf_counter() - t:.1f} s")

    threshold = _threads.MIN_PARALLEL_WORK
    try:
        for label, work in (("one thread", 1 << 62), ("parallel", 0)):
            _threads.MIN_PARALLEL_WORK = work
            for name, model, X, lengths in _family_tasks(rng, 60, [25, 35]):
                step(f"{name} ({label})", _model_routes, model, X, lengths)
            for k in (2, 12):
                step(f"functional K={k} ({label})", _functional_routes, rng, k, [7, 9])
        long_ = [LONG_SEQUENCE + 1]
        step("long sequence", _functional_routes, rng, 2, long_)
        X = rng.normal(size=(long_[0], 1))
        step("long sequence fit", _gaussian_fit, X, long_)
        step("MarkovSwitchingAR", _switching_ar_routes, rng.normal(size=60))
        step("input-driven transitions", _transition_input_routes, rng)
        step("missing observations", _missing_routes, rng)
        step("GaussianHSMM", _hsmm_routes, rng)
        step("HMMTagger", _tagger_routes)
    finally:
        _threads.MIN_PARALLEL_WORK = threshold
        logger.setLevel(level)
    return failed


def _switching_ar_routes(y):
    """MarkovSwitchingAR: fit, scores, posteriors, Viterbi (the tuple
    chain's two kernels), sampling and a stream (the HMMs' kernels)."""
    from .msar import MarkovSwitchingAR

    model = MarkovSwitchingAR(2, 2, n_iter=2).fit(y, [25, 35])
    model.score_samples(y, [25, 35])
    model.decode(y, [25, 35])
    model.sample(5, random_state=0)
    model.stream(lag=1).push(y[:5])


def _transition_input_routes(rng):
    """A GaussianHMM whose transitions depend on inputs: fit, inference,
    sampling (the per-step matrices, their M-step, the varying-chain
    kernels)."""
    import fasthmm

    lengths = [25, 35]
    X = rng.normal(size=(60, 1))
    U = np.column_stack([np.ones(60), rng.normal(size=60)])
    model = fasthmm.GaussianHMM(2, transition_inputs=True, n_iter=2, random_state=0)
    _inference_routes(model, X, lengths, transition_inputs=U)


def _missing_routes(rng):
    """A GaussianHMM with missing entries marginalised: fit and inference."""
    import fasthmm

    X = rng.normal(size=(60, 2))
    X[::7, 0] = np.nan
    model = fasthmm.GaussianHMM(2, missing="marginalize", n_iter=2, random_state=0)
    _inference_routes(model, X, [25, 35])


def _hsmm_routes(rng):
    """A hidden semi-Markov model: fit and inference."""
    import fasthmm

    X = rng.normal(size=(60, 1))
    model = fasthmm.GaussianHSMM(2, max_duration=5, n_iter=2, random_state=0)
    _inference_routes(model, X, [25, 35])


def _tagger_routes():
    """HMMTagger: fit, both decoders, marginals."""
    from .tagger import HMMTagger

    words = [["the", "dog", "runs"], ["a", "cat", "sleeps", "here"]]
    tags = [["D", "N", "V"], ["D", "N", "V", "R"]]
    for decoder in ("viterbi", "posterior"):
        tagger = HMMTagger(decoder=decoder).fit(words, tags)
        tagger.predict(words + [["the", "unknown", "word"]])
    tagger.predict_proba(words)


def _gaussian_fit(X, lengths):
    """One EM iteration of a two-state GaussianHMM."""
    import fasthmm

    fasthmm.GaussianHMM(2, n_iter=1, random_state=0).fit(X, lengths)


def add_compile_command(subparsers, error):
    """Add ``fasthmm compile`` to the command line's subparsers.

    Parameters
    ----------
    subparsers : argparse subparsers action
    error : type
        The exception the command line reports as one line (exit code 1).
    """

    def run(args):
        t = time.perf_counter()
        failed = compile_all(None if args.quiet else lambda s: print(s, flush=True))
        if failed:
            name, message = next(iter(failed.items()))
            raise error(f"{len(failed)} step(s) failed, first {name}: {message}")
        print(
            f"{len(compiled_kernels())} kernels compiled or loaded in "
            f"{time.perf_counter() - t:.1f} s; cache: "
            f"{os.environ.get('NUMBA_CACHE_DIR') or 'beside the sources'}",
            flush=True,
        )

    p = subparsers.add_parser(
        "compile",
        help="compile every kernel into Numba's cache, once per machine",
        description="Compile every Numba kernel of fasthmm into the cache "
        "(NUMBA_CACHE_DIR when set, else __pycache__ beside the sources), so "
        "that later processes compile nothing: for Docker images, CI caches "
        "and dask workers sharing a cache directory.",
    )
    p.add_argument("-q", "--quiet", action="store_true", help="no progress lines")
    p.set_defaults(run=run)
