"""`cmudict_g2p`: CMUdict grapheme-to-phoneme pairs."""

from datasets.cmudict_g2p.cmudict_g2p_dataset_builder import Builder, CmudictConfig
