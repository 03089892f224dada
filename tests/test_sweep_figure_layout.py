"""The fixed layout of the sweep figures (netsolve.sweep.layout): every text inside the figure,
no panel's labels over another panel, the colour bar beside the heat map, the title above
everything; for two-way and one-way sweeps, log and linear keys (with an offset text)."""

from __future__ import annotations

import matplotlib
import matplotlib.figure
import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg

from netsolve.sweep import build_plan, parse_param, run_sweep
from test_figure_layout import _inside, _overlap, _texts
from test_sweep import write_case

SWEEPS = {"two-way": ("materials.ratio_ip_op=logspace(1,3,3)", "materials.ratio_ip_gb=1,20"),
          "one-way": ("materials.ratio_ip_gb=1,5,20,100",),
          # linear values far from 0: the x axis gets an offset text
          "offset": ("materials.ratio_ip_gb=1000,1000.5,1001",)}


@pytest.fixture(scope="module", params=list(SWEEPS))
def figures(request, tmp_path_factory):
    """The sweep's figures as saved (drawn at their dpi), with their renderers."""
    tmp = tmp_path_factory.mktemp("sweep_layout")
    plan = build_plan(write_case(tmp), tuple(parse_param(p) for p in SWEEPS[request.param]))
    saved = []
    save = matplotlib.figure.Figure.savefig

    def spy(fig, *args, **kw):
        out = save(fig, *args, **kw)
        saved.append((fig, kw.get("dpi")))
        return out

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(matplotlib.figure.Figure, "savefig", spy)
        outcome = run_sweep(plan, tmp / "out")
    assert outcome.n_ok == len(plan.points)
    drawn = []
    for fig, dpi in saved:
        fig.set_dpi(dpi)
        canvas = FigureCanvasAgg(fig)  # (saving closed the figure: a canvas to measure on)
        canvas.draw()
        drawn.append((fig, canvas.get_renderer()))
    assert len(drawn) == len(plan.parameters) + (len(plan.parameters) == 2)
    return drawn


def test_every_text_is_inside_and_no_panel_covers_another(figures):
    for fig, renderer in figures:
        page = fig.bbox
        texts = _texts(fig, renderer)
        assert len(texts) >= 8  # title, axis labels, tick labels
        for text, box in texts:
            assert _inside(box, page), f"{text.get_text()!r} {box.bounds} outside {page.bounds}"
        axes = fig.axes
        boxes = [ax.get_window_extent() for ax in axes]
        assert all(box.width > 40 and box.height > 40 for box in boxes[:1])
        for k, ax in enumerate(axes):
            tight = ax.get_tightbbox(renderer)
            assert _inside(tight, page)
            for j, box in enumerate(boxes):
                if j != k:
                    assert not _overlap(tight, box), "an axes' labels over another axes"
        title = fig._suptitle.get_window_extent(renderer)
        for ax in axes:
            assert title.y0 >= ax.get_tightbbox(renderer).y1 - 0.5  # the title above all
        for legend in [ax.get_legend() for ax in axes if ax.get_legend()]:
            assert _inside(legend.get_window_extent(renderer), page)


def test_panels_use_the_figure(figures):
    """The layout leaves no large empty band: the axes with their labels span most of the
    figure's width and height (a wrong measurement that shrank them would show here)."""
    for fig, renderer in figures:
        page = fig.bbox
        tights = [ax.get_tightbbox(renderer) for ax in fig.axes]
        left = min(t.x0 for t in tights)
        right = max(t.x1 for t in tights)
        bottom = min(t.y0 for t in tights)
        top = max(t.y1 for t in tights)
        assert right - left >= 0.9 * page.width
        assert top - bottom >= 0.8 * page.height
