import threading
from concurrent.futures import ThreadPoolExecutor

from shop.inventory import Stock, Tally, session_for


def test_stock_is_never_oversold():
    stock = Stock(50)
    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(lambda _: stock.take(), range(80)))
    assert stock.count >= 0 and results.count(True) == 50


def test_tally_of_parallel_sales():
    tally = Tally()

    def sell():
        for _ in range(500):
            tally.add(1)

    threads = [threading.Thread(target=sell) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert tally.total == 2000


def test_one_session_per_user():
    seen = []
    threads = [threading.Thread(target=lambda: seen.append(session_for("dana"))) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len({id(session) for session in seen}) == 1


def test_stock_sold_in_one_thread():
    stock = Stock(5)
    sold = [stock.take() for _ in range(8)]
    assert sold.count(True) == 5 and stock.count == 0


def test_tally_in_one_thread():
    tally = Tally()
    for amount in (3, 4, 5):
        tally.add(amount)
    assert tally.total == 12
