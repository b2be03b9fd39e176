"""aircast's dev kit: the local service stack, the demo, the OpenAQ-compatible server and its
synthetic data, and the README's configuration table. Never installed in an image."""

__version__ = "0.1.0"
