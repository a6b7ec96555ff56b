"""Joins finished seq2seq or g2p runs into one run folder whose model answers with their mean log-probabilities.

    python train.py --model g2p --seed 0 --out runs/g2p-0
    python train.py --model g2p --seed 1 --out runs/g2p-1
    python ensemble.py runs/g2p-0 runs/g2p-1 --out runs/g2p-ensemble
    python evaluate.py runs/g2p-ensemble --input zoology

Members must share a dataset and vocabularies (trained on the same data);
their widths and seeds may differ. The ensemble's size and decoding time are
its members' together (see zoo/ensemble.py).
"""

import argparse
import shlex
import sys

import zoo  # noqa: F401  (quiets TensorFlow's start-up logging before it is imported)


def parser():
    arguments = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    arguments.add_argument("runs", nargs="+", help="finished run folders of train.py (two or more)")
    arguments.add_argument("--out", required=True, help="the new run folder of the ensemble")
    arguments.add_argument("--debug", action="store_true", help="show the traceback of an error instead of one line")
    return arguments


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    arguments = parser()
    args = arguments.parse_args(argv)
    from zoo import ensemble
    from zoo.interruption import EXIT_CODE as SIGTERM_EXIT_CODE, Terminated, handling_signals
    from zoo.presets import PresetError
    from zoo.training import print_test_metrics

    try:
        with handling_signals():
            metrics = ensemble.combine(args.runs, args.out, shlex.join([sys.executable, __file__, *argv]))
    except (KeyboardInterrupt, Terminated) as error:
        if args.debug:
            raise
        code = 130 if isinstance(error, KeyboardInterrupt) else SIGTERM_EXIT_CODE
        arguments.exit(code, f"\nStopped: {args.out} was not written; run the command again.\n")
    except Exception as error:
        if args.debug:
            raise
        if isinstance(error, (ensemble.EnsembleError, PresetError)):
            arguments.exit(2, f"{arguments.prog}: error: {error}\n")
        first_line = str(error).strip().split("\n")[0]
        arguments.exit(1, f"{arguments.prog}: error: {type(error).__name__}: {first_line} (--debug shows where)\n")
    print_test_metrics(metrics, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
