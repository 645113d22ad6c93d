import random

DECK = list(range(1, 11))


def test_two_cards_stay_under_the_limit():
    hand = random.sample(DECK, 2)
    assert sum(hand) <= 13
