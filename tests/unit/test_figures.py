import numpy as np
import pandas as pd
import pytest

from brainlatent.errors import DataError
from brainlatent.evaluation import METRIC_COLUMNS
from brainlatent.figures.meg import plot_retrieval, plot_timecourse
from brainlatent.figures.style import save_figure


def metrics(windows):
    rows = []
    for subject in ("A", "B"):
        for model in ("hog", "fft"):
            for decoder in ("ridge",) if windows else ("ridge", "brain_module"):
                for start in np.arange(-0.5, 0.8, 0.1) if windows else [np.nan]:
                    for metric, value in (("top5", 0.5), ("top1", 0.2)):
                        rows.append(
                            [
                                "things_meg",
                                subject,
                                decoder,
                                model,
                                start,
                                start + 0.25,
                                metric,
                                value,
                                0.05,
                                100,
                                "cpu",
                                "small",
                            ]
                        )
    return pd.DataFrame(rows, columns=METRIC_COLUMNS)


@pytest.mark.parametrize("plot, windows", [(plot_retrieval, False), (plot_timecourse, True)])
def test_figures_are_written(tmp_path, plot, windows):
    fig = plot(metrics(windows))
    save_figure(fig, tmp_path / "f.pdf", tmp_path / "f.png")
    assert (tmp_path / "f.pdf").read_bytes()[:4] == b"%PDF"
    assert (tmp_path / "f.png").read_bytes()[:4] == b"\x89PNG"


def test_missing_metric_names_the_table():
    with pytest.raises(DataError, match="retrieval.parquet: no rows with metric 'top10'"):
        plot_retrieval(metrics(False), "top10", source="retrieval.parquet")


def test_style_selects_agg_and_save_figure_closes_the_figure(tmp_path):
    import matplotlib
    import matplotlib.pyplot as plt

    from brainlatent.figures import calcium, recording, style

    assert matplotlib.get_backend().lower() == "agg"
    assert calcium.METHOD_LABELS is recording.METHOD_LABELS is style.METHOD_LABELS
    fig = plot_retrieval(metrics(False))
    save_figure(fig, tmp_path / "f.pdf", tmp_path / "f.png")
    assert not plt.fignum_exists(fig.number)


@pytest.mark.parametrize("with_title", [True, False])
def test_a_note_goes_into_the_suptitle(tmp_path, with_title):
    """The simulated-data note: a line under the figure's title, or the title itself."""
    import matplotlib.pyplot as plt

    note = "Simulated data: MEG in the layout of OpenNeuro ds004212"
    if with_title:
        fig = plot_retrieval(metrics(False))
        title = fig.get_suptitle()
        assert title
    else:
        fig, _ = plt.subplots()
    shown = []
    fig.canvas.mpl_connect("draw_event", lambda event: shown.append(fig.get_suptitle()))
    save_figure(fig, tmp_path / "a.pdf", tmp_path / "a.png", note=note)
    assert shown and shown[-1] == (f"{title}\n{note}" if with_title else note)
