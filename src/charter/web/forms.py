"""The dashboard's form actions: parse what was typed, call one service, and either go on or refuse in place.

Every action route repeats the same shape: a form the schema refuses and a change the service refuses
both come back on the page they were typed on, in words the page can show; anything else (a denial
above all) goes on to the one error renderer, which audits it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TypeVar

from fastapi.responses import Response
from pydantic import ValidationError

from charter.errors import CharterError, Conflict, InvalidInput, NotFound

# Refusals shown on the form itself; anything else (a denial above all) goes to the error renderer.
FORM_ERRORS = (InvalidInput, Conflict, NotFound)

T = TypeVar("T")


def submit(
    parse: Callable[[], T],
    act: Callable[[T], Response],
    *,
    refuse: Callable[[CharterError], Response],
    explain: Callable[[ValidationError], str],
) -> Response:
    """``act`` on what ``parse`` built; a schema's refusal (in ``explain``'s words) or a service's goes to ``refuse``.

    ``refuse`` rolls back whatever the service had begun: nothing of a refused change is kept.
    """
    try:
        data = parse()
    except ValidationError as exc:
        return refuse(InvalidInput(explain(exc)))
    try:
        return act(data)
    except FORM_ERRORS as exc:
        return refuse(exc)


def labelled(labels: Mapping[str, str]) -> Callable[[ValidationError], str]:
    """An ``explain`` for ``submit``: each problem as ``Label: what is wrong.``, never echoing the input.

    ``labels`` names the form's fields as the page shows them (a field without one keeps its name).
    """

    def explain(exc: ValidationError) -> str:
        problems = []
        for problem in exc.errors():
            field = str(problem["loc"][0]) if problem["loc"] else ""
            problems.append(f"{labels.get(field, field)}: {problem['msg']}.")
        return " ".join(problems)

    return explain
