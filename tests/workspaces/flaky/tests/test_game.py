import random


def test_stable():
    assert True


def test_coin():
    assert random.random() < 0.5
