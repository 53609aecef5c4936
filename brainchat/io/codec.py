"""Text in, text out: a typed line becomes a stimulus schedule, output spikes become characters.

Layout (see :mod:`brainchat.model.regions`): every printable ASCII character (space to ``~``)
has an input patch (patch ``k`` of the codec's input region) and an output patch (patch ``k``
of its output region, whose last patch is the end of the reply).

* **Saying a line.** The line is cleaned (:func:`clean_line`), then each character is
  presented for ``char_steps`` steps: every neuron of its input patch receives
  ``stimulus_current`` per step, while the rest of the brain keeps running. Then
  ``gap_steps`` steps without input.
* **Reading the reply.** Time is cut into windows of ``window_steps`` steps. In each window
  the output patch that fired most wins (winner-take-all) and gives the next character,
  unless its rate is below ``silence_rate`` spikes per neuron per step: silence ends the
  reply, and so does the end patch when it wins. A reply has at most ``max_reply_chars``
  characters. While the ``k``-th window is read, sector ``k`` of the gated region (modulo
  its sectors) is gated with ``gate_current``. After each window the winner's patch is driven
  for ``echo_steps`` steps, the others held down (the brain hears what it said: a reward
  that follows strengthens, a punishment weakens, the pathway to the character it chose).
* **Before a line** the working memory is inhibited for ``reset_steps`` steps, so that it
  holds the new line only.
* **Teaching** ``PROMPT => REPLY`` presents the prompt like a said line, then in reply window
  ``k`` drives the output patch of the reply's ``k``-th character with ``teach_current`` (the
  end patch after the last), and gives ``teach_dopamine`` at the end: the readout synapses
  whose sources and targets fired together grow.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

import numpy as np

from brainchat.model.regions import END_PATCH, PRINTABLE
_REPLACEMENT = "?"
# Characters that Unicode does not decompose to ASCII but have an obvious ASCII spelling.
_SPELLINGS = {
    "ß": "ss", "æ": "ae", "Æ": "AE", "ø": "o", "Ø": "O", "œ": "oe", "Œ": "OE", "ł": "l", "Ł": "L",
    "đ": "d", "Đ": "D", "þ": "th", "Þ": "Th", "‘": "'", "’": "'", "“": '"', "”": '"', "–": "-",
    "—": "-", "…": "...", "\u00a0": " ", "€": "EUR", "×": "x",
}


@dataclass(frozen=True)
class CleanLine:
    """A line ready for the brain: printable ASCII only, plus notices for the user."""

    text: str
    notices: tuple[str, ...]


def clean_line(raw: str, max_chars: int) -> CleanLine:
    """Make any string safe to say.

    Non-ASCII characters are transliterated (accents dropped by NFKD decomposition, a few
    common letters and punctuation spelled out) and whatever is left becomes ``?``. Tabs
    become spaces; other control characters are removed and never reach the brain. Lines
    longer than ``max_chars`` are cut. Each change yields a one-line notice.
    """
    notices = []
    text = raw.replace("\t", " ")
    if any(ord(c) < 32 or ord(c) == 127 or 0x80 <= ord(c) < 0xA0 for c in text):
        text = "".join(c for c in text if not (ord(c) < 32 or ord(c) == 127 or 0x80 <= ord(c) < 0xA0))
        notices.append("control characters were removed")
    if not text.isascii():
        text, replaced = _transliterate(text)
        notices.append(
            f"non-ASCII characters were transliterated ({replaced} without an ASCII spelling became '?')"
            if replaced
            else "non-ASCII characters were transliterated"
        )
    if len(text) > max_chars:
        notices.append(f"the line was cut to its first {max_chars} of {len(text)} characters")
        text = text[:max_chars]
    return CleanLine(text, tuple(notices))


def _transliterate(text: str) -> tuple[str, int]:
    out = []
    replaced = 0
    for char in text:
        if char.isascii():
            out.append(char)
            continue
        spelled = _SPELLINGS.get(char)
        if spelled is None:
            decomposed = unicodedata.normalize("NFKD", char)
            spelled = "".join(c for c in decomposed if c.isascii() and c.isprintable())
        if not spelled:
            spelled = _REPLACEMENT
            replaced += 1
        out.append(spelled)
    return "".join(out), replaced


def winning_patch(patch_spikes: np.ndarray, patch_size: int, window_steps: int, silence_rate: float) -> int | None:
    """The output patch (a character's, or the end patch) that fired most in a window, or ``None`` for silence.

    ``patch_spikes`` are the spikes of each output patch in the window (``[96]``: the 95
    characters, then the end). Ties go to the lower character code (the end patch last), so
    the choice is deterministic.
    """
    best = int(np.argmax(patch_spikes))
    if patch_spikes[best] < silence_rate * patch_size * window_steps:
        return None
    return best


def winner(patch_spikes: np.ndarray, patch_size: int, window_steps: int, silence_rate: float) -> str | None:
    """The character whose output patch fired most in a window, or ``None`` for silence or the end patch."""
    return char_of(winning_patch(patch_spikes, patch_size, window_steps, silence_rate))


def char_of(patch: int | None) -> str | None:
    """The character of an output patch; ``None`` for the end patch or no patch."""
    if patch is None or patch == END_PATCH:
        return None
    return PRINTABLE[patch]
