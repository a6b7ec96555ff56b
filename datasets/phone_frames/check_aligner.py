"""How far to trust `test_real`'s labels: pocketsphinx's alignment against flite's exact phone timings.

    python -m datasets.phone_frames.check_aligner [--sentences 120]

Reads the first test sentences of `phone_frames` with every flite voice in turn, puts each through the path the
real prompts take (8 kHz, doubled to 16 kHz, aligned to the sentence's words) and counts the frames on which the
aligner's phone is flite's. Sentences with a word outside pocketsphinx's dictionary cannot be aligned and are
counted apart.
"""

import argparse
import re
import tempfile

import numpy as np

from datasets import _common
from datasets.phone_frames import phone_frames_dataset_builder as phones


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sentences", type=int, default=120, help="test sentences to read (default: %(default)s)")
    arguments = parser.parse_args(argv)
    pocketsphinx = _common.require_module("pocketsphinx", phones.PIP_COMMAND)
    decoder = pocketsphinx.Decoder(samprate=16000, bestpath=False, loglevel="FATAL")
    test = _common.assign_splits(phones.sentences(phones.docstring_texts()), salt="phone_frames")["test"]
    voices = (*phones.TRAIN_VOICES, phones.TEST_VOICE)
    agreeing = total = unaligned = 0
    with tempfile.TemporaryDirectory() as folder:
        for index, sentence in enumerate(sorted(test)[: arguments.sentences]):
            samples, timed = phones.synthesize(sentence, voices[index % len(voices)], 1.0, folder)
            words = " ".join(re.sub(r"[^a-z' ]", " ", sentence.lower().replace("-", " ")).split())
            aligned = phones.align(decoder, phones.double_rate(samples), words)
            if aligned is None:
                unaligned += 1
                continue
            frames = 1 + (len(samples) - phones.FRAME_LENGTH) // phones.FRAME_STEP
            truth, guess = phones.frame_labels(timed, frames), phones.frame_labels(aligned, frames)
            agreeing += int(np.sum(truth == guess))
            total += frames
    print(f"{arguments.sentences - unaligned} sentences aligned ({unaligned} with words outside the dictionary), "
          f"{total:,} frames: the aligner agrees with flite on {agreeing / total:.1%} of them.")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
