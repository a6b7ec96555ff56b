"""English speech with a phone label on every 10 ms frame (many-to-many), for framewise phone classification.

Each example is one sentence:

    features: float32, shape (num_frames, 39) = 13 MFCCs, 13 deltas, 13 delta-deltas
    labels:   int64, shape (num_frames,), the phone spoken in each frame (39 CMU phones + "sil")
"""

import ast
import concurrent.futures
import functools
import gzip
import os
import pathlib
import re
import shutil
import subprocess
import sysconfig
import tempfile
import wave
from typing import Dict, Iterator, List, Optional, Sequence, Tuple

import numpy as np
import tensorflow_datasets as tfds

from datasets import _common
from datasets.spoken_digit_frames.spoken_digit_frames_dataset_builder import add_deltas

APT_COMMAND = "apt-get install flite asterisk-core-sounds-en-wav asterisk-core-sounds-en"
PIP_COMMAND = "pip install pocketsphinx==5.1.1"
# The 39 phones of CMUdict (stress removed) and silence.
PHONES = (
    "aa ae ah ao aw ay b ch d dh eh er ey f g hh ih iy jh k l m n ng ow oy p r s sh t th uh uw v w y z zh sil"
).split()
# flite's and pocketsphinx's names outside that set: flite's schwa "ax" is CMUdict's unstressed "ah";
# pocketsphinx's filler phones (noise, breath) are no phone at all.
PHONE_ALIASES = {"pau": "sil", "ax": "ah", "axr": "er", "+nsn+": "sil", "+spn+": "sil", "+bre+": "sil"}
SAMPLE_RATE = 8000  # The real speech is telephone speech: every split is cut to its band.
FRAME_LENGTH, FRAME_STEP = 200, 80  # 25 ms windows every 10 ms.
FFT_LENGTH, MEL_BINS, NUM_MFCC = 256, 26, 13
TRAIN_VOICES = ("awb", "rms", "slt")
TEST_VOICE = "kal16"
# flite's speaking rate is varied per sentence (its `duration_stretch`), since the voices all read at one speed.
STRETCHES = (0.85, 0.95, 1.0, 1.1, 1.25)
MIN_WORDS, MAX_WORDS = 4, 20
ASTERISK_SOUNDS = pathlib.Path("/usr/share/asterisk/sounds/en")
ASTERISK_TEXT = pathlib.Path("/usr/share/doc/asterisk-core-sounds-en/core-sounds-en.txt.gz")

_DESCRIPTION = f"""\
Framewise phone classification, the test the article's first claim is about:
English sentences as 39-dim frames (13 MFCCs from 26 mel bands at 8 kHz, 25 ms
windows every 10 ms, each coefficient normalised to mean 0 and variance 1 over
its sentence, with deltas and delta-deltas over +-2 frames), each frame
labelled with the phone it falls in: the 39 phones of CMUdict without stress and
`sil`. Built offline from Debian packages and one PyPI package.

Text: sentences of 4-20 words, letters and ,;:'- only, from the standard
library's docstrings (read with `ast` from its source files, never imported)
and pydoc's help topics, deduplicated, split 80/10/10 into train / validation
/ test by a salted SHA-256 hash of the sentence, so no sentence is in two
splits. The text follows the Python version (3.11 here).

Speech of train / validation / test: synthesised by `flite` (Debian; CMU,
BSD-like licence), which prints each phone with its end time, so the labels
are exact. Train and validation sentences are each read by one of the voices
{", ".join(TRAIN_VOICES)} (chosen by hash) at a speaking rate drawn from
{STRETCHES}; the test sentences are read by `{TEST_VOICE}`, a speaker absent
from train and validation. All audio is cut to 8 kHz (windowed-sinc low-pass).

`test_real`: real speech of one professional speaker absent from the other
splits, the prompts of Asterisk's core sounds (`asterisk-core-sounds-en-wav`,
CC-BY-SA-3.0, 8 kHz) with their transcripts (`asterisk-core-sounds-en`), digits
spelled out, aligned to phones by pocketsphinx's forced alignment (PyPI
`pocketsphinx`, BSD, its bundled en-us model and dictionary). Prompts with a
word outside that dictionary or that fail to align are left out. Those labels
are the aligner's, not the truth: against flite's exact timings the aligner
agrees on about 86% of frames (datasets/README.md), which bounds what any model
can score on this split.
"""

_CITATION = """\
@inproceedings{flite,
    author = {Alan W Black and Kevin A Lenzo},
    title = {Flite: a small fast run-time synthesis engine},
    booktitle = {4th ISCA Tutorial and Research Workshop on Speech Synthesis},
    year = {2001},
}
"""


class MissingProgramError(_common.MissingPackageError):
    """A Debian package the builder needs is not installed."""


def docstring_texts() -> List[str]:
    """The docstrings of the standard library's modules, classes and functions, and pydoc's help topics."""
    from pydoc_data import topics

    library = pathlib.Path(sysconfig.get_paths()["stdlib"])
    texts = list(topics.topics.values())
    for path in sorted(library.glob("*.py")):
        try:
            tree = ast.parse(path.read_text(encoding="utf-8"))
        except (SyntaxError, UnicodeDecodeError, OSError):
            continue
        for node in ast.walk(tree):
            if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
                texts.append(ast.get_docstring(node) or "")
    return texts


def sentences(texts: Sequence[str]) -> List[str]:
    """Sorted unique sentences of MIN_WORDS..MAX_WORDS words with only letters and ,;:'- between them."""
    found = set()
    for text in texts:
        for sentence in re.split(r"(?<=[.!?])\s+", re.sub(r"\s+", " ", text)):
            if re.fullmatch(r"[A-Z][A-Za-z ,;:'\-]*[.!?]", sentence) and MIN_WORDS <= len(sentence.split()) <= MAX_WORDS:
                found.add(sentence)
    return sorted(found)


def pick(sentence: str, choices: Sequence, salt: str):
    """One of `choices` for a sentence, the same on every machine (by hash, not by Python's `hash`)."""
    return choices[int(_common._hash_key(salt, sentence), 16) % len(choices)]


def _lowpass(rate_factor: int, taps: int = 63) -> np.ndarray:
    """A Hamming-windowed sinc low-pass at 1 / rate_factor of the Nyquist frequency, unit gain at 0 Hz."""
    n = np.arange(taps) - (taps - 1) / 2
    kernel = np.sinc(n / rate_factor) * np.hamming(taps)
    return kernel / kernel.sum()


def halve_rate(samples: np.ndarray) -> np.ndarray:
    """16 kHz -> 8 kHz: low-pass below 4 kHz, then every second sample."""
    return np.convolve(samples, _lowpass(2), mode="same")[::2].astype(np.float32)


def double_rate(samples: np.ndarray) -> np.ndarray:
    """8 kHz -> 16 kHz: a zero between samples, then the same low-pass (gain 2 for the zeros)."""
    stuffed = np.zeros(2 * len(samples), dtype=np.float64)
    stuffed[::2] = samples
    return (2 * np.convolve(stuffed, _lowpass(2), mode="same")).astype(np.float32)


def read_wav(path: pathlib.Path) -> Tuple[np.ndarray, int]:
    """A 16-bit mono WAV file as float32 samples in [-1, 1) and its sample rate."""
    with wave.open(str(path)) as file:
        if file.getsampwidth() != 2 or file.getnchannels() != 1:
            raise ValueError(f"{path}: expected 16-bit mono WAV, got {file.getsampwidth() * 8}-bit, "
                             f"{file.getnchannels()} channels.")
        rate = file.getframerate()
        samples = np.frombuffer(file.readframes(file.getnframes()), dtype="<i2")
    return samples.astype(np.float32) / 32768.0, rate


def to_8k(samples: np.ndarray, rate: int, source: str) -> np.ndarray:
    if rate == 16000:
        return halve_rate(samples)
    if rate == SAMPLE_RATE:
        return samples
    raise ValueError(f"{source}: sample rate {rate} Hz; expected 8000 or 16000.")


def flite_program() -> str:
    program = shutil.which("flite")
    if program is None:
        raise MissingProgramError(f"phone_frames needs the speech synthesiser flite, which is not installed; run: "
                                  f"sudo {APT_COMMAND}")
    return program


def synthesize(sentence: str, voice: str, stretch: float, folder: str) -> Tuple[np.ndarray, List[Tuple[str, float]]]:
    """Reads a sentence with flite.

    Returns:
        `(samples, phones)`: float32 samples at 8 kHz and `[(phone, end time in seconds), ...]` in PHONES' names.
    """
    handle, name = tempfile.mkstemp(suffix=".wav", dir=folder)
    os.close(handle)
    path = pathlib.Path(name)
    result = subprocess.run(
        [flite_program(), "-voice", voice, "--setf", f"duration_stretch={stretch}", "-psdur", "-t", sentence,
         "-o", str(path)],
        capture_output=True, text=True,
    )
    if result.returncode != 0 or path.stat().st_size == 0:
        path.unlink()
        raise RuntimeError(f"flite -voice {voice} failed on {sentence!r}: {result.stderr.strip()}")
    samples, rate = read_wav(path)
    path.unlink()
    phones = []
    for item in result.stdout.split():
        name, end = item.rsplit(":", 1)
        phones.append((PHONE_ALIASES.get(name, name), float(end)))
    return to_8k(samples, rate, f"flite -voice {voice}"), phones


@functools.cache
def _mel_filters():
    """(FFT_LENGTH // 2 + 1, MEL_BINS): the same for every sentence, so made once."""
    import tensorflow as tf

    return tf.signal.linear_to_mel_weight_matrix(MEL_BINS, FFT_LENGTH // 2 + 1, SAMPLE_RATE, 20.0, SAMPLE_RATE / 2)


def mfcc(samples: np.ndarray) -> np.ndarray:
    """(num_samples,) at 8 kHz -> (num_frames, 13) MFCCs (c0 first), num_frames = 1 + (num_samples - 200) // 80."""
    import tensorflow as tf

    emphasised = np.append(samples[:1], samples[1:] - 0.97 * samples[:-1])
    spectrum = tf.abs(tf.signal.stft(emphasised, FRAME_LENGTH, FRAME_STEP, FFT_LENGTH,
                                     window_fn=tf.signal.hamming_window)) ** 2
    mel = tf.matmul(spectrum, _mel_filters())
    return tf.signal.mfccs_from_log_mel_spectrograms(tf.math.log(mel + 1e-6))[:, :NUM_MFCC].numpy()


def frame_labels(phones: Sequence[Tuple[str, float]], num_frames: int) -> np.ndarray:
    """The phone at each frame's centre, from `[(phone, end time), ...]`; frames past the last end keep the last phone."""
    centres = (np.arange(num_frames) * FRAME_STEP + FRAME_LENGTH / 2) / SAMPLE_RATE
    ends = np.array([end for _, end in phones])
    indices = np.minimum(np.searchsorted(ends, centres, side="right"), len(phones) - 1)
    names = [phones[i][0] for i in indices]
    unknown = sorted(set(names) - set(PHONES))
    if unknown:
        raise ValueError(f"Phones {unknown} are not in the 40 labels {PHONES}; map them in PHONE_ALIASES.")
    return np.array([PHONES.index(name) for name in names], dtype=np.int64)


def normalise(mfcc_frames: np.ndarray) -> np.ndarray:
    """Per-sentence cepstral mean and variance normalisation: each coefficient to mean 0, variance 1.

    A voice's or a telephone line's fixed colouring is an offset in every frame's cepstrum; removing it per
    sentence is what recognisers do so that a model trained on some voices can label another.
    """
    return (mfcc_frames - mfcc_frames.mean(axis=0)) / np.maximum(mfcc_frames.std(axis=0), 1e-6)


def example(samples: np.ndarray, phones: Sequence[Tuple[str, float]]) -> Dict[str, np.ndarray]:
    features = add_deltas(normalise(mfcc(samples)).astype(np.float32))
    return {"features": features, "labels": frame_labels(phones, len(features))}


def spoken_text(text: str) -> Optional[str]:
    """A prompt's transcript as the words spoken, lowercase: digits spelled out, punctuation dropped.

    Returns None for a description such as "[ascending tones]" rather than words.
    """
    from num2words import num2words

    if "[" in text:
        return None
    text = re.sub(r"\d+", lambda match: " " + num2words(int(match.group())) + " ", text)
    words = re.sub(r"[^a-z' ]", " ", text.lower().replace("-", " ")).split()
    return " ".join(word.strip("'") for word in words) or None


def asterisk_prompts(sounds: pathlib.Path = ASTERISK_SOUNDS, transcripts: pathlib.Path = ASTERISK_TEXT
                     ) -> List[Tuple[str, pathlib.Path, str]]:
    """`[(name, wav path, spoken text)]` for every prompt with words and a WAV file, sorted by name."""
    if not transcripts.exists() or not sounds.is_dir():
        raise MissingProgramError(f"phone_frames' test_real split needs Asterisk's prompts ({sounds}, {transcripts}), "
                                  f"which are not installed; run: sudo {APT_COMMAND}")
    prompts = []
    with gzip.open(transcripts, "rt", encoding="utf-8", errors="replace") as file:
        for line in file:
            name, separator, text = line.partition(":")
            spoken = spoken_text(text) if separator and not line.startswith(";") else None
            path = sounds / f"{name.strip()}.wav"
            if spoken and path.exists():
                prompts.append((name.strip(), path, spoken))
    return sorted(prompts)


def decode(decoder, audio: bytes) -> None:
    decoder.start_utt()
    decoder.process_raw(audio, full_utt=True)
    decoder.end_utt()


def align(decoder, samples_16k: np.ndarray, text: str) -> Optional[List[Tuple[str, float]]]:
    """Forced alignment with pocketsphinx: `[(phone, end time in seconds)]`, or None when it fails."""
    audio = (np.clip(samples_16k, -1.0, 1.0 - 1 / 32768) * 32768).astype("<i2").tobytes()
    try:
        decoder.set_align_text(text)
    except (RuntimeError, KeyError, ValueError):  # A word outside the dictionary.
        return None
    # The first pass finds the words, the second their phones.
    decode(decoder, audio)
    if decoder.hyp() is None:
        return None
    decoder.set_alignment()
    decode(decoder, audio)
    alignment = decoder.get_alignment()
    if alignment is None:
        return None
    phones = [(PHONE_ALIASES.get(p.name.lower(), p.name.lower()), (p.start + p.duration) / 100)
              for p in alignment.phones()]
    return phones or None


def real_examples(prompts) -> Iterator[Tuple[str, Dict[str, np.ndarray]]]:
    pocketsphinx = _common.require_module("pocketsphinx", PIP_COMMAND)
    decoder = pocketsphinx.Decoder(samprate=16000, bestpath=False, loglevel="FATAL")
    for name, path, text in prompts:
        samples, rate = read_wav(path)
        samples = to_8k(samples, rate, str(path))
        phones = align(decoder, double_rate(samples), text)
        if phones is not None:
            yield name, example(samples, phones)


def synthetic_examples(split_sentences: Sequence[str], voices: Sequence[str]
                       ) -> Iterator[Tuple[str, Dict[str, np.ndarray]]]:
    """One example per sentence, read by a voice and at a rate picked by hash; flite runs on every core."""
    flite_program()
    with tempfile.TemporaryDirectory(prefix="phone_frames-") as folder:
        def read(sentence):
            return synthesize(sentence, pick(sentence, voices, "voice"), pick(sentence, STRETCHES, "stretch"), folder)

        with concurrent.futures.ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
            for sentence, (samples, phones) in zip(split_sentences, pool.map(read, split_sentences)):
                yield sentence, example(samples, phones)


class Builder(_common.OfflineBuilderMixin, tfds.core.GeneratorBasedBuilder):
    """Sentences synthesised by flite (exact phone timings) and real prompts aligned by pocketsphinx."""

    VERSION = tfds.core.Version("1.0.0")
    RELEASE_NOTES = {
        "1.0.0": "Initial release: 8 kHz, 39-dim frames, 40 phone labels, test voice and real speaker held out.",
    }

    def _info(self) -> tfds.core.DatasetInfo:
        return self.dataset_info_from_configs(
            description=_DESCRIPTION,
            features=tfds.features.FeaturesDict(
                {
                    "features": tfds.features.Tensor(shape=(None, 3 * NUM_MFCC), dtype=np.float32),
                    "labels": tfds.features.Sequence(tfds.features.ClassLabel(names=PHONES)),
                }
            ),
            supervised_keys=("features", "labels"),
            homepage="http://www.festvox.org/flite/",
            citation=_CITATION,
            license="flite voices: BSD-like (CMU); Asterisk core sounds: CC-BY-SA-3.0; text: PSF licence",
        )

    def _split_generators(self, dl_manager: tfds.download.DownloadManager):
        del dl_manager  # The data comes from installed packages.
        flite_program()
        prompts = asterisk_prompts()
        _common.require_module("pocketsphinx", PIP_COMMAND)
        splits = _common.assign_splits(sentences(docstring_texts()), salt=self.name)
        return {
            "train": self._generate_examples(synthetic_examples(splits["train"], TRAIN_VOICES)),
            "validation": self._generate_examples(synthetic_examples(splits["validation"], TRAIN_VOICES)),
            "test": self._generate_examples(synthetic_examples(splits["test"], (TEST_VOICE,))),
            "test_real": self._generate_examples(real_examples(prompts)),
        }

    def _generate_examples(self, examples):
        yield from examples
