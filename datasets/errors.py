"""The one error type the data layer raises for bad user input."""


class DatasetError(ValueError):
    """A dataset cannot be loaded; the one-line message says why and how to fix it."""
