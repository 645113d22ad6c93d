import random
import threading
import time


class Job:
    def __init__(self) -> None:
        self.done = False

    def _run(self, seconds: float) -> None:
        time.sleep(seconds)
        self.done = True


def start_job() -> Job:
    """A background job; on a busy machine it takes anywhere from 2 to 14 ms."""
    job = Job()
    threading.Thread(target=job._run, args=(random.uniform(0.002, 0.014),), daemon=True).start()
    return job
