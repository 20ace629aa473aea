"""Command line: ``python -m benchmarks [--quick] [--json PATH] [--busy N] ...``."""

from __future__ import annotations

import argparse
import importlib
import json
import sys
import time
from datetime import datetime, timezone
from pathlib import Path


def parse_args(argv=None):
    p = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description="Time fasthmm against hmmlearn and naive NumPy.",
    )
    add = p.add_argument
    add(
        "--quick",
        action="store_true",
        help="about a minute: three models and one long sequence at K = 4, 16 on "
        "10 x 1000 steps, 3 repetitions, a one-table summary",
    )
    add("--json", metavar="PATH", help="also write the results as JSON")
    add(
        "--workload",
        action="append",
        metavar="NAME",
        help="run only this workload (repeatable; see --list)",
    )
    add(
        "--repeat",
        type=int,
        help="least number of timed runs per call (default 5, 3 with --quick)",
    )
    add(
        "--threads",
        type=int,
        help="Numba threads (and BLAS threads for dgemm); default: Numba's",
    )
    add("--no-compile", action="store_true", help="skip the compile-time subprocesses")
    add(
        "--no-memory",
        action="store_true",
        help="skip the peak-memory subprocesses (fit of each model)",
    )
    add(
        "--busy",
        type=int,
        metavar="N",
        help="instead: EM iterations on 1 and the default number of threads, and two fits at once, with N competing CPU-bound processes",
    )
    add(
        "--floor",
        action="store_true",
        help="instead: the functional API against a plain parallel Numba floor, K = 2..64, on 100 x 1000 and 10 x 100 steps",
    )
    add(
        "--vocabulary",
        action="store_true",
        help="instead: one CategoricalHMM EM iteration for 1k, 10k and 100k symbols (200k tokens), and 100k symbols with 20k tokens, against hmmlearn",
    )
    add(
        "--hsmm",
        action="store_true",
        help="instead: GaussianHSMM EM iteration and Viterbi, K = 4, 16 and max_duration 20, 100, against plain NumPy and GaussianHMM",
    )
    add(
        "--missing",
        action="store_true",
        help="instead: fit with missing observations (none, 25%% of rows, 25%% of rows partly) against missing='raise' on complete data (benchmarks/missing.py)",
    )
    add(
        "--regime",
        action="store_true",
        help="instead: MarkovSwitchingAR order 4 against statsmodels' MarkovAutoregression (the [bench] extra): score, EM iteration and fit on GNP, GDP and a 5000-step series",
    )
    add(
        "--switching",
        action="store_true",
        help="instead: one EM iteration of RegressionHMM and ARHMM (orders 1, 2) against GaussianHMM on the same data, K = 4, 16 (benchmarks/switching.py)",
    )
    add(
        "--tagger",
        action="store_true",
        help="instead: HMMTagger against NLTK's TnT and PerceptronTagger (the [tagging] extra) on UD English EWT, train -> dev; --quick leaves out the perceptron",
    )
    add(
        "--peers",
        action="store_true",
        help="instead: dynamax, pomegranate and hmmkay (when installed, the [peers] extra) against fasthmm, each in its own process",
    )
    add(
        "--cold",
        nargs="?",
        type=int,
        const=0,
        metavar="ROUNDS",
        help="with --peers: each library's first score, Viterbi, posteriors and EM "
        "iteration in fresh processes, fasthmm with an empty Numba cache (and once "
        "warm), beside the machine's yardstick; ROUNDS rounds (default 2, 1 with "
        "--quick; benchmarks/peers_cold.py)",
    )
    add(
        "--scaling",
        type=float,
        metavar="GB",
        help="instead: GaussianHMM EM on a memmap of GB GiB (written to the temporary directory, then deleted) against reading it and an in-memory fit, and the distributed fit on 1 and 2 workers (benchmarks/scaling.py)",
    )
    add(
        "--plot",
        nargs="?",
        const="docs/figures/benchmark_time_vs_k.png",
        metavar="PATH",
        help="draw time against K (matplotlib) to PATH (default docs/figures/benchmark_time_vs_k.png)",
    )
    add(
        "--from-json",
        metavar="PATH",
        help="print the report (and --plot) of a run saved with --json; run nothing",
    )
    add(
        "--startup",
        action="store_true",
        help="instead: the first-hour script in fresh processes, cold (empty Numba cache) and warm, beside hmmlearn, with compile time per kernel and the machine's yardstick (benchmarks/startup.py)",
    )
    add(
        "--inputs",
        action="store_true",
        help="instead: GaussianHMM with input-driven transitions (transition_inputs=True) against the stationary chain, K = 2, 4, 8 on 100 x 1000 steps: EM iteration, E-step, M-step, score, decode",
    )
    add("--list", action="store_true", help="list the workloads and exit")
    return p.parse_args(argv)


LIVE = "stream"  # the live-data workload (benchmarks/stream.py)
#: Report sections rendered by the module of the same name (its ``lines``).
SECTIONS = (
    "startup",
    "busy",
    "floor",
    "vocabulary",
    "tagger",
    "peers",
    "peers_cold",
    "stream",
    "scaling",
    "hsmm",
    "missing",
    "regime",
    "inputs",
    "switching",
)


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def quiet_log(msg):
    """--quick's progress: the start of each stage only, not every timed case."""
    if msg.startswith("measuring"):
        log(msg)


def main(argv=None):
    args = parse_args(argv)
    if args.cold is not None and not args.peers:
        sys.exit("--cold goes with --peers: python -m benchmarks --peers --cold")
    if args.from_json:
        out = json.loads(Path(args.from_json).read_text())
        print("\n".join(render(out)))
        return _plot(out, args.plot)

    import numba

    from . import isolated, machine, suites
    from .data import model_data

    if args.list:
        for name, (spec, ks, _, (n, t), _) in suites.WORKLOADS.items():
            ops = (
                "forward forward_backward viterbi"
                if spec is None
                else "score decode posteriors em"
            )
            print(f"{name:<19} K={','.join(map(str, ks))}, {n} x {t}: {ops}")
        print(f"{LIVE:<19} live data: model.stream() per observation; threads")
        return 0
    for name in args.workload or ():
        if name not in suites.WORKLOADS and name != LIVE:
            known = ", ".join([*suites.WORKLOADS, LIVE])
            sys.exit(f"unknown workload {name!r}; known: {known}")
    if args.threads:
        numba.set_num_threads(args.threads)
    repeat = args.repeat or (3 if args.quick else 5)
    min_total = 0.0 if args.quick else 1.0
    started, monitor = time.perf_counter(), machine.LoadMonitor()
    out = {
        "schema": 3,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "mode": "quick" if args.quick else "full",
        "repeat": repeat,
        "machine": machine.describe(
            dgemm=args.busy is None
            and args.scaling is None
            and not (
                args.vocabulary
                or args.floor
                or args.peers
                or args.hsmm
                or args.regime
                or args.inputs
                or args.switching
                or args.startup
                or args.tagger
                or args.missing
            )
        ),
    }
    threads = numba.get_num_threads()
    default = suites.QUICK_WORKLOADS if args.quick else list(suites.WORKLOADS)
    selected = args.workload or list(default)
    live = LIVE in selected
    selected = [w for w in selected if w != LIVE]
    out["titles"] = {w: suites.title(w) for w in selected}
    models = [w for w in selected if suites.WORKLOADS[w][0] is not None]
    if args.startup:
        out["startup"] = __import__("benchmarks.startup").startup.run(log)
    elif args.scaling is not None:
        out["scaling"] = __import__("benchmarks.scaling").scaling.run(args.scaling, log)
    elif args.busy is not None:
        out["busy"] = __import__("benchmarks.busy").busy.run(
            args.busy, repeat, min_total, log
        )
    elif args.floor:
        from . import floor

        out["floor"] = floor.run(repeat, log)
    elif args.vocabulary:
        from . import vocabulary

        out["vocabulary"] = vocabulary.run(repeat, log)
    elif args.hsmm:
        from . import hsmm

        out["hsmm"] = hsmm.run(args.quick, repeat, log)
    elif args.missing:
        from . import missing

        out["missing"] = missing.run(args.quick, repeat, log)
    elif args.regime:
        from . import regime

        out["regime"] = regime.run(args.quick, repeat, log)
    elif args.inputs:
        from . import inputs

        out["inputs"] = inputs.run(args.quick, repeat, log)
    elif args.switching:
        from . import switching

        out["switching"] = switching.run(args.quick, repeat, log)
    elif args.tagger:
        from . import tagger

        out["tagger"] = tagger.run(repeat, log, quick=args.quick)
    elif args.peers and args.cold is not None:
        from . import peers_cold

        out["peers_cold"] = peers_cold.run(args.quick, args.cold, log)
    elif args.peers:
        from . import peers

        out["peers"] = peers.run(args.quick, repeat, min_total, log)
    else:
        if not (args.no_compile or args.quick):  # --quick: first calls only
            log("measuring compile time in subprocesses ...")
            if suites.FUNCTIONAL in selected:
                out["compile"] = isolated.compile_functional(threads)
            if models:
                out["compile_models"] = isolated.compile_models(threads)
        if live:
            out["stream"] = __import__("benchmarks.stream").stream.run(
                args.quick, repeat, log
            )
        out["results"] = []
        progress = quiet_log if args.quick else log
        for w in selected:
            if args.quick:
                log(f"measuring {w} ...")
            for case in suites.cases(w, args.quick):
                out["results"] += suites.run_case(case, repeat, min_total, progress)
        if not (args.no_memory or args.quick) and models:
            log("measuring peak memory of fit in subprocesses ...")
            out["memory"] = []
            for w in models:
                spec, ks, quick_ks, size, quick_size = suites.WORKLOADS[w]
                k = (quick_ks if args.quick else ks)[-1]
                data = model_data(spec, k, *(quick_size if args.quick else size))
                out["memory"].append(isolated.fit_memory(w, data))
    out["machine"]["load"] = monitor.stop()
    try:
        out["machine"]["threading_layer"] = numba.threading_layer()
    except ValueError:
        out["machine"]["threading_layer"] = None
    out["wall_s"] = time.perf_counter() - started
    print("\n".join(render(out)))
    if args.json:
        path = Path(args.json)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(out, indent=1) + "\n")
        log(f"results written to {path}")
    return _plot(out, args.plot)


def render(out):
    """The report's lines for a run (``out`` as written to JSON)."""
    from . import report

    lines = [
        f"fasthmm benchmarks ({out['mode']} run {out['created']}, "
        f"median of >= {out['repeat']} runs per call)",
        *report.machine_lines(out["machine"]),
    ]
    for section in SECTIONS:  # each module renders its own section
        if section in out:
            module = importlib.import_module(f".{section}", __package__)
            lines += module.lines(out[section])
    if out.get("results") and out["mode"] == "quick":
        lines += report.quick_lines(out)
    elif out.get("results"):
        dgemm = (out["machine"].get("dgemm") or {}).get("gflops")
        lines += report.results_lines(out, out["titles"])
        lines += report.split_lines(out["results"], dgemm)
        lines += report.summary_lines(out)
    lines += report.memory_lines(out.get("memory"))
    lines += report.compile_lines(out.get("compile"))
    lines += report.compile_model_lines(out.get("compile_models"))
    return lines + report.load_lines(out)


def _plot(out, path):
    if path and out.get("results"):
        from . import plot

        written = plot.plot(out, path)
        if written:
            log(f"plot written to {written}")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:  # the competitors of --busy are stopped by then
        sys.exit(130)
