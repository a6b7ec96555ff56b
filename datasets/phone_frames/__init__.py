"""`phone_frames`: English speech with a phone label on every frame (see the builder's description)."""

from datasets.phone_frames.phone_frames_dataset_builder import Builder  # noqa: F401
