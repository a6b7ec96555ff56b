"""Scripts that measure the article's claims; each writes a CSV and plots under experiments/results/."""
