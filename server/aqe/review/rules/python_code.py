"""(rules of this module are being written)"""

from aqe.review.rules.base import Rule

RULES: list[type[Rule]] = []
