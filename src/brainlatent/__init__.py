"""brainlatent: reproduce brain-decoding results from public data, end to end."""

from brainlatent.errors import ConfigError, DataError

__version__ = "0.1.0"
__all__ = ["ConfigError", "DataError", "__version__"]
