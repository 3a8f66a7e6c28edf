"""Subcommands of the `intent-mediator` console script, one module each."""
