"""Claim 2 (SPEC §3): merging the two directions by sum "usually beats" concat.

    python experiments/merge_modes.py            # the full run: 10.5 minutes, 6.5 of them CPU time
    python experiments/merge_modes.py --quick    # a smoke test: 32 examples, 1 epoch, 8 units

Trains bidirectional models whose directions are merged by sum, concat and
ave on two tasks: `framewise` on `spoken_digit_frames` (test frame
accuracy) and `sentiment` on `product_reviews_zh` (test accuracy), several
seeds each, and reports mean ± std.

The budget is equal parameters: concat doubles the width the next layer
sees, so its models get the most units (at most the sum model's) that keep
them within the sum model's parameter count. Sum and ave have the same
parameters. Training seconds are in the CSV too. Training budgets:
`common.BIDIRECTIONAL_TASKS`.

Writes results.csv (one row per run), summary.csv (mean and standard
deviation over seeds) and merge_modes.png. (Times on this project's 2 cores
shared with other jobs.)
"""

import dataclasses
import sys

from experiments import common
from zoo.settings import for_model

MERGE_MODES = ("sum", "concat", "ave")


def main(argv=None):
    arguments = common.parser(__doc__, "merge_modes").parse_args(argv)
    seeds = arguments.seeds or (1 if arguments.quick else 3)

    rows = []
    for task, plan in common.BIDIRECTIONAL_TASKS.items():
        options = plan["quick"] if arguments.quick else plan["full"]
        budget = common.parameters_of(for_model(plan["model"], merge="sum", **options))
        for merge in MERGE_MODES:
            settings = for_model(plan["model"], merge=merge, **options)
            units = common.units_for_parameters(settings, budget)
            for seed in range(seeds):
                result = common.train_and_test(dataclasses.replace(settings, units=units, seed=seed))
                rows.append({
                    "task": task, "merge": merge, "units": units, "parameters": result["parameters"], "seed": seed,
                    "metric": plan["metric"], "accuracy": round(result[plan["metric"]], 4), "epochs": result["epochs"],
                    "seconds": result["seconds"], "settings": " ".join(f"{key}={value}" for key, value in options.items()),
                })
                print(f"{task:<14} {merge:<7} {units:>3} units  seed {seed}  "
                      f"accuracy {result[plan['metric']]:.3f}  {result['seconds']:.0f} s", flush=True)

    summary = common.summarise(rows, ["task", "merge", "units"], "accuracy")
    arguments.out.mkdir(parents=True, exist_ok=True)
    common.write_csv(arguments.out / "results.csv", rows)
    common.write_csv(arguments.out / "summary.csv", summary)
    common.bar_plot(summary, "merge", "Bidirectional merge modes at equal parameters (mean ± std over seeds)",
                    arguments.out / "merge_modes.png")
    print(f"Wrote {arguments.out}/results.csv, summary.csv and merge_modes.png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
