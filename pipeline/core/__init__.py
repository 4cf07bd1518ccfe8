"""Core: what every layer uses and which uses nothing of the project.

:mod:`~pipeline.core.paths` (the project's folders), :mod:`~pipeline.core.io`
(atomic, byte-reproducible writes), :mod:`~pipeline.core.exceptions` (the
warning and error classes), :mod:`~pipeline.core.names` (the one name rule),
:mod:`~pipeline.core.parallel` (seeded draws on processes or Dask).  Import
them from their modules; this package imports nothing, so ``import
pipeline.core.exceptions`` stays cheap.
"""
