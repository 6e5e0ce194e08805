"""Tables that keep every value whole in any terminal width.

rich shrinks every column of a table wider than the terminal, so a long source path once
squeezed the numbers of ``library list`` down to nothing. A :class:`FittedTable` keeps its
figures on one line each and folds the text columns; when the terminal is too narrow even
for that, each row becomes a block of ``field  value`` lines.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from rich.cells import cell_len
from rich.console import Console, ConsoleOptions, RenderResult
from rich.table import Table
from rich.text import Text

MIN_TEXT_WIDTH = 8
"""Narrowest a folded text column may get before the table is stacked instead."""

_BORDER = 1
_PADDING = 2


@dataclass(frozen=True)
class FittedTable:
    """A rich renderable: one column per field when they fit, else one block per row.

    Attributes
    ----------
    title : str
        A line above the table.
    headings : tuple of str
    rows : tuple of tuple of str
        One value per heading, shown as it is (never read as rich markup).
    numbers : tuple of str
        Headings of columns never broken and right-aligned.
    whole : tuple of str
        Headings of columns never broken, left-aligned (dates).
    """

    title: str
    headings: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    numbers: tuple[str, ...] = ()
    whole: tuple[str, ...] = ()

    @classmethod
    def of(
        cls,
        title: str,
        headings: Sequence[str],
        rows: Sequence[Sequence[str]],
        numbers: Sequence[str] = (),
        whole: Sequence[str] = (),
    ) -> FittedTable:
        return cls(title, tuple(headings), tuple(tuple(r) for r in rows), tuple(numbers), tuple(whole))

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        # The title is a line of its own: as a table's title it would wrap within the
        # table's width, which may be much narrower than the terminal.
        yield Text(self.title, overflow="fold")
        yield self.wide() if options.max_width >= self.wide_width() else self.stacked()

    def wide_width(self) -> int:
        """Width the one-column-per-field table needs: its unbroken columns whole, its text
        columns at least :data:`MIN_TEXT_WIDTH` wide."""
        content = sum(self._width(k) if self._unbroken(h) else MIN_TEXT_WIDTH for k, h in enumerate(self.headings))
        return content + len(self.headings) * _PADDING + (len(self.headings) + 1) * _BORDER

    def wide(self) -> Table:
        table = Table()
        for k, heading in enumerate(self.headings):
            if self._unbroken(heading):
                justify = "right" if heading in self.numbers else "left"
                table.add_column(heading, justify=justify, no_wrap=True, min_width=self._width(k))
            else:
                table.add_column(heading, overflow="fold")
        for row in self.rows:
            table.add_row(*map(Text, row))
        return table

    def stacked(self) -> Table:
        table = Table(show_header=False)
        table.add_column(no_wrap=True)
        table.add_column(overflow="fold")
        for row in self.rows:
            for k, (heading, value) in enumerate(zip(self.headings, row)):
                table.add_row(Text(heading), Text(value), end_section=k == len(row) - 1)
        return table

    def _unbroken(self, heading: str) -> bool:
        return heading in self.numbers or heading in self.whole

    def _width(self, column: int) -> int:
        return max([cell_len(self.headings[column]), *(cell_len(row[column]) for row in self.rows)])
