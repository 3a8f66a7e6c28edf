"""Optimizers that compile Mediator guidelines: the Refiner teleprompter and adapters for DSPy's own."""

from intent_mediator.optimizers.budget import BudgetExhausted, LMBudget
from intent_mediator.optimizers.refiner import Refiner, RefinerError

__all__ = ["BudgetExhausted", "LMBudget", "Refiner", "RefinerError"]
