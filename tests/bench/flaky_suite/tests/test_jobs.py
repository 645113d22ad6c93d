import time

from app.jobs import start_job


def test_background_job_is_done_after_a_moment():
    job = start_job()
    time.sleep(0.008)
    assert job.done
