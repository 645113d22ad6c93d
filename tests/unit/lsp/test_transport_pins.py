"""The private parts of pygls that aqe.lsp.transport overrides or reads are still there, with the
parameters it passes. A pygls upgrade that changes them fails here, by name, instead of as a server
that stops answering."""

from __future__ import annotations

import inspect
from importlib.metadata import version

import pytest
from pygls.protocol import JsonRPCProtocol
from pygls.protocol.language_server import LanguageServerProtocol

from aqe.lsp.transport.protocol import AqeProtocol

WRITTEN_AGAINST = ("2.1",)
"""pygls minor versions the transport was written and tested against (pyproject.toml pins them)."""

OVERRIDDEN_METHODS = {
    # name: the parameters (after self) the override relies on
    "_handle_response": ["msg_id", "result", "error"],
    "_send_data": ["data"],
    "structure_message": ["data"],
    "handle_message": ["message"],
    "lsp_shutdown": ["args"],
}
CALLED_METHODS = ("_serialize_message", "_send_response")
INSTANCE_ATTRIBUTES = ("_converter", "_shutdown", "_request_futures", "_result_types")


def test_pygls_is_a_version_the_transport_was_written_against():
    installed = version("pygls")
    assert installed.startswith(WRITTEN_AGAINST), (
        f"pygls {installed} is installed; aqe.lsp.transport was written against {WRITTEN_AGAINST}: "
        "check every member listed in this test before widening the pin"
    )


@pytest.mark.parametrize("name", sorted(OVERRIDDEN_METHODS))
def test_each_overridden_method_exists_in_pygls_with_the_same_parameters(name: str):
    base = LanguageServerProtocol if name == "lsp_shutdown" else JsonRPCProtocol
    assert name in vars(base) or hasattr(base, name), f"pygls no longer has {base.__name__}.{name}"
    parameters = [p for p in inspect.signature(getattr(base, name)).parameters if p != "self"]
    assert parameters == OVERRIDDEN_METHODS[name], f"{base.__name__}.{name}{inspect.signature(getattr(base, name))}"
    assert name in vars(AqeProtocol), f"AqeProtocol no longer overrides {name}: update this list"


@pytest.mark.parametrize("name", CALLED_METHODS)
def test_each_private_method_the_transport_calls_exists(name: str):
    assert callable(getattr(JsonRPCProtocol, name, None)), f"pygls no longer has JsonRPCProtocol.{name}"


@pytest.mark.parametrize("name", INSTANCE_ATTRIBUTES)
def test_each_private_attribute_the_transport_reads_is_set_by_pygls(name: str):
    source = inspect.getsource(JsonRPCProtocol) + inspect.getsource(LanguageServerProtocol)
    assert f"self.{name} =" in source or f"self.{name}: " in source, f"pygls no longer sets {name}"
