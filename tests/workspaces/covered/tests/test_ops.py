from calc.ops import add, classify


def test_add():
    assert add(2, 3) == 5


def test_classify_positive():
    assert classify(4) == "positive"
