"""A fixed layout for the sweep figures, computed from the sizes of their texts (no draw).

The sweep figures are a row of line panels under a title (``sweep_<key>.png``) and one heat map
with a colour bar on its right (``sweep_heatmap.png``). ``fig.tight_layout()`` measured every
axes' tight box (ticks created, every tick label laid out) before the draw did the same again:
about a third of the figures' time. Here the margins are summed from the texts a panel shows:
its tick labels (from its locators and formatters at the final view limits, measured one string
at a time with the renderer's text metrics; mathtext labels are parsed once, the draw at the
same dpi finds them in matplotlib's cache), its axis labels, the offset text of a scalar axis,
the title; the panels then share the width that is left. All sizes are in inches.
"""

from __future__ import annotations

import numpy as np
from matplotlib import cbook, rcParams
from matplotlib.font_manager import FontProperties

from ..plot_layout import Margins

PAD_IN = 4 / 72  # around the figure and between blocks
COLORBAR_WIDTH_IN = 0.18
COLORBAR_PAD_IN = 0.15


def _points(size) -> float:
    return FontProperties(size=size).get_size_in_points()


def _text_size(renderer, text: str, size: float, rotation: float = 0.0) -> tuple[float, float]:
    """Width and height (inches) of ``text`` at ``size`` points, rotated by ``rotation``
    degrees (mathtext between unescaped ``$``)."""
    if not text:
        return 0.0, 0.0
    ismath = cbook.is_math_text(text)  # as matplotlib decides it for a Text
    w, h, _ = renderer.get_text_width_height_descent(
        text, FontProperties(size=size), ismath=ismath)
    w, h = w / renderer.dpi, h / renderer.dpi
    if rotation:
        angle = np.deg2rad(rotation)
        w, h = (abs(w * np.cos(angle)) + abs(h * np.sin(angle)),
                abs(w * np.sin(angle)) + abs(h * np.cos(angle)))
    return w, h


def _tick_labels(axis) -> list[tuple[float, str]]:
    """(position, label) of the labelled ticks an axis will draw at its current view limits."""
    low, high = sorted(axis.get_view_interval())
    span = high - low
    out = []
    for locs, formatter in ((axis.get_majorticklocs(), axis.get_major_formatter()),
                            (axis.get_minorticklocs(), axis.get_minor_formatter())):
        locs = [x for x in np.asarray(locs, float)
                if low - 1e-9 * span <= x <= high + 1e-9 * span]
        if not locs:
            continue
        labels = formatter.format_ticks(locs)
        out += [(x, s) for x, s in zip(locs, labels) if s]
    return out


def _axis_texts(ax, renderer, which: str, ticks_style: dict):
    """Sizes (inches) of an axis' texts: the largest tick label (w, h), its axis label
    (w, h), its offset text (w, h), and the tick labels at the two ends of the axis.
    ``ticks_style``: the tick labels' "size" (points) and "rotation" (degrees) where they are
    not the defaults (reading them from the labels would create the ticks)."""
    axis = ax.xaxis if which == "x" else ax.yaxis
    size = _points(ticks_style.get("size", rcParams[f"{which}tick.labelsize"]))
    rotation = ticks_style.get("rotation", 0.0)
    ticks = _tick_labels(axis)
    sizes = [_text_size(renderer, s, size, rotation) for _, s in ticks]
    largest = (max((w for w, _ in sizes), default=0.0), max((h for _, h in sizes), default=0.0))
    ends = ((sizes[int(np.argmin([x for x, _ in ticks]))],
             sizes[int(np.argmax([x for x, _ in ticks]))]) if ticks
            else ((0.0, 0.0), (0.0, 0.0)))
    label = axis.get_label()
    label_size = _text_size(renderer, label.get_text(), label.get_fontsize(),
                            90.0 if which == "y" else 0.0)
    offset = axis.get_major_formatter().get_offset() if ticks else ""
    offset_size = _text_size(renderer, offset, _points(rcParams[f"{which}tick.labelsize"]))
    return largest, label_size, offset_size, ends


def _tick_room(which: str) -> float:
    """Tick length + the pad between tick and label, inches."""
    return (rcParams[f"{which}tick.major.size"] + rcParams[f"{which}tick.major.pad"]) / 72


def axes_margins(ax, renderer, label_side: str = "left", x_ticks: dict | None = None,
                 y_ticks: dict | None = None) -> Margins:
    """Room beyond the box of ``ax`` for its tick labels, axis labels and offset texts (the y
    axis on ``label_side``: "left", or "right" for a colour bar). ``x_ticks``, ``y_ticks``:
    the tick labels' "size" and "rotation" where they differ from the defaults."""
    labelpad = rcParams["axes.labelpad"] / 72
    (xw, xh), (_, xlabel_h), (_, xoff_h), (x_first, x_last) = _axis_texts(ax, renderer, "x",
                                                                          x_ticks or {})
    (yw, _), (ylabel_w, _), (_, yoff_h), (_, y_top) = _axis_texts(ax, renderer, "y",
                                                                  y_ticks or {})
    m = Margins()
    y_side = (yw + _tick_room("y") if yw else 0.0) + (ylabel_w + labelpad if ylabel_w else 0.0)
    setattr(m, label_side, y_side)
    m.bottom = ((xh + _tick_room("x") if xh else 0.0)
                + (xlabel_h + labelpad if xlabel_h else 0.0) + xoff_h)
    # tick labels centred on the axis ends hang over by half their size; the offset text of
    # a scalar y axis sits above the axes
    m.top = max(y_top[1] / 2, yoff_h + PAD_IN if yoff_h else 0.0)
    m.right = max(m.right, x_last[0] / 2)
    m.left = max(m.left, x_first[0] / 2)
    return m


def place_row(fig, panels, title=None) -> None:
    """Place a row of panels (equal widths) under the figure's title, from their margins."""
    renderer = fig.canvas.get_renderer()
    width, height = fig.get_size_inches()
    margins = [axes_margins(ax, renderer) for ax in panels]
    title_h = _title_height(renderer, title)
    top = PAD_IN + (title_h + PAD_IN if title_h else 0.0) + max(m.top for m in margins)
    bottom = PAD_IN + max(m.bottom for m in margins)
    free = width - PAD_IN * (len(panels) + 1) - sum(m.left + m.right for m in margins)
    w = max(free / len(panels), 0.1)
    h = max(height - top - bottom, 0.1)
    x = PAD_IN
    for ax, m in zip(panels, margins):
        x += m.left
        ax.set_position((x / width, bottom / height, w / width, h / height))
        x += w + m.right + PAD_IN
    _place_title(fig, title, height)


def place_with_colorbar(fig, ax, cax, title=None, **ticks) -> None:
    """Place one axes and its colour bar (``cax``, vertical, labels on its right); ``ticks``:
    ``x_ticks`` / ``y_ticks`` of ``ax`` (:func:`axes_margins`)."""
    renderer = fig.canvas.get_renderer()
    width, height = fig.get_size_inches()
    m = axes_margins(ax, renderer, **ticks)
    bar = axes_margins(cax, renderer, label_side="right")
    title_h = _title_height(renderer, title)
    top = PAD_IN + (title_h + PAD_IN if title_h else 0.0) + max(m.top, bar.top)
    bottom = PAD_IN + max(m.bottom, bar.bottom)
    right = PAD_IN + bar.right + COLORBAR_WIDTH_IN + COLORBAR_PAD_IN + m.right
    w = max(width - PAD_IN - m.left - right, 0.1)
    h = max(height - top - bottom, 0.1)
    x = PAD_IN + m.left
    ax.set_position((x / width, bottom / height, w / width, h / height))
    x += w + m.right + COLORBAR_PAD_IN
    cax.set_position((x / width, bottom / height, COLORBAR_WIDTH_IN / width, h / height))
    _place_title(fig, title, height)


def _title_height(renderer, title) -> float:
    return _text_size(renderer, title.get_text(), title.get_fontsize())[1] if title else 0.0


def _place_title(fig, title, height: float) -> None:
    """The title (a figure title or an axes title placed in figure coordinates) at the top."""
    if title is None:
        return
    title.set_verticalalignment("top")
    if title.axes is None:
        title.set_y(1 - PAD_IN / height)
