"""The benchmarks' charts: PNGs a benchmark writes from the figures it just measured (``--chart FILE.png``).

``make charts`` writes the ones the performance guide shows (``docs/_static/``); the smoke runs write theirs to
a temporary folder, so the chart code runs in ``make test`` without touching the committed pictures.
matplotlib (the ``dev`` extra) is imported only when a chart is asked for.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

#: Colours kept the same in every chart: the provider's path, the fixed poller, 429 answers.
OURS, FIXED, LIMITED, TRUTH = "#1f6feb", "#8c959f", "#d1242f", "#2da44e"
HOST_COLOURS = ("#1f6feb", "#bf8700", "#8250df", "#2da44e", "#cf222e", "#0969da")


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.rcParams.update({"font.size": 9, "axes.spines.top": False, "axes.spines.right": False})
    return plt


def _save(fig: Any, path: str, note: str) -> None:
    fig.text(0.01, 0.005, note, fontsize=7, color="#57606a", ha="left", va="bottom")
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    # No timestamp in the file: a chart regenerated from the same figures is the same file.
    fig.savefig(path, dpi=100, metadata={"Software": None})
    print(f"chart: wrote {path}", flush=True)


def _calls(times: Sequence[float]) -> str:
    return f"{len(times)} call{'' if len(times) == 1 else 's'}"


def polling_chart(path: str, panels: Sequence[dict[str, Any]], note: str) -> None:
    """One panel per lookup: its progress over time (as the fixed poller read it), every progress call of the
    fixed 2 s poller and of the provider's task (the checks before deferring and the trigger's polls), and the
    moment the lookup was really done.

    Each panel: ``title``, ``duration`` (s), ``ours`` and ``fixed`` (seconds after submission of each progress
    call, from the sandbox's log), ``progress`` ([(seconds, percent)]), ``late`` (s), ``changed`` (s or None).
    """
    plt = _pyplot()
    cols = min(2, len(panels))
    rows = (len(panels) + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(5.2 * cols, 2.6 * rows + 0.5), squeeze=False)
    for ax, p in zip(axes.flat, panels, strict=False):
        # Progress as the fixed poller read it while running, then the real completion.
        seen = [(t, pct) for t, pct in p["progress"] if t < p["duration"]] + [(p["duration"], 100.0)]
        xs, ys = zip(*seen, strict=True)
        ax.plot(xs, ys, color=TRUTH, linewidth=1.2, marker=".", markersize=3, label="lookup progress (%)")
        ax.vlines(p["fixed"], 0, 8, color=FIXED, linewidth=0.8, label=f"fixed 2 s poller: {_calls(p['fixed'])}")
        ax.vlines(p["ours"], 0, 100, color=OURS, linewidth=1.6, label=f"provider: {_calls(p['ours'])}")
        ax.scatter(p["ours"], [100] * len(p["ours"]), color=OURS, s=14, zorder=3)
        ax.axvline(p["duration"], color=TRUTH, linestyle="--", linewidth=0.9)
        if p.get("changed") is not None:
            ax.axvline(p["changed"], color=LIMITED, linestyle=":", linewidth=0.9, label="service pace changes")
        ax.set_title(f"{p['title']}: done at {p['duration']:.0f} s, seen {p['late']:.1f} s later", fontsize=9)
        ax.set_xlabel("seconds after the lookup was submitted")
        ax.set_ylim(0, 108)
        ax.set_xlim(0, max([p["duration"], *p["ours"], *p["fixed"]]) * 1.04 + 1)
        ax.legend(loc="upper left", fontsize=7, frameon=False)
    for ax in list(axes.flat)[len(panels) :]:
        ax.set_visible(False)
    fig.suptitle(
        "Progress calls over a lookup's life: the provider's adaptive schedule vs a fixed 2 s poller", fontsize=10
    )
    fig.tight_layout(rect=(0, 0.03, 1, 1))
    _save(fig, path, note)
    plt.close(fig)


def hosts_chart(path: str, cases: Sequence[dict[str, Any]], seconds: float, limit: float, note: str) -> None:
    """One panel per (load, limiter): the requests each host sent per second (stacked; the answers that were not
    429) and the 429 answers on top, against the key's limit.

    Each case: ``load``, ``config``, ``title`` and ``hosts``, one per host: ``{"sent": [s, ...], "limited": [s,
    ...]}``, seconds since the start of the run of each request sent and of each 429 answer.
    """
    plt = _pyplot()
    loads = list(dict.fromkeys(c["load"] for c in cases))
    configs = list(dict.fromkeys(c["config"] for c in cases))
    fig, axes = plt.subplots(
        len(loads),
        len(configs),
        figsize=(max(7.0, 3.8 * len(configs)), 2.9 * len(loads) + 0.8),
        squeeze=False,
        sharey="row",
    )
    bins = max(1, int(seconds))

    def per_second(times: Sequence[float]) -> list[float]:
        out = [0.0] * bins
        for t in times:
            if 0 <= t < bins:
                out[int(t)] += 1
        return out

    for case in cases:
        ax = axes[loads.index(case["load"])][configs.index(case["config"])]
        xs = list(range(bins))
        bottom, refused = [0.0] * bins, [0.0] * bins
        for i, host in enumerate(case["hosts"]):
            sent, limited = per_second(host["sent"]), per_second(host["limited"])
            ok = [max(0.0, a - b) for a, b in zip(sent, limited, strict=True)]
            refused = [r + b for r, b in zip(refused, limited, strict=True)]
            colour = HOST_COLOURS[i % len(HOST_COLOURS)]
            ax.bar(xs, ok, bottom=bottom, width=1.0, color=colour, alpha=0.8, label=f"host {i + 1}", align="edge")
            bottom = [b + o for b, o in zip(bottom, ok, strict=True)]
        ax.bar(xs, refused, bottom=bottom, width=1.0, color=LIMITED, label="answered 429", align="edge")
        ax.axhline(limit, color="black", linestyle="--", linewidth=0.8, label=f"the key's limit, {limit:g}/s")
        total = sum(len(h["sent"]) for h in case["hosts"])
        n429 = sum(len(h["limited"]) for h in case["hosts"])
        share = n429 / max(1, total)
        ax.set_title(f"{case['title']}\n{n429} of {total} requests answered 429 ({share:.1%})", fontsize=8)
        ax.set_xlim(0, bins)
        ax.set_xlabel("second of the run")
        if configs.index(case["config"]) == 0:
            ax.set_ylabel("requests per second")
    axes[0][-1].legend(loc="upper right", fontsize=6, frameon=False)
    fig.suptitle(
        "Requests per second per host on one API key: each host's own limit vs one shared in Redis", fontsize=10
    )
    fig.tight_layout(rect=(0, 0.03, 1, 1))
    _save(fig, path, note)
    plt.close(fig)


def machine_note() -> str:
    """The line under every chart: when, on what, and how loaded the machine was."""
    import platform
    import time

    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    return (
        f"{time.strftime('%Y-%m-%d')}, {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"load average {load:.2f} when the chart was drawn"
    )
