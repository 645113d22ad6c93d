import http.client
import socket

import pytest
from shop.remote import shout, start_echo_service, start_inventory_service, stock_level


@pytest.fixture
def inventory():
    return start_inventory_service()


@pytest.fixture
def echo():
    return start_echo_service()


def test_stock_level_is_available(inventory):
    assert stock_level(*inventory) == 200


def test_echo_shouts(echo):
    assert shout(*echo, "hi") == "HI"


def test_inventory_answers_json(inventory):
    connection = http.client.HTTPConnection(*inventory, timeout=0.04)
    connection.request("GET", "/stock")
    assert connection.getresponse().read().startswith(b"{")


def test_inventory_answers_with_patience(inventory):
    connection = http.client.HTTPConnection(*inventory, timeout=10)
    connection.request("GET", "/stock")
    assert connection.getresponse().status == 200


def test_echo_with_patience(echo):
    with socket.create_connection(echo, timeout=10) as client:
        client.sendall(b"ok")
        assert client.recv(64) == b"OK"


def test_socket_pair_round_trip():
    left, right = socket.socketpair()
    with left, right:
        left.sendall(b"ping")
        assert right.recv(4) == b"ping"
