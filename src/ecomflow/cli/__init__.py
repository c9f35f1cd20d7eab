"""The ``ecomflow`` command: list, show, demo, simulate, ls, events, replay.

:func:`main` runs it (the ``ecomflow`` console script, ``python -m ecomflow``); the
commands live in :mod:`ecomflow.cli.main`. Demo and simulate drive each flow with the
:class:`~ecomflow.flows.Sample` its package declares, plug-ins included.
"""

from .main import main

__all__ = ["main"]
