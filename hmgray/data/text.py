"""Tokenisation and hashed word ids: the one definition of "token" in hmgray.

``text_heads`` in the shards index into ``tokenize(description)``, so producers and the
decoder must use exactly this function.

* ``tokenize``: lower-case, split on whitespace, strip leading/trailing punctuation
  (``string.punctuation``) from each word, drop words that become empty. Inner punctuation
  stays (``scratch-resistant``, ``wh-1000xm5`` are one token each).
* ``hash_tokens``: id = 1 + crc32(utf-8 word) mod (vocab_size - 1), in [1, vocab_size);
  0 is padding. crc32 (not Python's ``hash``) so ids are stable across processes and runs.
"""

from __future__ import annotations

import string
import zlib
from functools import lru_cache

from hmgray.errors import ConfigError

__all__ = ["hash_tokens", "tokenize", "word_hash"]

_PUNCT = string.punctuation


def tokenize(text: str) -> list[str]:
    """Lower-cased, whitespace-split, punctuation-stripped words of ``text`` (no empties)."""
    words = (w.strip(_PUNCT) for w in text.lower().split())
    return [w for w in words if w]


@lru_cache(maxsize=1 << 16)
def word_hash(word: str) -> int:
    """crc32 of the UTF-8 bytes of ``word`` (unsigned 32 bit); cached, words repeat a lot."""
    return zlib.crc32(word.encode("utf-8"))


def hash_tokens(words: list[str], vocab_size: int) -> list[int]:
    """Hashed ids of ``words``, each in [1, vocab_size) (0 is reserved for padding)."""
    if vocab_size < 2:
        raise ConfigError(f"hash_tokens: vocab_size must be >= 2 (0 is padding), got {vocab_size}")
    m = vocab_size - 1
    return [1 + word_hash(w) % m for w in words]
