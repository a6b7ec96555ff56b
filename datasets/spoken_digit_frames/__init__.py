"""`spoken_digit_frames`: frame-labelled connected spoken digits (FSDD MFCCs)."""

from datasets.spoken_digit_frames.spoken_digit_frames_dataset_builder import Builder
