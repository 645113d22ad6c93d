"""A script that does its work at import: aqe must say it cannot be imported, and write nothing."""

raise SystemExit("this module is a script; run it, do not import it")


def summarise(numbers: list[int]) -> int:
    return sum(numbers)
