"""Renders every table of preset numbers from the cards (presets/*/card.json), so no number is typed twice.

    python presets/render.py           # rewrites README.md's table, docs/presets.md and presets/*/README.md
    python presets/render.py --check   # exits 1, naming the file, when one differs from its rendering

README.md's table sits between the two marker lines below; tests/test_presets.py
fails when it differs from the rendering.
"""

import argparse
import json
import pathlib
import sys

ROOT = pathlib.Path(__file__).resolve().parents[1]
PRESETS = ROOT / "presets"
START, END = "<!-- presets table: rendered by presets/render.py -->", "<!-- end of presets table -->"
# An int8 file is one scale per column (presets/make.py), which only zoo.presets.load_keras_model dequantizes.
INT8_NOTE = " by `zoo.from_preset` and `evaluate.py`; plain Keras refuses it"
# The order of zoo.models.MODELS, without importing TensorFlow.
ORDER = ["sentiment", "framewise", "dense_birnn_dense", "window_ffn", "seq2seq", "g2p", "char_lm"]
NAMES = {
    "accuracy": "accuracy",
    "frame_accuracy": "frame accuracy",
    "exact_match": "exact match",
    "bleu": "BLEU",
    "word_error_rate": "WER",
    "phoneme_error_rate": "PER",
    "bits_per_character": "bits/char",
    "perplexity": "perplexity",
}


def number(metric, value, extra_digits=0):
    """`value` as the tables show `metric`; `extra_digits` more where float16 and float32 stand side by side."""
    if value is None:
        return "-"
    if metric in ("word_error_rate", "phoneme_error_rate"):
        return f"{100 * value:.{1 + extra_digits}f}%"
    if metric in ("bits_per_character", "perplexity"):
        return f"{value:.{2 + extra_digits}f}"
    return f"{value:.{3 + extra_digits}f}"


def tolerance(metric, value):
    if metric in ("word_error_rate", "phoneme_error_rate"):
        return f"±{100 * value:g} points"
    return f"±{value:g}"


def cards():
    found = {path.parent.name: json.loads(path.read_text()) for path in PRESETS.glob("*/card.json")}
    return [found[name] for name in ORDER if name in found]


def duration(seconds):
    minutes, seconds = divmod(round(seconds), 60)
    return f"{minutes} min {seconds} s" if minutes else f"{seconds} s"


def headline(card, bold=True):
    """`WER **33.0%**, PER 8.8%`: every metric of the card, the first in bold."""
    parts = []
    for index, (metric, entry) in enumerate(card["metrics"].items()):
        value = number(metric, entry["value"])
        parts.append(f"{NAMES[metric]} **{value}**" if index == 0 and bold else f"{NAMES[metric]} {value}")
    return ", ".join(parts)


def baseline(card):
    metric, entry = next(iter(card["metrics"].items()))
    return f"{NAMES[metric]} {number(metric, entry['trivial_baseline'])}"


def epochs(card):
    """`12`, or an ensemble's `12 + 12` (a card's epochs are a list of its members')."""
    return " + ".join(map(str, card["epochs"])) if isinstance(card["epochs"], list) else str(card["epochs"])


def epochs_kept(card):
    if isinstance(card["epochs"], list):
        return (f"members of {' and '.join(map(str, card['epochs']))} epochs (the weights of epochs "
                f"{' and '.join(map(str, card['best_epoch']))}, each member's best validation loss, kept)")
    return f"{card['epochs']} epochs (the weights of epoch {card['best_epoch']}, the best validation loss, kept)"


def readme_table(all_cards):
    lines = [
        START,
        "| preset | dataset | test metrics | trivial baseline | parameters | file | trained in |",
        "|---|---|---|---|---:|---:|---:|",
    ]
    for card in all_cards:
        lines.append(
            f"| [`{card['name']}`](presets/{card['name']}/README.md) | {card['dataset']} | {headline(card)} | "
            f"{baseline(card)} | {card['parameters']:,} | {card['file_bytes'] / 1e6:.2f} MB | "
            f"{duration(card['wall_seconds'])} |"
        )
    total = sum(card["file_bytes"] for card in all_cards)
    lines += ["", f"All presets together: {total / 1e6:.1f} MB of weights.", END]
    return "\n".join(lines)


def docs_page(all_cards):
    lines = [
        "# Presets: the numbers of every shipped model",
        "",
        "Rendered from presets/*/card.json by `python presets/render.py`; do not edit by hand.",
        "Each preset is the command on its card, `python train.py --model NAME` or it with longer training or more",
        "units, or (g2p) two such runs joined by `ensemble.py`, on its default dataset's training split, scored on",
        "the test split. `tests/test_presets.py`",
        "loads each, checks its sha256 and scores it again within the tolerance below.",
        "A preset folder holds model.keras (no optimizer state; its weights in the smallest of int8, float16 and",
        "float32 that scores within the tolerance of the float32 model; int8 is one scale per column, dequantized",
        "by `zoo.from_preset`), config.json, history.csv (an ensemble's members' epochs are on its card), card.json",
        "and the card rendered as README.md. To retrain",
        "one, when its recipe changes:",
        "",
        "```bash",
        "python train.py --model NAME --out /tmp/NAME",
        "python presets/make.py /tmp/NAME     # writes presets/NAME and pins its sha256 in zoo/presets.py",
        "python presets/render.py             # README's table, this page and the cards' pages",
        "```",
        "",
        "| preset | metric | preset file | float32 before storing | tolerance | trivial baseline | how it is scored |",
        "|---|---|---:|---:|---:|---:|---|",
    ]
    for card in all_cards:
        for metric, entry in card["metrics"].items():
            lines.append(
                f"| `{card['name']}` | {NAMES[metric]} | {number(metric, entry['value'], 2)} | "
                f"{number(metric, entry['float32'], 2)} | {tolerance(metric, entry['tolerance'])} | "
                f"{number(metric, entry['trivial_baseline'])} | {entry['scored']} |"
            )
    lines += [
        "",
        "| preset | weights | file | parameters | epochs | training | whole command | commit | data license | weights' terms |",
        "|---|---|---:|---:|---:|---:|---:|---|---|---|",
    ]
    for card in all_cards:
        lines.append(
            f"| `{card['name']}` | {card['weights_dtype']} | {card['file_bytes']:,} B | {card['parameters']:,} | "
            f"{epochs(card)} | {duration(card['training_seconds'])} | {duration(card['wall_seconds'])} | "
            f"{card['commit']} | {card['data_license']} | {card['weights_license']} |"
        )
    return "\n".join(lines) + "\n"


def card_page(card):
    splits = card["split_sizes"]
    versions = ", ".join(f"{name} {version}" for name, version in card["versions"].items())
    lines = [
        f"# Preset `{card['name']}`",
        "",
        "Rendered from card.json by `python presets/render.py`; do not edit by hand.",
        "",
        f"- **Model:** {card['description']}; {card['parameters']:,} parameters.",
        f"- **Data:** {card['data']}. Train {splits['train']:,} / validation {splits['validation']:,} / "
        f"test {splits['test']:,} {splits['unit']}. Trained on the training split; the validation split chose "
        "the epoch kept; the numbers below are the test split's.",
        "- **Metrics** (of the shipped file, with the float32 model before storing and the trivial baseline):",
    ]
    for metric, entry in card["metrics"].items():
        lines.append(
            f"  - {NAMES[metric]} {number(metric, entry['value'], 2)} (float32 {number(metric, entry['float32'], 2)}; "
            f"trivial baseline {number(metric, entry['trivial_baseline'])}; reproduced within {tolerance(metric, entry['tolerance'])} "
            f"by tests/test_presets.py): {entry['scored']}."
        )
    lines += [
        f"- **Use:** `python evaluate.py {card['name']} --json` scores it; `python evaluate.py {card['name']} "
        "--input ...` runs it; `zoo.from_preset(\"" + card["name"] + "\")` loads it in Python.",
        f"- **Trained by:** `{card['command']}` at commit {card['commit']}, started {card['trained']}, "
        f"{epochs_kept(card)}: {duration(card['training_seconds'])} of training, "
        f"{duration(card['wall_seconds'])} for the whole command, on {card['machine']}.",
        *([f"- **Note:** {card['note']}."] if card.get("note") else []),
        f"- **Retrained:** {card['retrain']}.",
        f"- **File:** model.keras, {card['file_bytes']:,} bytes, {card['weights_dtype']} weights (loaded as "
        f"float32{INT8_NOTE if card['weights_dtype'] == 'int8' else ''}), no optimizer state; its sha256 is pinned in "
        "zoo/presets.py and checked at every load.",
        f"- **Versions:** {versions}.",
        f"- **Licenses:** data: {card['data_license']}. Weights: {card['weights_license']}.",
    ]
    return "\n".join(lines) + "\n"


def with_table(readme, table):
    """README text with the block between START and END replaced by `table`."""
    if START not in readme or END not in readme:
        raise ValueError(f"README.md lacks the marker lines {START!r} and {END!r}: put them where the table goes.")
    before, rest = readme.split(START, 1)
    _, after = rest.split(END, 1)
    return before + table + after


def renderings():
    """{path: its rendered text} for every file this script writes."""
    all_cards = cards()
    readme = ROOT / "README.md"
    files = {
        readme: with_table(readme.read_text(encoding="utf-8"), readme_table(all_cards)),
        ROOT / "docs" / "presets.md": docs_page(all_cards),
    }
    for card in all_cards:
        files[PRESETS / card["name"] / "README.md"] = card_page(card)
    return files


def main(argv=None):
    arguments = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    arguments.add_argument("--check", action="store_true", help="compare instead of writing; exit 1 on a difference")
    args = arguments.parse_args(argv)
    stale = []
    for path, text in renderings().items():
        current = path.read_text(encoding="utf-8") if path.exists() else None
        if current != text:
            stale.append(path)
            if not args.check:
                path.write_text(text, encoding="utf-8")
    if args.check and stale:
        names = ", ".join(str(path.relative_to(ROOT)) for path in stale)
        print(f"{names} differ from the cards' rendering: run `python presets/render.py`.", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
