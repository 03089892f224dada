"""The fixed layout of the map figures (netsolve.plot_layout): every text inside the figure,
no colour bar, legend, key or neighbouring panel's labels over a map, the title above the
panels; for 2D and 3D maps, square, wide and tall, with every decoration the figures have."""

from __future__ import annotations

import matplotlib
import matplotlib.figure
import numpy as np
import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.text import Text

from conftest import base_case, solve_dict, with_labels
from netsolve.plot import (plot_current_density, plot_electric_field, plot_gb_map,
                           plot_grain_map)
from netsolve.plot_layout import layout_of

GRAINS = [{"id": 1, "theta_deg": 0.0, "alpha_deg": 90.0},
          {"id": 2, "theta_deg": 60.0, "alpha_deg": 40.0},
          {"id": 3, "euler_deg": [10.0, 60.0, 0.0]}]


def _result(tmp_path, shape):
    labels = np.ones(shape, dtype=np.int32)
    labels[shape[0] // 2:] = 2
    labels[:, shape[1] * 2 // 3:] = 3
    labels[1:3, 1:3] = -1  # ZrO2 (no current)
    data = with_labels(base_case(shape, "tensor", gb_thickness_nm=1.0), labels, tmp_path,
                       phases={"zro2": -1}, grains=GRAINS)
    return solve_dict(data, tmp_path)


@pytest.fixture(scope="module", params=[(40, 30), (120, 20), (12, 60), (14, 10, 8)],
                ids=["2d", "wide", "tall", "3d"])
def result(request, tmp_path_factory):
    return _result(tmp_path_factory.mktemp("layout"), request.param)


FIGURES = [(plot_current_density, {}), (plot_current_density,
                                        {"contours": "potential", "streamlines": True}),
           (plot_electric_field, {}), (plot_grain_map, {}), (plot_gb_map, {})]


def _drawn(result, tmp_path, monkeypatch, plot, kwargs):
    """The figure a plot function saved (drawn at its dpi), with its renderer."""
    figures = []
    save = matplotlib.figure.Figure.savefig

    def spy(fig, *args, **kw):
        out = save(fig, *args, **kw)
        figures.append(fig)
        return out

    monkeypatch.setattr(matplotlib.figure.Figure, "savefig", spy)
    plot(result, tmp_path / "f.png", **kwargs)
    [fig] = figures
    canvas = FigureCanvasAgg(fig)  # (saving closed the figure: a canvas to measure on)
    canvas.draw()
    return fig, canvas.get_renderer()


def _inside(box, outer, tol=0.5) -> bool:
    return (box.x0 >= outer.x0 - tol and box.y0 >= outer.y0 - tol
            and box.x1 <= outer.x1 + tol and box.y1 <= outer.y1 + tol)


def _overlap(a, b, tol=0.5) -> bool:
    return (min(a.x1, b.x1) - max(a.x0, b.x0) > tol) and (min(a.y1, b.y1) - max(a.y0, b.y0) > tol)


def _texts(fig, renderer):
    """(text, window extent) of every drawn, non-empty text: titles, axis labels, tick labels
    of ticks inside the view, legend entries, the key's labels, grain ids (clipped to their
    axes: their clipped extent)."""
    out = []
    for text in fig.findobj(Text):
        if not text.get_visible() or not text.get_text().strip() or text.figure is None:
            continue
        tick_axis = next((axis for ax in fig.axes for axis in (ax.xaxis, ax.yaxis)
                          if text in axis.get_ticklabels(which="both")), None)
        if tick_axis is not None:
            low, high = sorted(tick_axis.get_view_interval())
            position = text.get_position()[0 if tick_axis.axis_name == "x" else 1]
            span = high - low
            if not low - 1e-9 * span <= position <= high + 1e-9 * span:
                continue  # not drawn
        box = text.get_window_extent(renderer)
        if text.get_clip_on() and text.axes is not None:
            box = box.intersection(box, text.axes.bbox) or box
            if not _overlap(box, text.axes.bbox, tol=0):
                continue  # clipped away entirely
        out.append((text, box))
    return out


@pytest.mark.parametrize("plot, kwargs", FIGURES,
                         ids=["j", "j-contours", "e", "grains", "gb"])
def test_every_text_is_inside_the_figure_and_nothing_covers_a_map(result, tmp_path, monkeypatch,
                                                                   plot, kwargs):
    fig, renderer = _drawn(result, tmp_path, monkeypatch, plot, kwargs)
    layout = layout_of(fig)
    assert layout is not None and layout.done
    page = fig.bbox
    texts = _texts(fig, renderer)
    assert len(texts) >= 8  # title, axis labels, tick labels, legend
    for text, box in texts:
        assert _inside(box, page), f"{text.get_text()!r} {box.bounds} outside {page.bounds}"
    maps = [ax.get_window_extent() for ax in layout.maps]
    assert all(box.width > 20 and box.height > 20 for box in maps)
    # Equal aspect kept exactly: the box is the map's shape (no shrink by apply_aspect).
    ratios = [box.width / box.height for box in maps]
    np.testing.assert_allclose(ratios, layout.ratios, rtol=1e-6)
    others = [b.cax for b in layout.bars] + [a for a in (layout.key_ax, layout.key_legend_ax)
                                             if a is not None]
    for ax in others:
        tight = ax.get_tightbbox(renderer)
        assert _inside(tight, page)
        for box in maps:
            assert not _overlap(tight, box), "a colour bar or the key over a map"
    assert len(layout.bars) == (0 if plot in (plot_grain_map, plot_gb_map)
                                else 2 if plot is plot_electric_field else 1)
    for k, ax in enumerate(layout.maps):  # a panel's labels never run into its neighbours
        tight = ax.get_tightbbox(renderer)
        assert _inside(tight, page)
        for j, box in enumerate(maps):
            if j != k:
                assert not _overlap(tight, box)
    for legend in fig.legends + [a.get_legend() for a in others if a.get_legend()]:
        box = legend.get_window_extent(renderer)
        assert _inside(box, page)
        for ax in layout.maps + [b.cax for b in layout.bars]:
            assert not _overlap(box, ax.get_tightbbox(renderer)), "the legend over an axes"
    title = fig._suptitle.get_window_extent(renderer)
    for ax in layout.maps + others:
        assert title.y0 >= ax.get_tightbbox(renderer).y1 - 0.5  # the title above everything
    if layout.bars and layout.bars[0].location == "right":
        bar = layout.bars[0].cax.get_window_extent()
        assert bar.x0 > max(box.x1 for box in maps)
        assert bar.height <= max(box.height for box in maps) + 0.5


def test_layout_runs_once_and_keeps_its_positions(result, tmp_path, monkeypatch):
    fig, renderer = _drawn(result, tmp_path, monkeypatch, plot_current_density, {})
    layout = layout_of(fig)
    before = [tuple(ax.get_position().bounds) for ax in fig.axes]
    layout.execute()  # a second call changes nothing
    fig.canvas.draw()
    assert [tuple(ax.get_position().bounds) for ax in fig.axes] == before
