import math
import random
import time


def test_addition():
    assert 2 + 2 == 4


def test_sorted_names():
    assert sorted(["bob", "ann", "cid"]) == ["ann", "bob", "cid"]


def test_string_formatting():
    assert f"{3.14159:.2f}" == "3.14"


def test_dict_lookup():
    assert {"a": 1}["a"] == 1


def test_waits_but_does_not_depend_on_it():
    time.sleep(0.01)
    assert True


def test_float_with_tolerance():
    assert math.isclose(0.1 + 0.2, 0.3)


def test_seeded_random_is_repeatable():
    assert random.Random(7).random() == random.Random(7).random()


def test_known_bug():
    assert 1 + 1 == 3
