"""Live data: ``python -m benchmarks --workload stream``.

* **Cost per pushed observation** of ``model.stream()`` (filtering only,
  ``viterbi=False``; and the default stream with online Viterbi), one
  observation at a time and in chunks of 100, for a GaussianHMM (diag, D=4)
  and a CategoricalHMM (32 symbols), K in {2, 4, 16, 64}, against

  - a plain NumPy streaming filter: per observation, the emission
    log-density in NumPy (the model's constants precomputed), one
    vector-matrix product and a normalisation;
  - ``filter_proba`` called on the growing prefix (what users do without a
    stream; its cost grows with the prefix: timed over the first
    ``PREFIX_STEPS`` observations);
  - ``filter_proba`` on all the rows at once (the batch floor for chunks).

* **Paths that never coalesce**: online Viterbi with an identity
  ``transmat_`` (K=4, categorical), where no state is ever decided before
  :meth:`flush` (default ``max_delay=None``): pushes per second over the
  first and the second half of ``APART_STEPS`` observations (equal rates:
  the cost of a push does not grow with the undecided window), and the
  flushed path checked against ``decode``.

* **Serving from threads**: ``REQUESTS`` decode requests of
  ``REQUEST_STEPS`` steps on one shared GaussianHMM (K=4), run one after the
  other in one thread and spread over 2 and 4 Python threads; results
  compared with the serial ones.
"""

from __future__ import annotations

import statistics
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np

import fasthmm

KS = (2, 4, 16, 64)
D, N_SYMBOLS = 4, 32
STEPS, QUICK_STEPS = 5000, 1000
CHUNK = 100
PREFIX_STEPS = 500
REQUESTS, REQUEST_STEPS, REQUEST_K = 100, 200, 4
APART_K, APART_STEPS, QUICK_APART_STEPS = 4, 20000, 4000
THREADS = (1, 2, 4)
SEED = 0


def _chain(rng, k):
    return np.full(k, 1.0 / k), 0.8 * np.eye(k) + 0.2 * rng.dirichlet(np.ones(k), k)


def make_model(family, k, seed=SEED):
    """A model with random parameters (dense transitions, fixed seed)."""
    rng = np.random.default_rng(seed + k)
    startprob, transmat = _chain(rng, k)
    if family == "gaussian-diag":
        model = fasthmm.GaussianHMM(k, covariance_type="diag", init_params="")
        model.means_ = rng.normal(0, 3, (k, D))
        model.covars_ = rng.uniform(0.5, 2.0, (k, D))
    else:
        model = fasthmm.CategoricalHMM(k, n_features=N_SYMBOLS, init_params="")
        model.emissionprob_ = rng.dirichlet(np.ones(N_SYMBOLS), k)
    model.startprob_, model.transmat_ = startprob, transmat
    return model


def numpy_filter(model, family):
    """A plain NumPy streaming filter: ``step(x) -> filtered row``."""
    tm = np.asarray(model.transmat_)
    state = {"alpha": None, "start": np.asarray(model.startprob_)}
    if family == "gaussian-diag":
        means, var = np.asarray(model.means_), np.asarray(model.covars_)
        prec = 1.0 / var
        log_norm = -0.5 * (D * np.log(2 * np.pi) + np.log(var).sum(axis=1))

        def log_density(x):
            return log_norm - 0.5 * ((x - means) ** 2 * prec).sum(axis=1)
    else:
        log_table = np.log(np.asarray(model.emissionprob_).T)

        def log_density(x):
            return log_table[x]

    def step(x):
        le = log_density(x)
        e = np.exp(le - le.max())
        prev = state["alpha"]
        a = (state["start"] if prev is None else prev @ tm) * e
        state["alpha"] = a / a.sum()
        return state["alpha"]

    return step


def _observations(model, family, n):
    X, _ = model.sample(n, random_state=SEED)
    if family == "gaussian-diag":
        return X, list(X)  # rows as 1-D arrays
    return X, [int(s) for s in X[:, 0]]  # symbols as ints


def _best(fn, repeat):
    """Best wall time of ``fn()`` over ``repeat`` runs (after one warm-up)."""
    fn()
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def _per_observation(family, k, n, repeat):
    model = make_model(family, k)
    X, singles = _observations(model, family, n)
    ref = model.filter_proba(X)
    out = {}

    def pushes(**options):
        def run():
            stream = model.stream(**options)
            rows = [stream.push(x) for x in singles]
            return rows

        got = np.concatenate(run())
        assert np.allclose(got, ref, atol=1e-10), "stream disagrees with filter_proba"
        return _best(run, repeat) / n

    def chunks():
        stream = model.stream(viterbi=False)
        for lo in range(0, n, CHUNK):
            stream.push(X[lo : lo + CHUNK])

    def numpy_run():
        step = numpy_filter(model, family)
        return [step(x) for x in singles]

    def prefix():
        for t in range(1, PREFIX_STEPS + 1):
            model.filter_proba(X[:t])[-1]

    got = np.array(numpy_run())
    assert np.allclose(got, ref, atol=1e-10), "NumPy filter disagrees"
    out["push_filter"] = pushes(viterbi=False)
    out["push_viterbi"] = pushes()
    out["chunk_filter"] = _best(chunks, repeat) / n
    out["numpy_filter"] = _best(numpy_run, repeat) / n
    out["prefix"] = _best(prefix, max(1, repeat // 2)) / PREFIX_STEPS
    out["batch"] = _best(lambda: model.filter_proba(X), repeat) / n
    return out


def apart_model(k=APART_K, seed=SEED):
    """A categorical model whose Viterbi paths never meet (identity chain)."""
    rng = np.random.default_rng(seed)
    model = fasthmm.CategoricalHMM(k, n_features=N_SYMBOLS, init_params="")
    model.startprob_ = np.full(k, 1.0 / k)
    model.transmat_ = np.eye(k)
    model.emissionprob_ = rng.dirichlet(np.ones(N_SYMBOLS), k)
    return model


def _apart(n):
    """Pushes per second, first and second half, of a never-coalescing stream."""
    model = apart_model()
    symbols = [int(s) for s in np.random.default_rng(SEED).integers(0, N_SYMBOLS, n)]
    warm = model.stream()
    for x in symbols[:100]:  # compile, including the window's growth
        warm.push(x)
    stream = model.stream()
    half = n // 2
    t0 = time.perf_counter()
    for x in symbols[:half]:
        stream.push(x)
    t1 = time.perf_counter()
    for x in symbols[half:]:
        stream.push(x)
    t2 = time.perf_counter()
    _, rest = stream.flush()
    same = np.array_equal(rest, model.decode(np.array(symbols)[:, None])[1])
    return {
        "steps": n,
        "k": APART_K,
        "first_per_s": half / (t1 - t0),
        "second_per_s": (n - half) / (t2 - t1),
        "same": bool(same),
    }


def _threads_rows(repeat):
    model = make_model("gaussian-diag", REQUEST_K)
    rng = np.random.default_rng(SEED)
    requests = [
        model.sample(REQUEST_STEPS, random_state=rng)[0] for _ in range(REQUESTS)
    ]
    serial = [model.decode(X) for X in requests]
    rows = []
    for n in THREADS:
        if n == 1:

            def run():
                return [model.decode(X) for X in requests]
        else:
            pool = ThreadPoolExecutor(n)

            def run(pool=pool):
                return list(pool.map(model.decode, requests))

        results = run()
        same = all(
            a[0] == b[0] and np.array_equal(a[1], b[1]) for a, b in zip(results, serial)
        )
        times = []
        for _ in range(repeat):
            t0 = time.perf_counter()
            run()
            times.append(time.perf_counter() - t0)
        if n > 1:
            pool.shutdown()
        rows.append({"threads": n, "median_s": statistics.median(times), "same": same})
    return rows


def run(quick=False, repeat=5, log=print):
    """The live-data measurements (a JSON-ready dict)."""
    n = QUICK_STEPS if quick else STEPS
    rows = []
    for family in ("gaussian-diag", "categorical"):
        for k in KS:
            log(f"[stream] {family} K={k}: {n} observations")
            rows.append(
                {"family": family, "k": k, **_per_observation(family, k, n, repeat)}
            )
    m = QUICK_APART_STEPS if quick else APART_STEPS
    log(f"[stream] online Viterbi, paths never coalescing: {m} observations")
    apart = _apart(m)
    log(f"[stream] {REQUESTS} decode requests from 1, 2, 4 threads")
    return {
        "steps": n,
        "rows": rows,
        "apart": apart,
        "threads": _threads_rows(repeat),
    }


def lines(s):
    from .report import table

    def us(x):
        return f"{x * 1e6:.2f}" if x < 1e-5 else f"{x * 1e6:.1f}"

    out = [
        "",
        f"== live data: microseconds per observation pushed into model.stream(), "
        f"{s['steps']} observations; GaussianHMM diag D={D}, CategoricalHMM "
        f"{N_SYMBOLS} symbols; best of the runs",
    ]
    header = ["model", "K", "push 1", "push 1+vit", "numpy 1", "numpy/push"]
    header += [f"prefix {PREFIX_STEPS}", "prefix/push", f"push {CHUNK}"]
    header += ["batch", f"push {CHUNK}/batch"]
    rows = [
        [
            r["family"],
            r["k"],
            us(r["push_filter"]),
            us(r["push_viterbi"]),
            us(r["numpy_filter"]),
            f"{r['numpy_filter'] / r['push_filter']:.1f}",
            us(r["prefix"]),
            f"{r['prefix'] / r['push_filter']:.0f}",
            us(r["chunk_filter"]),
            us(r["batch"]),
            f"{r['chunk_filter'] / r['batch']:.2f}",
        ]
        for r in s["rows"]
    ]
    out += table(header, rows, "<" + ">" * (len(header) - 1))
    out += [
        "push 1: stream.push(x) one observation at a time, model.stream(viterbi=False)"
        " (filtering); push 1+vit: the default stream (filtering and online"
        " Viterbi); numpy 1: a plain NumPy streaming filter (emission log-density,"
        " one vector-matrix product and a normalisation per observation);"
        f" prefix {PREFIX_STEPS}: filter_proba on the growing prefix, averaged over"
        f" the first {PREFIX_STEPS} observations (grows with the prefix); push"
        f" {CHUNK}: chunks of {CHUNK} observations; batch: filter_proba on all"
        " the rows at once.",
        "",
    ]
    a = s.get("apart")
    if a is not None:
        out += [
            f"== online Viterbi when paths never coalesce: {a['steps']} "
            f"observations pushed one at a time, CategoricalHMM K={a['k']} with "
            "an identity transmat_ (no state decided before flush)",
            f"pushes/s: {a['first_per_s']:,.0f} over the first half, "
            f"{a['second_per_s']:,.0f} over the second (close rates: a push costs the "
            "same however many steps are undecided); flushed path equal to "
            f"decode: {'yes' if a['same'] else 'NO'}",
            "",
        ]
    out += [
        f"== serving from threads: {REQUESTS} decode requests of {REQUEST_STEPS} "
        f"steps (GaussianHMM diag, K={REQUEST_K}) on one shared model; median wall "
        "time",
    ]
    base = s["threads"][0]["median_s"]
    rows = [
        [
            r["threads"],
            f"{r['median_s'] * 1e3:.1f}",
            f"{REQUESTS / r['median_s']:.0f}",
            f"{base / r['median_s']:.2f}",
            "yes" if r["same"] else "NO",
        ]
        for r in s["threads"]
    ]
    out += table(
        ["Python threads", "ms", "requests/s", "speed-up", "same results"], rows
    )
    return out
