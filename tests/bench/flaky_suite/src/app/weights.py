_SHARES = {"north": 0.1, "south": 0.7, "west": 0.2}


def shares() -> dict[str, float]:
    """Region shares, in the order of a set of names (which follows the process's hash seed)."""
    return {region: _SHARES[region] for region in set(_SHARES)}
