import resource

from app.logs import rotated_logs


def test_every_rotated_log_can_be_opened():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (64, hard))
    try:
        handles = [open(path) for path in rotated_logs()]  # noqa: SIM115 - the leak is what this test seeds
        assert all(not handle.closed for handle in handles)
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
