"""Runnable examples of the SDK (python -m codeact.examples.<name>)."""
