"""What the flows' samples share: names and goods to draw from, prices, a runner."""

from __future__ import annotations

import random
from collections.abc import Callable
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from .._events import Event
from .._money import Money

if TYPE_CHECKING:
    from ..store import Repository

__all__ = ["GOODS", "NAMES", "price", "runner"]

NAMES = ("Li Lei", "Han Meimei", "Wang Fang", "Zhang Wei", "Liu Yang", "Chen Jie")
"""Customers' names a simulation draws from."""

GOODS = ("green tea", "silk scarf", "electric kettle", "rice cooker", "porcelain bowl")
"""Goods a simulation draws from."""


def runner(repo: Repository, tx_id: str) -> Callable[..., tuple[Event, ...]]:
    """Return ``run(trigger, **kwargs)`` that executes ``trigger`` on ``tx_id`` through ``repo``."""

    def run(trigger: str, **kwargs: Any) -> tuple[Event, ...]:
        return repo.execute(tx_id, trigger, **kwargs)

    return run


def price(rng: random.Random, low: int = 5, high: int = 500) -> Money:
    """Return a random CNY price between ``low`` and ``high`` yuan, to the fen."""
    return Money(Decimal(rng.randint(low * 100, high * 100)).scaleb(-2), "CNY")
