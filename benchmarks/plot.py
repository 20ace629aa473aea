"""Time per call against K, per model, operation and implementation.

``python -m benchmarks --plot [PATH]`` draws it after a run (or with
``--from-json RUN.json``). Needs matplotlib (the ``[plot]`` extra), imported
only here.
"""

from __future__ import annotations

import sys
from pathlib import Path

DEFAULT_PATH = "docs/figures/benchmark_time_vs_k.png"
OPERATIONS = ("score", "decode", "posteriors", "em")
STYLES = {
    "fasthmm": ("C0", "o", "-"),
    "fasthmm-1thread": ("C0", "o", ":"),
    "hmmlearn-log": ("C3", "s", "-"),
    "hmmlearn-scaling": ("C1", "^", "-"),
    "naive": ("C7", "x", "--"),
}


def plot(out, path=DEFAULT_PATH):
    """Write the figure of a run (its JSON document); return the path, or None."""
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
        for r in out["results"]
        if r["operation"] in OPERATIONS and r["params"]["n_sequences"] > 1
    ]
    workloads = list(dict.fromkeys(r["workload"] for r in rows))
    if not workloads:
        print("no model-level results to plot", file=sys.stderr)
        return None
    fig, axes = plt.subplots(
        len(workloads),
        len(OPERATIONS),
        figsize=(12.8, 2.6 * len(workloads)),
        sharex=True,
        squeeze=False,
    )
    for i, w in enumerate(workloads):
        for j, op in enumerate(OPERATIONS):
            ax = axes[i, j]
            for impl, (color, marker, line) in STYLES.items():
                pts = sorted(
                    (r["params"]["n_components"], r["median_s"] * 1e3)
                    for r in rows
                    if (r["workload"], r["operation"], r["implementation"])
                    == (w, op, impl)
                )
                if pts:
                    ax.plot(*zip(*pts), color=color, marker=marker, ls=line, label=impl)
            ax.set_xscale("log", base=2)
            ax.set_yscale("log")
            ax.set_xticks([4, 16, 64], ["4", "16", "64"])
            ax.grid(True, which="major", alpha=0.3)
            ax.set_title(op if i == 0 else "")
            ax.set_ylabel(f"{w}\nms per call" if j == 0 else "")
    for ax in axes[-1]:
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
    m, p = out.get("machine", {}), rows[0]["params"]
    fig.suptitle(
        f"time per call, {p['n_sequences']} sequences x {p['n_steps']} steps; "
        f"{m.get('cpu_model', '?')}, {m.get('numba_threads', '?')} threads, {out.get('created', '')[:10]}",
        y=0.998,
        fontsize=9,
    )
    fig.tight_layout(rect=(0, 0, 1, 0.955))
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
