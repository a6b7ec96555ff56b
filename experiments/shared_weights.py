"""Claim 3 (SPEC §3, the article's open question): should the two directions share weights?

    python experiments/shared_weights.py            # the full run: 14.7 minutes, 9.3 of them CPU time
    python experiments/shared_weights.py --quick    # a smoke test: 32 examples, 1 epoch, 8 units

Trains bidirectional models (merged by sum) whose forward and backward
directions share nothing, W_xh and b ("input"), W_hh ("recurrent") or all
three, on the two tasks of merge_modes.py: `framewise` on
`spoken_digit_frames` (test frame accuracy) and `sentiment` on
`product_reviews_zh` (test accuracy), several seeds each, mean ± std.

The budget is equal units: sharing is a way to spend fewer parameters on
the same layer, so the shared models have fewer, and the CSV says how many.
Training budgets: `common.BIDIRECTIONAL_TASKS`.

Writes results.csv (one row per run), summary.csv (mean and standard
deviation over seeds) and shared_weights.png. (Times on this project's 2
cores shared with other jobs.)
"""

import dataclasses
import sys

from experiments import common
from zoo.settings import for_model

# None shares nothing; the others name what the backward direction takes from the forward one.
SHARED = (None, "input", "recurrent", "all")


def main(argv=None):
    arguments = common.parser(__doc__, "shared_weights").parse_args(argv)
    seeds = arguments.seeds or (1 if arguments.quick else 3)

    rows = []
    for task, plan in common.BIDIRECTIONAL_TASKS.items():
        options = plan["quick"] if arguments.quick else plan["full"]
        for shared in SHARED:
            settings = for_model(plan["model"], share_weights=shared, **options)
            for seed in range(seeds):
                result = common.train_and_test(dataclasses.replace(settings, seed=seed))
                rows.append({
                    "task": task, "shared": shared or "none", "units": settings.units,
                    "parameters": result["parameters"], "seed": seed, "metric": plan["metric"],
                    "accuracy": round(result[plan["metric"]], 4), "epochs": result["epochs"],
                    "seconds": result["seconds"], "settings": " ".join(f"{key}={value}" for key, value in options.items()),
                })
                print(f"{task:<14} shared {shared or 'none':<9}  seed {seed}  "
                      f"accuracy {result[plan['metric']]:.3f}  {result['seconds']:.0f} s", flush=True)

    summary = common.summarise(rows, ["task", "shared", "units"], "accuracy")
    arguments.out.mkdir(parents=True, exist_ok=True)
    common.write_csv(arguments.out / "results.csv", rows)
    common.write_csv(arguments.out / "summary.csv", summary)
    common.bar_plot(summary, "shared", "Weights shared between the directions, equal units (mean ± std over seeds)",
                    arguments.out / "shared_weights.png")
    print(f"Wrote {arguments.out}/results.csv, summary.csv and shared_weights.png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
