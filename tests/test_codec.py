"""The text codec: cleaning lines, presenting them, reading replies."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from brainchat.config import CodecSection
from brainchat.io.codec import clean_line, winner
from brainchat.model.regions import END_PATCH, OUTPUT_PATCHES, PRINTABLE


def test_printable_ascii_passes_unchanged():
    cleaned = clean_line(PRINTABLE, 200)
    assert cleaned.text == PRINTABLE and cleaned.notices == ()


def test_unicode_is_transliterated_with_a_notice():
    cleaned = clean_line("Grüße, café — naïve ☃", 200)
    assert cleaned.text == "Grusse, cafe - naive ?"
    assert len(cleaned.notices) == 1 and "1 without an ASCII spelling became '?'" in cleaned.notices[0]


def test_control_characters_never_reach_the_brain():
    cleaned = clean_line("a\x00b\x1b[31mc\x7fd\te\x85", 200)
    assert cleaned.text == "ab[31mcd e"
    assert cleaned.notices == ("control characters were removed",)


def test_long_lines_are_cut_with_a_notice():
    cleaned = clean_line("x" * 100_000, 200)
    assert cleaned.text == "x" * 200
    assert cleaned.notices == ("the line was cut to its first 200 of 100000 characters",)


@settings(max_examples=300)
@given(st.text(max_size=500))
def test_any_text_becomes_printable_ascii_within_the_limit(raw):
    cleaned = clean_line(raw, 200)
    assert all(c in PRINTABLE for c in cleaned.text)
    assert len(cleaned.text) <= 200


def test_winner_takes_the_busiest_output_patch_or_is_silent():
    counts = np.full(OUTPUT_PATCHES, 50, dtype=np.int64)  # the output patches' spikes in a window
    counts[PRINTABLE.index("q")] = 80
    assert winner(counts, patch_size=10, window_steps=20, silence_rate=0.02) == "q"
    assert winner(counts, patch_size=10, window_steps=20, silence_rate=0.5) is None, "80 < 0.5 * 10 * 20"
    counts[PRINTABLE.index("a")] = 80
    assert winner(counts, patch_size=10, window_steps=20, silence_rate=0.02) == "a", "ties go to the lower code"
    counts[END_PATCH] = 200
    assert winner(counts, patch_size=10, window_steps=20, silence_rate=0.02) is None, "the end patch ends the reply"
