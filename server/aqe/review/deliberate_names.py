"""Class names chosen on purpose, which a naming convention must not count as a style slip."""

from __future__ import annotations

import re

from tree_sitter import Node

_LOWER_ALIAS = re.compile(r"^_*[a-z][a-z0-9_]*$")
_C_STRUCTURES = frozenset({"Structure", "Union", "BigEndianStructure", "LittleEndianStructure"})


def deliberately_named(name: str, node: Node) -> bool:
    """A lower-case class mirroring a function-like API (`cached_property`), a test class named after
    what it tests (`Test_parse_date`) or a ctypes structure named after its C struct: on purpose."""
    bases = node.child_by_field_name("superclasses")
    base_names = (
        {(b.text or b"").decode("utf-8", "replace").rsplit(".", 1)[-1] for b in bases.named_children}
        if bases
        else set()
    )
    return bool(_LOWER_ALIAS.match(name) or name.startswith("Test") or base_names & _C_STRUCTURES)
