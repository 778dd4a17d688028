"""The delimiter of a CSV file: given (`data.delimiter`), or found in its header line.

Spreadsheet programs in many locales save CSV files with `;` (the comma is their decimal
mark), and exports use tab or `|`; read with `,`, such a file has one column named
`text;label`. `auto` picks, among `,` `;` tab and `|`, the one that splits the header into
the most cells (csv.reader, so a delimiter inside a quoted name does not count).
csv.Sniffer would also look at the rows, where commas inside the texts mislead it.
"""

from __future__ import annotations

import csv

from sft.config.delimiters import DELIMITER_CHOICES, DELIMITERS
from sft.errors import SFTConfigError

# The candidates, in the order that settles a tie (the first wins).
CANDIDATES = (",", ";", "\t", "|")


def resolve_delimiter(kind: str, header: str, delimiter: str = "auto") -> str:
    """The delimiter to read a `kind` ('csv' or 'tsv') file with: `delimiter` unless `auto`;
    auto: tab for a TSV, else the candidate that splits `header` (the first non-blank line)
    into the most cells, `,` when none splits it. SFTConfigError for an unknown value."""
    if delimiter != "auto":
        if delimiter not in DELIMITERS:
            raise SFTConfigError(
                f"data.delimiter: unknown delimiter {delimiter!r} (choices: {DELIMITER_CHOICES})"
            )
        return DELIMITERS[delimiter]
    if kind == "tsv":
        return "\t"
    return sniff(header)


def sniff(header: str) -> str:
    """The candidate that splits the header line into the most cells (`,` on a tie or when
    none splits it)."""
    best, cells = ",", 1
    for candidate in CANDIDATES:
        try:
            found = len(next(csv.reader([header], delimiter=candidate), []))
        except csv.Error:  # pandas reads the file next and names what is wrong with it
            continue
        if found > cells:
            best, cells = candidate, found
    return best


def delimiter_hint(columns) -> str:
    """When a table has a single column whose name holds a candidate delimiter: the text to
    add to the error (" ... looks ';'-delimited: ..."); else ''."""
    names = [str(c) for c in columns]
    if len(names) != 1:
        return ""
    found = next((c for c in CANDIDATES if c in names[0]), None)
    if found is None:
        return ""
    shown = "\\t" if found == "\t" else found
    return f"; it looks '{shown}'-delimited: set \"data.delimiter='{shown}'\""
