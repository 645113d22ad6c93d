import json
import os
import resource

import pytest
from shop.files import busy_connections, connections, open_exports, save_receipt, spool_folder, write_in_background


@pytest.fixture
def low_file_limit():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (64, hard))
    yield
    resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def test_exports_are_writable(low_file_limit):
    handles = open_exports()
    assert all(handle.writable() for handle in handles)


def test_connections_for_busy_hour(low_file_limit):
    pairs = connections(busy_connections())
    assert all(left.fileno() > 0 for left, _ in pairs)


def test_exports_closed_after_use(tmp_path):
    for index in range(100):
        with open(tmp_path / f"e{index}.csv", "w") as handle:
            handle.write("x")
    assert len(os.listdir(tmp_path)) == 100


def test_receipt_can_be_read_back(tmp_path):
    path = save_receipt(str(tmp_path), 12)
    with open(path) as handle:
        assert json.load(handle)["number"] == 12


def test_document_is_complete(tmp_path):
    path = tmp_path / "doc.json"
    write_in_background(str(path))
    assert json.loads(path.read_text())["items"] == [1, 2, 3]


def test_spool_folder_is_created(tmp_path):
    folder = spool_folder(str(tmp_path))
    os.mkdir(folder)
    assert os.path.isdir(folder)


def test_receipt_written(tmp_path):
    path = tmp_path / "r.json"
    path.write_text(json.dumps({"number": 3}))
    assert json.loads(path.read_text()) == {"number": 3}


def test_spool_folder_is_created_if_missing(tmp_path):
    folder = spool_folder(str(tmp_path))
    os.makedirs(folder, exist_ok=True)
    assert os.path.isdir(folder)
