"""When most months after go-live are provisional, the typed result carries the share and the headline says so."""

from __future__ import annotations

import pytest

from .test_files import _effect, _est, _result


def _with_share(share):
    r = _result("CCR70", "rate_ratio", _est(0.88, 0.82, 0.95), _effect((-25.2, -45.6, -4.9), (-0.154, -0.256, -0.039)))
    from evaluation.results.sentences import findings

    m = r.headline.model_copy(update={"provisional_share_post": share})
    return m.model_copy(update={"findings": findings(r, m)})


@pytest.mark.parametrize(("share", "words"), [
    (0.75, "Most of the months after go-live (75%) are provisional figures that may still be revised."),
    (1.0, "Every month after go-live is a provisional figure that may still be revised."),
])
def test_most_months_provisional_is_said_in_the_headline(share, words):
    m = _with_share(share)
    assert m.provisional_share_post == share
    assert m.findings.headline.endswith(words)
    assert m.findings.headline.count(".") >= 2  # the finding itself is still there, before the clause


@pytest.mark.parametrize("share", [None, 0.0, 0.5])
def test_half_or_fewer_provisional_months_add_nothing(share):
    assert "provisional" not in _with_share(share).findings.headline
