"""The words of free-text answers: Chinese segmented with jieba, English lower-cased,
stop words of both languages left out.

:func:`words_of` gives the distinct words of one answer, :func:`word_counts` the
number of answers that mention each word (an answer that repeats a word counts once,
so one long answer cannot dominate). jieba's dictionary is loaded once per process,
on first use, without its log lines.

Chinese runs are cut with jieba's default (precise) mode; a compound it keeps whole is
split into its dictionary words when each of them is more common than the compound
(响应速度 → 响应 / 速度, while an idiom like 一丝不苟 stays), so that answers saying
"速度快" and "响应速度快" both count towards 速度. Single Chinese characters (很, 好,
快 …) are too ambiguous alone and are left out, as are numbers and punctuation.
"""

from __future__ import annotations

import logging
import re
import threading
from collections import Counter
from collections.abc import Iterable

__all__ = ["STOP_WORDS_EN", "STOP_WORDS_ZH", "word_counts", "words_of"]

_HAN = r"\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_RUNS = re.compile(rf"([{_HAN}]+)|([A-Za-z\u00c0-\u024f]+(?:['’][A-Za-z]+)*)")

_ENGLISH = """
a about above after again against all also am an and any are aren't as at be because been
before being below between both but by can can't cannot could couldn't did didn't do does
doesn't doing don't down during each even ever every few for from further get got had hadn't
has hasn't have haven't having he he'd he'll he's her here here's hers herself him himself
his how how's however i i'd i'll i'm i've if in into is isn't it it's its itself just let's
like made make many may me might more most much must mustn't my myself no nor not now of off
on once one only or other ought our ours ourselves out over own quite rather really same
shan't she she'd she'll she's should shouldn't so some such than that that's the their
theirs them themselves then there there's these they they'd they'll they're they've this
those through to too under until up upon us very was wasn't we we'd we'll we're we've were
weren't what what's when when's where where's which while who who's whom why why's will
with won't would wouldn't yet you you'd you'll you're you've your yours yourself yourselves
ok okay etc also still though thing things lot lots
"""
STOP_WORDS_EN = frozenset(_ENGLISH.split())

_CHINESE = """
的 了 和 是 在 我 有 就 不 人 都 一 一个 上 也 很 到 说 要 去 你 会 着 没 没有 看 好 自己 这 那
他 她 它 们 我们 你们 他们 她们 它们 这个 那个 这些 那些 这里 那里 这样 那样 这么 那么 这种 那种
什么 怎么 怎样 为什么 因为 所以 但是 但 而且 还是 或者 或 如果 虽然 然后 然而 可以 能 能够 可能
应该 已经 还 再 又 太 非常 比较 特别 十分 真的 真是 一些 一下 一点 有点 有些 觉得 感觉 认为 希望
时候 不是 就是 也是 都是 还有 以及 及 与 对 对于 关于 把 被 让 给 从 向 往 吗 呢 吧 啊 呀 哦 嗯
哈 等 等等 之 其 其他 其它 各 每 些 该 此 并 并且 而 则 即 才 只 只是 只有 其实 而已 目前 现在
比 更 最 得 地 之后 之前 以后 以前 以上 以下 之一 一直 一样 一次 一般 通过 进行 由于 所有 这次 那次
个 位 次 件 种 方面 情况 东西 我的 你的 他的 大家 您 您的
"""
STOP_WORDS_ZH = frozenset(_CHINESE.split())

_lock = threading.Lock()
_tokenizer = None


def _jieba():
    """jieba's tokenizer, loaded once per process (about a second), quietly."""
    global _tokenizer
    if _tokenizer is None:
        with _lock:
            if _tokenizer is None:
                import jieba

                jieba.setLogLevel(logging.WARNING)
                tokenizer = jieba.Tokenizer()
                tokenizer.initialize()
                _tokenizer = tokenizer
    return _tokenizer


def _finer(word: str, freq: dict) -> list[str]:
    """``word`` split into dictionary words more common than itself, if it can be."""
    if len(word) < 4:
        return [word]
    own = freq.get(word, 0)
    # best[i]: the fewest parts covering word[:i] (None if it cannot be covered).
    best: list[list[str] | None] = [[]] + [None] * len(word)
    for end in range(2, len(word) + 1):
        for start in range(max(0, end - 4), end - 1):
            part = word[start:end]
            if best[start] is None or part == word or freq.get(part, 0) <= own:
                continue
            candidate = [*best[start], part]
            if best[end] is None or len(candidate) < len(best[end]):
                best[end] = candidate
    return best[-1] or [word]


def words_of(text: str) -> list[str]:
    """The distinct words of ``text`` that say something, in order of appearance."""
    found: dict[str, None] = {}
    tokenizer = None
    for han, latin in _RUNS.findall(text or ""):
        if latin:
            word = latin.lower().replace("’", "'")
            if word.endswith("'s"):
                word = word[:-2]
            if len(word) > 1 and word not in STOP_WORDS_EN:
                found.setdefault(word, None)
            continue
        tokenizer = tokenizer or _jieba()
        for token in tokenizer.lcut(han):
            for word in _finer(token, tokenizer.FREQ):
                if len(word) > 1 and word not in STOP_WORDS_ZH:
                    found.setdefault(word, None)
    return list(found)


def word_counts(texts: Iterable[str], top: int = 30) -> list[tuple[str, int]]:
    """The ``top`` words by the number of ``texts`` mentioning them (ties: first
    alphabetically), as ``(word, answers)``."""
    counts: Counter[str] = Counter()
    for text in texts:
        counts.update(words_of(text))
    return sorted(counts.items(), key=lambda item: (-item[1], item[0]))[:top]
