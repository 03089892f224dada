"""A fixed layout for the map figures, placed from one measurement of their decorations.

Every map figure (:mod:`netsolve.plot`, :mod:`netsolve.plot_grains`, :mod:`netsolve.plot_gb`)
is the same arrangement: map panels in a row (equal aspect, one height), optionally a key
column to their right (the grain map's colour key over its legend), a colour bar to the right
of the maps and one below them, a figure legend at the bottom, the title on top. matplotlib's
constrained layout placed these in two passes over every axes' tight box, creating and
measuring every tick label several times (about 40 % of a 128^3 figure's time). Here the
sizes of the decorations (tick labels, axis labels, panel titles, colour-bar labels, legend,
title) are measured once on a first guess of the positions, the panel height that fills the
figure is solved for (every width in the row is linear in it), and everything is placed; a
second measurement on the final positions is made only when the tick positions changed with the
axes size (other tick labels). Sizes are in inches, measured at the figure's dpi.
"""

from __future__ import annotations

from dataclasses import dataclass

PAD_IN = 3 / 72  # space around and between blocks (constrained layout's default pad)
KEY_HEIGHTS = (1.0, 1.6)  # key column: colour key over its legend
GUESS = dict(left=0.75, right=0.1, top=0.35, bottom=0.55)  # first guess of a panel's margins


@dataclass
class Bar:
    """A colour bar placed by the layout: ``location`` "right" (of the maps, vertical) or
    "bottom" (below them, horizontal); ``shrink`` of the maps' height (width), ``pad`` a
    fraction of the maps' width (height), ``aspect`` long / short side."""

    cax: object
    location: str
    shrink: float
    pad: float
    aspect: float


@dataclass
class Margins:
    """Decorations beyond a box, inches: left, right, bottom, top (never negative)."""

    left: float = 0.0
    right: float = 0.0
    bottom: float = 0.0
    top: float = 0.0


class MapLayout:
    """The axes of a map figure and where they go; :meth:`execute` places them.

    ``ratios``: width / height of each map panel; ``key_ratio``: width / height of a key
    column (None: none). The map axes are ``maps``; the key column's axes ``key_ax`` (the
    colour key) and ``key_legend_ax`` (its legend)."""

    def __init__(self, fig, ratios: list[float], key_ratio: float | None = None):
        self.fig = fig
        self.ratios = list(ratios)
        self.key_ratio = key_ratio
        self.maps = [fig.add_axes((0, 0, 1, 1)) for _ in ratios]
        self.key_ax = fig.add_axes((0, 0, 1, 1)) if key_ratio else None
        self.key_legend_ax = fig.add_axes((0, 0, 1, 1)) if key_ratio else None
        self.bars: list[Bar] = []
        self.legend = None
        self.done = False
        self._place(self._guess())
        fig.netsolve_layout = self

    # ------------------------------------------------------------------ decorations

    def colorbar(self, mappable, *, location: str = "right", shrink: float = 1.0,
                 pad: float = 0.05, aspect: float = 20.0, **kwargs):
        """``fig.colorbar`` in an axes of its own that the layout places."""
        cax = self.fig.add_axes((0, 0, 0.01, 0.01))
        self.bars.append(Bar(cax, location, shrink, pad, aspect))
        self._place(self._guess())
        return self.fig.colorbar(mappable, cax=cax, location=location, **kwargs)

    def figure_legend(self, **kwargs):
        """A figure legend centred under the maps and the colour bar below them."""
        self.legend = self.fig.legend(loc="upper center", bbox_to_anchor=(0.5, 0.0),
                                      borderaxespad=0.0, **kwargs)
        self._place(self._guess())
        return self.legend

    # ------------------------------------------------------------------ placing

    def execute(self) -> None:
        """Measure the decorations and place everything, once per figure (measured again if
        the final axes sizes have other ticks)."""
        if self.done:
            return
        renderer = self.fig.canvas.get_renderer()
        ticks = self._ticks()
        self._place(self._measure(renderer))
        if self._ticks() != ticks:  # other tick labels at the final sizes: measure again
            self._place(self._measure(renderer))
        self.done = True

    def _ticks(self) -> list:
        """The major tick positions of every axis (they follow the axes' sizes)."""
        axes = self.maps + [b.cax for b in self.bars]
        return [tuple(axis.get_majorticklocs()) for ax in axes
                for axis in (ax.xaxis, ax.yaxis)]

    def _guess(self) -> dict:
        return dict(maps=[Margins(**GUESS) for _ in self.ratios],
                    key=[Margins(right=0.1), (0.0, 0.0)],
                    bars=[Margins(right=0.8) if b.location == "right" else Margins(bottom=0.5)
                          for b in self.bars],
                    legend=(0.0, 0.4 if self.legend is not None else 0.0),
                    title=0.3 if _suptitle(self.fig) is not None else 0.0)

    def _measure(self, renderer) -> dict:
        dpi = self.fig.dpi

        def beyond(ax) -> Margins:
            ax.apply_aspect()
            box = ax.get_position().transformed(self.fig.transFigure)  # pixels
            tight = ax.get_tightbbox(renderer, for_layout_only=True)
            if tight is None:
                return Margins()
            return Margins(max(box.x0 - tight.x0, 0) / dpi, max(tight.x1 - box.x1, 0) / dpi,
                           max(box.y0 - tight.y0, 0) / dpi, max(tight.y1 - box.y1, 0) / dpi)

        legend = (0.0, 0.0)
        if self.legend is not None:
            extent = self.legend.get_window_extent(renderer)
            legend = (extent.width / dpi, extent.height / dpi)
        title = _suptitle(self.fig)
        key = []
        if self.key_ratio:
            # The key's legend hangs from the top centre of its axes (axis off): its size,
            # not its overflow at this width, is what the layout needs.
            legend_ax = self.key_legend_ax.get_legend()
            box = legend_ax.get_window_extent(renderer) if legend_ax is not None else None
            key = [beyond(self.key_ax),
                   (box.width / dpi, box.height / dpi) if box is not None else (0.0, 0.0)]
        return dict(maps=[beyond(ax) for ax in self.maps], key=key,
                    bars=[beyond(b.cax) for b in self.bars], legend=legend,
                    title=(title.get_window_extent(renderer).height / dpi
                           if title is not None else 0.0))

    def _place(self, m: dict) -> None:
        """Positions from the decorations ``m`` (see :meth:`_measure`), all in inches."""
        width, height = self.fig.get_size_inches()
        maps, ratios = m["maps"], self.ratios
        right = next((b for b in self.bars if b.location == "right"), None)
        bottom = next((b for b in self.bars if b.location == "bottom"), None)
        bar_r = m["bars"][self.bars.index(right)] if right else None
        bar_b = m["bars"][self.bars.index(bottom)] if bottom else None
        # Widths: fixed part + slope * h, h the panels' height.
        gaps = sum(mg.left + mg.right for mg in maps) + PAD_IN * (2 * len(maps) + 1)
        span = sum(ratios)  # maps' width / h (without the decorations between them)
        fixed_w, slope_w = gaps, span
        if right:
            # pad: a fraction of the maps' width; bar width: shrink * h / aspect
            fixed_w += bar_r.left + bar_r.right + PAD_IN
            slope_w += right.pad * span + right.shrink / right.aspect
        top = max([mg.top for mg in maps] + [k.top for k in m["key"][:1]])
        below = max(mg.bottom for mg in maps)
        fixed_h = 2 * PAD_IN + top + below
        fixed_h += (m["title"] + PAD_IN) if m["title"] else 0.0
        fixed_h += (m["legend"][1] + PAD_IN) if self.legend is not None else 0.0
        slope_h = 1.0
        if bottom:
            fixed_h += bar_b.top + bar_b.bottom + PAD_IN
            slope_h += bottom.pad + bottom.shrink * span / bottom.aspect
        h = max(min((width - fixed_w) / slope_w, (height - fixed_h) / slope_h), 0.05)
        if self.key_ratio:
            # The key column: as wide as the key, or its legend where that is wider, and its
            # legend's overhang below the panels: solved by a few fixed-point steps in h.
            key, (legend_w, legend_h) = m["key"]
            slope_w += self.key_ratio
            base_w, base_h, below_maps = fixed_w, fixed_h, below
            for _ in range(4):
                excess = max(legend_w - self.key_ratio * h, 0.0) / 2
                key_l, key_r = max(key.left, excess), max(key.right, excess)
                hang = max(legend_h - h * KEY_HEIGHTS[1] / sum(KEY_HEIGHTS), 0.0)
                below = max(below_maps, hang)
                fixed_w = base_w + key_l + key_r + PAD_IN
                fixed_h = base_h + below - below_maps
                h = max(min((width - fixed_w) / slope_w, (height - fixed_h) / slope_h), 0.05)
        free_w = width - fixed_w - slope_w * h
        free_h = height - fixed_h - slope_h * h
        # The right colour bar spans ``shrink`` of the panels' cell, the height they could
        # have (as constrained layout's cells), as far as its width fits in the free width.
        cell = h + free_h
        if right:
            cell = min(cell, h + free_w * right.aspect / right.shrink)
            free_w -= right.shrink * (cell - h) / right.aspect
        # Left over space: split evenly either side of the row, and above the panels and
        # below the legend (which follows right under the panels or their colour bar).
        x = free_w / 2 + PAD_IN
        y_top = height - PAD_IN - ((m["title"] + PAD_IN) if m["title"] else 0.0)
        y_top -= free_h / 2
        y0 = y_top - top - h  # bottom of the map panels
        left_edge = x
        for ax, mg, ratio in zip(self.maps, maps, ratios):
            x += mg.left
            self._set(ax, x, y0, ratio * h, h)
            x += ratio * h + mg.right + 2 * PAD_IN
        maps_w = x - 2 * PAD_IN - left_edge  # with the decorations between the panels
        if right:
            length = min(right.shrink * cell, h)  # never beyond the panels
            x += right.pad * span * h + bar_r.left
            self._set(right.cax, x, y0 + (h - length) / 2, length / right.aspect, length)
            x += length / right.aspect + bar_r.right + PAD_IN
        if self.key_ratio:
            x += key_l
            key_w = self.key_ratio * h
            upper = h * KEY_HEIGHTS[0] / sum(KEY_HEIGHTS)
            self._set(self.key_ax, x, y0 + h - upper, key_w, upper)
            self._set(self.key_legend_ax, x, y0, key_w, h - upper)
        y = y0 - below
        if bottom:
            length = bottom.shrink * span * h
            y -= bottom.pad * h + bar_b.top + length / bottom.aspect
            self._set(bottom.cax, left_edge + (maps_w - length) / 2, y,
                      length, length / bottom.aspect)
            y -= bar_b.bottom
        if self.legend is not None:
            self.legend.set_bbox_to_anchor((0.5, (y - PAD_IN) / height), self.fig.transFigure)
        if _suptitle(self.fig) is not None:
            _suptitle(self.fig).set_y(1 - PAD_IN / height)
            _suptitle(self.fig).set_verticalalignment("top")

    def _set(self, ax, x: float, y: float, w: float, h: float) -> None:
        width, height = self.fig.get_size_inches()
        ax.set_position((x / width, y / height, max(w, 0.0) / width, max(h, 0.0) / height))


def layout_of(fig) -> MapLayout | None:
    """The :class:`MapLayout` of a map figure (None for other figures)."""
    return getattr(fig, "netsolve_layout", None)


def _suptitle(fig):
    """The figure's title text (None if it has none)."""
    return getattr(fig, "_suptitle", None)
