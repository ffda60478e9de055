"""The stream plot reads on its own: axes labelled, truth and detections in lanes of their own (a one-sample
incident still visible), scores above the line that raised no incident marked and named."""

import numpy as np
import pytest

pytest.importorskip("matplotlib")

from edge_lstm.evaluate.plots import MIN_SPAN, figure


def test_the_plot_names_its_axes_and_marks_what_a_reader_would_otherwise_take_for_a_bug():
    ts = 1.7e9 + np.arange(1000) * 60.0
    value = np.sin(np.arange(1000) / 20)
    score = np.full(1000, 0.2)
    score[[300, 700]] = 0.9  # the first raised an incident of one sample; the second none (a load change)
    upper = value + 0.1
    upper[700:] += 100.0  # an interval a fault widened
    fig = figure("s", ts, value, lower=value - 0.1, upper=upper, score=score, threshold=0.5,
                 incidents=[(ts[300], ts[300])], windows=[(ts[280], ts[320])])
    top, middle, bottom = fig.axes
    assert top.get_ylabel() and middle.get_ylabel() and bottom.get_xlabel() == "time (UTC)"
    assert top.get_ylim()[1] < 5, "the signal, not a widened interval, sets the scale"
    unraised = [text.get_text() for text in middle.get_legend().get_texts() if "no incident" in text.get_text()]
    assert unraised, "a score above the line without an incident is marked"
    marks = [c.get_offsets() for c in middle.collections if len(c.get_offsets())]
    assert [len(m) for m in marks] == [1], "only sample 700 is above the line outside an incident"
    lanes = [label.get_text() for label in bottom.get_yticklabels()]
    assert lanes == ["labelled", "detected"]
    widths = sorted(p.get_width() for p in bottom.patches)  # (axvspan: x in days since the epoch)
    assert len(widths) == 2 and widths[0] >= MIN_SPAN * (ts[-1] - ts[0]) / 86400 * 0.99
