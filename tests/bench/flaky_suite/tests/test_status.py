import urllib.request

from app.status import start_server


def test_status_page_answers_quickly():
    url = start_server()
    with urllib.request.urlopen(url, timeout=0.04) as response:
        assert response.status == 200
