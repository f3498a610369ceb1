"""What every page reader (markdown, HTML, the other formats) hands to the section split: its
headings and its text blocks, each with the line (and column) where it starts."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Block:
    line: int  # 0-based line in the file where the block starts
    text: str
    col: int = 0  # column, so that blocks on one line (minified HTML) keep their order


@dataclass
class Heading:
    line: int  # 0-based
    level: int
    text: str
    col: int = 0
