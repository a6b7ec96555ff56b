"""What the experiments' tests share: reading their CSVs and checking their plots."""

import csv

from matplotlib import image


def read_csv(path):
    with open(path, newline="") as file:
        return list(csv.DictReader(file))


def assert_png(path, min_pixels=200):
    """A real PNG picture, not an empty or truncated file."""
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", path
    height, width = image.imread(path).shape[:2]
    assert height >= min_pixels and width >= min_pixels, (path, height, width)
