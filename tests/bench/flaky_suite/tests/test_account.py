import threading

from app.account import Account


def test_parallel_deposits_all_land():
    account = Account()
    workers = [threading.Thread(target=account.deposit_many, args=(1000,)) for _ in range(4)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert account.balance == 4000
