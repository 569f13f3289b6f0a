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
                                value - 0.1,
                                value + 0.1,
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
    assert shown
    if with_title:  # the note's line may be wrapped to the figure's width
        top, rest = shown[-1].split("\n", 1)
        assert top == title and rest.replace("\n", " ") == note
    else:
        assert shown[-1].replace("\n", " ") == note


@pytest.mark.parametrize("with_title", [True, False])
def test_a_long_note_is_wrapped_inside_a_narrow_figure(tmp_path, with_title):
    """The calcium decoding figure is one 4.2-inch panel: its note (110 characters at the
    title's 9 pt) ran off both edges of the PNG; wrapped, every line is inside."""
    import matplotlib.pyplot as plt

    note = (
        "Simulated data: two-photon calcium imaging in the layout of DANDI 000728, "
        "written by the embedded simulator"
    )
    fig, _ = plt.subplots(figsize=(4.2, 3.2), layout="constrained")
    if with_title:
        fig.suptitle("Movie frame decoded within 1 s", fontsize=9)
    boxes = []

    def measure(event):
        box = fig.get_suptitle() and fig._suptitle.get_window_extent(event.renderer)
        boxes.append((box, fig.bbox.frozen()))  # at the saved file's dpi

    fig.canvas.mpl_connect("draw_event", measure)
    save_figure(fig, tmp_path / "n.pdf", tmp_path / "n.png", note=note)
    box, frame = boxes[-1]
    assert frame.x0 <= box.x0 and box.x1 <= frame.x1, (box, frame)
