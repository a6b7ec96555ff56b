"""What every experiment shares: its command line, and writing its CSV and plots whole or not at all.

    arguments = common.parser(__doc__, "data_efficiency").parse_args()
    common.write_csv(arguments.out / "results.csv", rows)
    common.save_figure(figure, arguments.out / "accuracy.png")
"""

import argparse
import csv
import pathlib

import zoo  # noqa: F401  (quiets TensorFlow's start-up logging before it is imported)
from zoo import atomic

RESULTS = pathlib.Path(__file__).parent / "results"


def parser(description, name):
    """The options every experiment takes: --quick, --seeds and --out (default experiments/results/NAME)."""
    arguments = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    arguments.add_argument(
        "--quick", action="store_true", help="tiny data and few steps: checks the script runs, not the claim"
    )
    arguments.add_argument("--seeds", type=int, help="seeds per setting (default: the experiment's; 1 with --quick)")
    arguments.add_argument(
        "--out", type=pathlib.Path, default=RESULTS / name, help="folder for the CSV and plots (default: %(default)s)"
    )
    return arguments


def write_csv(path, rows):
    """Writes a list of dicts, one row each, with the first row's keys as the header."""
    if not rows:
        raise ValueError(f"No results to write to {path}.")
    with atomic.replacing(path) as temporary:
        with open(temporary, "w", newline="") as file:
            writer = csv.DictWriter(file, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)


def save_figure(figure, path):
    """Saves a matplotlib figure as PNG and closes it."""
    from matplotlib import pyplot

    with atomic.replacing(path) as temporary:
        figure.savefig(temporary, dpi=100, bbox_inches="tight")
    pyplot.close(figure)


def pyplot():
    """matplotlib's pyplot on the Agg backend, which needs no display."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot

    return pyplot
