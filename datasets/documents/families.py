"""Layout families: each is a consistent way a (fictional) group of vendors lays out its documents.

Benchmarks hold whole families out of training, so the extractor is measured on layouts, wordings and formats
combinations it never saw.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["LayoutFamily", "FAMILIES", "HELDOUT_FAMILIES", "TRAIN_FAMILIES", "family"]


@dataclass(frozen=True, slots=True)
class LayoutFamily:
    name: str
    lang: str
    currencies: tuple[str, ...]
    date_styles: tuple[str, ...]
    number_style: str
    money_display: str
    vendor_pos: str  # top_left | top_right | top_center | below_title | footer
    meta_pos: str  # right | left | grid_row | sidebar
    meta_style: str  # label_left | colon_inline | label_above | inline_pairs
    customer_pos: str  # left | right
    title_pos: str  # left | right | center
    ruled: bool
    wording: int  # index into the label variants
    currency_line: bool  # also print "Currency: EUR"
    totals_labels_right: bool  # totals labels right-aligned next to the values


FAMILIES: tuple[LayoutFamily, ...] = (
    LayoutFamily("en_us_classic", "en", ("USD",), ("mdy_short", "us_long"), "en", "symbol_prefix", "top_left",
                 "right", "label_left", "left", "right", True, 0, False, False),
    LayoutFamily("de_window", "de", ("EUR",), ("dots",), "eu", "symbol_suffix", "top_right", "right",
                 "colon_inline", "left", "left", False, 0, False, True),
    LayoutFamily("fr_centered", "fr", ("EUR",), ("long", "dmy_slash"), "plain_comma", "symbol_suffix", "top_center",
                 "grid_row", "label_above", "left", "center", True, 1, False, False),
    LayoutFamily("nl_sidebar", "nl", ("EUR",), ("dmy_dash",), "eu", "symbol_prefix", "top_right", "sidebar",
                 "label_above", "right", "left", False, 0, False, False),
    LayoutFamily("es_inline", "es", ("EUR",), ("dmy_slash",), "eu", "symbol_suffix", "top_left", "left",
                 "inline_pairs", "right", "right", True, 0, False, True),
    LayoutFamily("en_gb_banner", "en", ("GBP",), ("long",), "en", "symbol_prefix", "below_title", "right",
                 "colon_inline", "left", "center", False, 1, False, False),
    LayoutFamily("de_ch_footer", "de", ("CHF",), ("dots",), "ch", "code_prefix", "footer", "left", "label_left",
                 "right", "left", True, 1, True, True),
    LayoutFamily("en_pl_grid", "en", ("PLN",), ("iso",), "en", "code_suffix", "top_right", "grid_row",
                 "label_above", "left", "left", True, 2, True, False),
    LayoutFamily("en_intl_twocol", "en", ("USD", "EUR"), ("iso", "us_long"), "en", "code_prefix", "top_right",
                 "left", "label_left", "left", "left", False, 2, True, True),
    LayoutFamily("es_grid", "es", ("EUR",), ("long",), "eu", "code_suffix", "top_center", "grid_row",
                 "label_above", "right", "center", False, 2, False, True),
    LayoutFamily("de_inline", "de", ("EUR",), ("iso", "long"), "eu", "code_suffix", "top_left", "left",
                 "inline_pairs", "right", "right", False, 2, False, False),
    LayoutFamily("fr_ch_left", "fr", ("CHF", "EUR"), ("dots",), "ch", "code_suffix", "top_right", "left",
                 "colon_inline", "right", "left", True, 0, True, True),
    LayoutFamily("nl_classic", "nl", ("EUR",), ("long", "dmy_dash"), "eu", "code_prefix", "top_left", "right",
                 "label_left", "left", "right", True, 2, False, True),
)

# Held out of every training run the benchmark makes: one per meta style, three languages, three currencies.
HELDOUT_FAMILIES: tuple[str, ...] = ("fr_centered", "de_ch_footer", "en_intl_twocol")
TRAIN_FAMILIES: tuple[str, ...] = tuple(f.name for f in FAMILIES if f.name not in HELDOUT_FAMILIES)


def family(name: str) -> LayoutFamily:
    for fam in FAMILIES:
        if fam.name == name:
            return fam
    raise KeyError(name)
