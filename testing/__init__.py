"""Scripted worlds shared by the test suite, the benchmarks and users testing their own programs.

`refiner_world`: a `ScriptedEngine` world where guidelines decide success (the Refiner's and the DSPy
optimizers' tests, `benchmarks/compile_cost.py`, `benchmarks/personas.py`). `solutions`: reference solutions
of code records. Nothing here calls a real model.
"""
