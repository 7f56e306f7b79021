"""Plotly figures drawn from funnelkit's computed tables.

Every figure comes from a function that takes a computed result (or the tidy
table its ``to_polars()`` returns) and gives back a
:class:`plotly.graph_objects.Figure`.  Computing and drawing are kept apart: the
``*_table`` functions prepare exactly what is drawn (labels, colours,
percentages, the biggest leak) as a small polars frame that tests and reports
can read, and the ``*_figure`` functions only draw it.

One look for the whole kit
--------------------------
* Figures use the ``"funnelkit"`` plotly template (:data:`TEMPLATE`), registered
  when this module is imported.
* Each stage has one colour, chosen by its rank in the funnel
  (:func:`stage_colour`), so "client" (rank 4 in ``inbound``) is drawn in the
  same colour in the funnel, the trends, the flows and a contact's timeline.
* ``lang="fr"`` writes titles, axes and stage names in French: stage names come
  from the funnel definition's ``fr`` labels, numbers use a decimal comma.

==================================  ===========================================
figure                              drawn from
==================================  ===========================================
:func:`funnel_figure`               a funnel result (counts per step)
:func:`breakdown_figure`            a funnel result computed ``by=`` a column
:func:`conversion_over_time_figure` conversion per entry period
:func:`time_to_convert_figure`      a funnel's time to convert, or durations
:func:`cohort_figure`               cohort table (cumulative share by day)
:func:`flows_figure`                flows between two instants
:func:`compare_figure`              cross-table of two definitions
:func:`timeline_figure`             one contact's explanation
:func:`drivers_figure`              odds ratios of a drivers result
==================================  ===========================================

The figures live by subject in :mod:`funnelkit.figure_funnels`,
:mod:`funnelkit.figure_time` and :mod:`funnelkit.figure_stages`, on the look of
:mod:`funnelkit.figure_style` and the reading of results of
:mod:`funnelkit.figure_input`; this module gathers their public names.
"""

from __future__ import annotations

from funnelkit.figure_drivers import drivers_figure, drivers_table
from funnelkit.figure_funnels import (
    breakdown_figure,
    breakdown_table,
    funnel_figure,
    funnel_table,
)
from funnelkit.figure_input import contacts_without_events, stage_labels
from funnelkit.figure_stages import (
    compare_figure,
    compare_table,
    flows_figure,
    flows_table,
    timeline_figure,
    timeline_table,
)
from funnelkit.figure_style import (
    LANGS,
    LEAK_BASE,
    LEAK_COLOUR,
    STAGE_COLOURS,
    TEMPLATE,
    Lang,
    format_table,
    register_template,
    stage_colour,
    text,
    text_width,
)
from funnelkit.figure_time import (
    Histogram,
    Unit,
    cohort_figure,
    cohort_table,
    conversion_over_time_figure,
    conversion_over_time_table,
    time_to_convert_figure,
    time_to_convert_table,
)

__all__ = [
    "LANGS",
    "LEAK_BASE",
    "LEAK_COLOUR",
    "STAGE_COLOURS",
    "TEMPLATE",
    "Histogram",
    "Lang",
    "Unit",
    "breakdown_figure",
    "breakdown_table",
    "cohort_figure",
    "cohort_table",
    "compare_figure",
    "compare_table",
    "contacts_without_events",
    "conversion_over_time_figure",
    "conversion_over_time_table",
    "drivers_figure",
    "drivers_table",
    "flows_figure",
    "flows_table",
    "format_table",
    "funnel_figure",
    "funnel_table",
    "register_template",
    "stage_colour",
    "stage_labels",
    "text",
    "text_width",
    "time_to_convert_figure",
    "time_to_convert_table",
    "timeline_figure",
    "timeline_table",
]
