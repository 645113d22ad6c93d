from app.weights import shares


def test_region_shares_add_up_to_one():
    assert sum(shares().values()) == 1.0
