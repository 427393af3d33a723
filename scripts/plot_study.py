#!/usr/bin/python3
"""plot_study.py - the sample-efficiency curve written by `cgdml study`.

Landscape MSE against the all-atom reference (kT^2) versus the number of labelled
training frames, one line per method, mean and standard error over the repeats,
on a logarithmic size axis; the reference's own half-against-half floor as a
dashed line.  Uses Debian's python3-matplotlib.

With --table FILE it also writes a Markdown table (the README's Results): per
size and method, mean ± standard error over the repeats of the landscape MSE, the
MSE weighted by reference population, the convergence check (first against
second half of the production run), the matched floor, KL, missed population,
held-out force MSE and training seconds (a column the table lacks, as older
tables do, shows "–").

usage: /usr/bin/python3 scripts/plot_study.py study/results.csv -o study/error_vs_size.png
       [--column landscape_mse_kT2] [--title TEXT] [--table study/results.md]
"""
import argparse
import csv
import math
import sys

import matplotlib
import matplotlib.ticker

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (after the backend is chosen)

METHOD_ORDER = ["single", "average", "distilled", "prior-only"]
LABELS = {
    "landscape_mse_kT2": "landscape MSE vs all-atom (kT²)",
    "force_mse_heldout": "held-out force MSE ((kcal/mol/Å)²)",
    "kl": "KL(reference ‖ model)",
    "missing_population": "reference population never visited",
}


def read_results(path, column):
    """{method: {size: [values]}} of the finite values of `column`, and the floors."""
    groups, floors = {}, []
    try:
        with open(path, newline="") as f:
            for row in csv.DictReader(f):
                value = float(row[column])
                if math.isfinite(value):
                    sizes = groups.setdefault(row["method"], {})
                    sizes.setdefault(int(row["size"]), []).append(value)
                floor = float(row.get("floor_kT2") or "nan")
                if math.isfinite(floor):
                    floors.append(floor)
    except (OSError, KeyError, ValueError) as e:
        sys.exit(f"plot_study.py: {path}: not a cgdml study table ({e})")
    return groups, floors


def mean_stderr(values):
    n = len(values)
    mean = sum(values) / n
    if n < 2:
        return mean, 0.0
    var = sum((v - mean) ** 2 for v in values) / (n - 1)
    return mean, math.sqrt(var / n)


TABLE_COLUMNS = [
    ("landscape_mse_kT2", "landscape MSE (kT²)", "{:.2f}"),
    ("landscape_mse_weighted_kT2", "weighted MSE (kT²)", "{:.2f}"),
    ("halves_mse_kT2", "convergence (kT²)", "{:.2f}"),
    ("matched_floor_kT2", "matched floor (kT²)", "{:.2f}"),
    ("kl", "KL", "{:.2f}"),
    ("missing_population", "missed population", "{:.3f}"),
    ("force_mse_heldout", "held-out force MSE", "{:.1f}"),
    ("train_s", "train s", "{:.0f}"),
]


def write_table(path, results):
    """Markdown table of mean ± standard error per (size, method) of TABLE_COLUMNS."""
    groups = {}
    with open(results, newline="") as f:
        for row in csv.DictReader(f):
            groups.setdefault((int(row["size"]), row["method"]), []).append(row)
    order = {m: i for i, m in enumerate(METHOD_ORDER)}
    lines = ["| frames | method | repeats | " + " | ".join(c[1] for c in TABLE_COLUMNS) + " |",
             "|---:|---|---:|" + "---:|" * len(TABLE_COLUMNS)]
    for size, method in sorted(groups, key=lambda k: (k[0], order.get(k[1], 99), k[1])):
        rows = groups[(size, method)]
        cells = []
        for column, _, fmt in TABLE_COLUMNS:
            values = [float(r[column]) for r in rows
                      if r.get(column) and math.isfinite(float(r[column]))]
            if not values:
                cells.append("–")
                continue
            mean, err = mean_stderr(values)
            cells.append(fmt.format(mean) + (" ± " + fmt.format(err) if len(values) > 1 else ""))
        lines.append(f"| {size} | {method} | {len(rows)} | " + " | ".join(cells) + " |")
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("results")
    p.add_argument("-o", "--output", required=True)
    p.add_argument("--column", default="landscape_mse_kT2")
    p.add_argument("--title", default="sample efficiency (cgdml study)")
    p.add_argument("--table", help="also write a Markdown table of the results here")
    args = p.parse_args()
    groups, floors = read_results(args.results, args.column)
    if not groups:
        sys.exit(f"plot_study.py: {args.results}: no finite {args.column} values")
    fig, ax = plt.subplots(figsize=(6.4, 4.4))
    methods = [m for m in METHOD_ORDER if m in groups] + sorted(set(groups) - set(METHOD_ORDER))
    for method in methods:
        sizes = sorted(groups[method])
        stats = [mean_stderr(groups[method][s]) for s in sizes]
        ax.errorbar(sizes, [m for m, _ in stats], yerr=[e for _, e in stats], marker="o",
                    capsize=3, label=method)
    if floors and args.column == "landscape_mse_kT2":
        ax.axhline(sum(floors) / len(floors), color="grey", linestyle="--",
                   label="reference floor (half vs half)")
    ax.set_xscale("log")
    all_sizes = sorted({s for sizes in groups.values() for s in sizes})
    ax.set_xticks(all_sizes)
    ax.set_xticks([], minor=True)
    ax.xaxis.set_major_formatter(matplotlib.ticker.ScalarFormatter())
    ax.set_xlabel("labelled training frames")
    ax.set_ylabel(LABELS.get(args.column, args.column))
    ax.set_title(args.title)
    ax.legend()
    fig.tight_layout()
    fig.savefig(args.output, dpi=120)
    if args.table:
        write_table(args.table, args.results)


if __name__ == "__main__":
    main()
