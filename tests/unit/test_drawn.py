"""studio.drawn: a view is drawn again exactly when a session field it read changed: a value,
an item edited in place in a list or dict, or an object replaced by another (even an equal
one); fields it did not read never make it draw again."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

from studio.drawn import READS, PageMemory, forget_session, memory_of

pytestmark = pytest.mark.unit


@dataclass(eq=False)
class Toy:
    name: str = "a"
    items: dict[str, list[int]] = field(default_factory=lambda: {"x": [1]})
    thing: object = field(default_factory=object)
    unread: int = 0

    def __getattribute__(self, attr: str) -> Any:  # as studio.session.Session records reads
        reads = READS.get()
        if reads is not None:
            reads.add(attr)
        return object.__getattribute__(self, attr)


def view(toy: Toy) -> tuple:
    return (toy.name, sum(toy.items["x"]), id(toy.thing))


@pytest.mark.parametrize(
    "change, redraws",
    [
        (lambda t: None, False),
        (lambda t: setattr(t, "unread", 5), False),  # a field the view never read
        (lambda t: setattr(t, "name", "a"), False),  # the same value again
        (lambda t: setattr(t, "name", "b"), True),
        (lambda t: t.items["x"].append(2), True),  # edited in place
        (lambda t: t.items.update(y=[]), True),
        (lambda t: setattr(t, "thing", object()), True),  # another object
    ],
)
def test_a_view_is_drawn_again_exactly_when_what_it_read_changed(change, redraws):
    toy, memory = Toy(), PageMemory()
    assert not memory.unchanged(0, toy)  # never drawn
    assert memory.draw(0, toy, view) == view(toy)
    assert memory.unchanged(0, toy)
    change(toy)
    assert memory.unchanged(0, toy) is not redraws


def test_an_object_is_held_not_its_id_and_forgetting_drops_it():
    toy = Toy()
    memory = memory_of(toy)
    held = toy.thing
    memory.draw(0, toy, view)
    toy.thing = object()  # the old one lives on in the memory: its id cannot be reused
    assert not memory.unchanged(0, toy)
    assert any(getattr(t, "obj", None) is held for _, t in memory._seen[0])
    forget_session(toy)
    assert not memory.unchanged(0, toy) and memory._seen == {}
