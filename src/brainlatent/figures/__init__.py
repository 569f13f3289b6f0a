"""Figures drawn from the workflow's result tables; shared helpers in :mod:`.style`."""

from brainlatent.figures import style  # noqa: F401  (selects the Agg backend before pyplot)
