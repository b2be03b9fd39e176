"""aircast: air-quality forecasting from OpenAQ measurements."""

__version__ = "0.1.0"
