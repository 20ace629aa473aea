"""Time per call against K, per model, operation and implementation.

``python -m benchmarks --plot [PATH]`` draws it after a run;
``python -m benchmarks.plot RESULTS.json [PATH]`` draws it from a JSON file
written by ``--json``. Needs matplotlib (the ``[plot]`` extra), imported only
here.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

DEFAULT_PATH = (
    Path(__file__).resolve().parent.parent / "docs/figures/benchmark_time_vs_k.png"
)
OPERATIONS = ("score", "decode", "posteriors", "em")
STYLES = {
    "fasthmm": ("C0", "o", "-"),
    "fasthmm-1thread": ("C0", "o", ":"),
    "hmmlearn-log": ("C3", "s", "-"),
    "hmmlearn-scaling": ("C1", "^", "-"),
    "naive": ("C7", "x", "--"),
}


def plot(results, path=DEFAULT_PATH):
    """Write the figure; return its path, or None when matplotlib is missing.

    Parameters
    ----------
    results : dict
        The JSON document of a run (``results``, ``machine``, ``created``).
    """
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print(
            "matplotlib is not installed (pip install 'fasthmm[plot]'): no plot",
            file=sys.stderr,
        )
        return None
    rows = [
        r
        for r in results["results"]
        if r["operation"] in OPERATIONS and r["n_sequences"] > 1
    ]
    workloads = list(dict.fromkeys(r["workload"] for r in rows))
    if not workloads:
        print("no model-level results to plot", file=sys.stderr)
        return None
    fig, axes = plt.subplots(
        len(workloads),
        len(OPERATIONS),
        figsize=(3.2 * len(OPERATIONS), 2.6 * len(workloads)),
        sharex=True,
        squeeze=False,
    )
    for i, w in enumerate(workloads):
        for j, op in enumerate(OPERATIONS):
            ax = axes[i, j]
            for impl, (color, marker, line) in STYLES.items():
                pts = sorted(
                    (r["params"]["n_components"], r["time_per_call_s"] * 1e3)
                    for r in rows
                    if r["workload"] == w
                    and r["operation"] == op
                    and r["implementation"] == impl
                )
                if pts:
                    ks, ms = zip(*pts)
                    ax.plot(ks, ms, color=color, marker=marker, ls=line, label=impl)
            ax.set_xscale("log", base=2)
            ax.set_yscale("log")
            ax.set_xticks([4, 16, 64], ["4", "16", "64"])
            ax.grid(True, which="major", alpha=0.3)
            if i == 0:
                ax.set_title(op)
            if j == 0:
                ax.set_ylabel(f"{w}\nms per call")
            if i == len(workloads) - 1:
                ax.set_xlabel("K (states)")
    handles, labels = axes[0, 0].get_legend_handles_labels()
    fig.legend(
        handles,
        labels,
        loc="upper center",
        bbox_to_anchor=(0.5, 0.985),
        ncol=len(labels),
        frameon=False,
    )
    m = results.get("machine", {})
    n, steps = rows[0]["n_sequences"], rows[0]["params"]["n_steps"]
    fig.suptitle(
        f"time per call, {n} sequences x {steps} steps; "
        f"{m.get('cpu_model', '?')}, {m.get('numba_threads', '?')} threads, "
        f"{results.get('created', '')[:10]}",
        y=0.998,
        fontsize=9,
    )
    fig.tight_layout(rect=(0, 0, 1, 0.955))
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if not argv:
        sys.exit("usage: python -m benchmarks.plot RESULTS.json [OUT.png]")
    results = json.loads(Path(argv[0]).read_text())
    out = plot(results, argv[1] if len(argv) > 1 else DEFAULT_PATH)
    if out:
        print(f"plot written to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
