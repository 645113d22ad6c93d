"""The hand labels behind the measured precision stay well-formed (tests/bench/precision_labels.tsv)."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

from aqe.review.confidence import RULE_PRECISION

LABELS = Path(__file__).resolve().parents[2] / "bench" / "precision_labels.tsv"
_KEY = re.compile(r"^[\w.-]+:[^:\t]+:\d+:(QE\d{3}|convention/[\w.-]+)$")


def _rows() -> list[list[str]]:
    lines = LABELS.read_text(encoding="utf-8").splitlines()
    return [line.split("\t") for line in lines if line.strip() and not line.startswith("#")]


def test_every_label_has_a_key_a_verdict_and_a_reason() -> None:
    rows = _rows()
    assert len(rows) >= 300
    for row in rows:
        assert len(row) == 3, row
        key, verdict, why = row
        assert _KEY.match(key), key
        assert verdict in ("TRUE", "FALSE", "DEBATABLE"), row
        assert len(why.split()) >= 3, row


def test_each_finding_is_labelled_once() -> None:
    duplicates = [key for key, count in Counter(row[0] for row in _rows()).items() if count > 1]
    assert duplicates == []


def test_the_priors_in_code_do_not_claim_more_labels_than_the_file_has() -> None:
    verdicts = Counter((row[0].rsplit(":", 1)[1], row[1]) for row in _rows())
    for rule_id, measured in RULE_PRECISION.items():
        assert measured.true <= verdicts[(rule_id, "TRUE")], rule_id
        assert measured.false <= verdicts[(rule_id, "FALSE")], rule_id
        assert measured.debatable <= verdicts[(rule_id, "DEBATABLE")], rule_id
