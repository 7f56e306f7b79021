"""The engine-neutral core: each computation written once, against narwhals lazy frames.

Its frames hold ``contact_id``, ``event``, the property columns and ``_ts``
(``occurred_at`` as epoch microseconds, UTC); turning a polars, DuckDB or
Spark frame into one is the only step written per engine
(:mod:`funnelkit.stages` for polars, :mod:`funnelkit.engine_frames` for the
others).  :mod:`funnelkit.core.classify` is the classification.
"""
