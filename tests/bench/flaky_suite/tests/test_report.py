from datetime import datetime

from app.report import render


def test_report_is_stamped_within_one_second():
    started = datetime.now()
    render()
    assert datetime.now().second == started.second
