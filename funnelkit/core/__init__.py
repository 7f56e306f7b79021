"""The engine-neutral core: each computation written once, against narwhals lazy frames.

Its frames hold ``contact_id``, ``event``, the property columns and ``_ts``
(``occurred_at`` as epoch microseconds, UTC); turning a polars, DuckDB or
Spark frame into one is the only step written per engine
(:func:`funnelkit.engine_frames.core_events`).  :mod:`funnelkit.core.classify`
is the classification, :mod:`funnelkit.core.chains` the chain rule and the
funnel's counts; :mod:`funnelkit.core.accelerators` lists the faster
implementations of one engine (the polars sort-key kernel of the chains),
each tested equal to the core.
"""
