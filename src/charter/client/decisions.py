"""The decision log over ``/api/v1/models/{model}/decisions``: log, record outcomes, search, export.

``log_decisions`` sends any number of decisions in batches of up to 10,000; ``log_model_decision``
logs one (the framework's name); ``decision_logger`` wraps a predict function so that every call
is logged. Values may be NumPy scalars or arrays (they are sent as JSON numbers and lists).
"""

from __future__ import annotations

import atexit
import functools
import inspect
import secrets
import threading
import time
import warnings
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, Literal, ParamSpec, TypeVar

import orjson

from charter.client.base import ClientBase, Moment, iso, paginate, plain, query, segment
from charter.decisions.schemas import (
    MAX_BATCH,
    BatchResult,
    DecisionRead,
    OutcomeRead,
    PerformanceRead,
    Treatment,
)
from charter.errors import CharterError
from charter.pagination import Page

Params = ParamSpec("Params")
Result = TypeVar("Result")


def new_decision_id() -> str:
    """A fresh decision id: 16 hex digits of the time in nanoseconds, then 16 random ones.

    Ids that grow with time keep the server's (model, decision id) index appending at its end;
    random ones (uuid4) would touch a different page of it for every decision.
    """
    return f"{time.time_ns():016x}{secrets.token_hex(8)}"


def _path(model: str | int) -> str:
    return f"/api/v1/models/{segment(model)}/decisions"


def _json(value: Any) -> str | None:
    return None if value is None else orjson.dumps(plain(value)).decode()


class DecisionsAPI(ClientBase):
    # -- logging --------------------------------------------------------------------------------

    def log_decisions(
        self,
        model: str | int,
        decisions: Iterable[Mapping[str, Any]],
        *,
        personal_fields: Sequence[str] = (),
        batch_size: int = MAX_BATCH,
    ) -> BatchResult:
        """Log decisions, ``batch_size`` (at most 10,000) per request; the counts are summed.

        Each decision is a mapping with ``decision_id``, ``version``, ``inputs``, ``output`` and
        optionally ``score``, ``explanation`` (``{"text", "attributions"}``), ``subject``,
        ``sensitive_attributes`` and ``decided_at``. ``personal_fields`` names the input fields
        that hold personal data. Batches are stored one by one: if one is refused, those before it
        stay logged, and sending everything again is safe (decisions logged exactly as sent are
        skipped as duplicates).
        """
        if not 1 <= batch_size <= MAX_BATCH:
            raise ValueError(f"batch_size must be between 1 and {MAX_BATCH}")
        total = BatchResult(model=str(model), received=0, stored=0, duplicates=0)
        treatment: dict[str, Treatment] = {}
        batch: list[Mapping[str, Any]] = []

        def send() -> None:
            body = plain({"decisions": batch, "personal_fields": list(personal_fields)})
            result = self._post(BatchResult, _path(model), body)
            total.model = result.model
            total.received += result.received
            total.stored += result.stored
            total.duplicates += result.duplicates
            treatment.update(result.treatment)
            batch.clear()

        for decision in decisions:
            batch.append(decision)
            if len(batch) == batch_size:
                send()
        if batch:
            send()
        total.treatment = treatment
        return total

    def log_model_decision(
        self,
        model: str | int,
        *,
        version: str,
        inputs: Mapping[str, Any],
        output: Any,
        score: float | None = None,
        decision_id: str | None = None,
        explanation: str | Mapping[str, Any] | None = None,
        subject: str | None = None,
        sensitive_attributes: Mapping[str, Any] | None = None,
        personal_fields: Sequence[str] = (),
        decided_at: Moment | None = None,
    ) -> str:
        """Log one decision and return its id (``new_decision_id()`` when ``decision_id`` is not given).

        ``explanation`` is a sentence, or ``{"text": ..., "attributions": {feature: weight}}``.
        """
        decision_id = decision_id or new_decision_id()
        item = decision_item(
            decision_id=decision_id,
            version=version,
            inputs=inputs,
            output=output,
            score=score,
            explanation=explanation,
            subject=subject,
            sensitive_attributes=sensitive_attributes,
            decided_at=decided_at,
        )
        self.log_decisions(model, [item], personal_fields=personal_fields)
        return decision_id

    def decision_logger(
        self,
        model: str | int,
        *,
        version: str,
        personal_fields: Sequence[str] = (),
        subject: str | Callable[[dict[str, Any]], str | None] | None = None,
        sensitive_attributes: Callable[[dict[str, Any]], Mapping[str, Any] | None] | None = None,
        inputs: Callable[..., Mapping[str, Any]] | None = None,
        batch_size: int = 1,
        on_error: Literal["raise", "warn"] = "raise",
    ) -> DecisionLogger:
        """A decorator that logs every call of a predict function as a decision (see ``DecisionLogger``)."""
        return DecisionLogger(
            self,
            model,
            version=version,
            personal_fields=personal_fields,
            subject=subject,
            sensitive_attributes=sensitive_attributes,
            inputs=inputs,
            batch_size=batch_size,
            on_error=on_error,
        )

    def record_outcome(
        self,
        model: str | int,
        decision_id: str,
        outcome: Any,
        *,
        observed_at: Moment | None = None,
        replace: bool = False,
    ) -> OutcomeRead:
        """Attach the ground truth to a logged decision; a different outcome needs ``replace=True``."""
        body: dict[str, Any] = {"outcome": plain(outcome), "replace": replace}  # null is an outcome too
        if observed_at is not None:
            body["observed_at"] = iso(observed_at)
        return self._post(OutcomeRead, f"{_path(model)}/{segment(decision_id)}/outcome", body)

    def decision_performance(
        self,
        model: str | int,
        version: str,
        *,
        positive_output: Any,
        positive_outcome: Any = None,
        since: Moment | None = None,
        until: Moment | None = None,
        window: str = "1d",
    ) -> PerformanceRead:
        """Accuracy, precision, recall, AUC and calibration per ``window`` ("1h", "1d", "1w", ...) over the
        version's logged decisions whose outcome is known (audited as a read)."""
        params = query(
            version=version,
            positive_output=orjson.dumps(plain(positive_output)).decode(),
            positive_outcome=None if positive_outcome is None else orjson.dumps(plain(positive_outcome)).decode(),
            since=None if since is None else iso(since),
            until=None if until is None else iso(until),
            window=window,
        )
        return self._get(PerformanceRead, f"{_path(model)}/performance", params)

    # -- reading --------------------------------------------------------------------------------

    def decision_page(
        self,
        model: str | int,
        *,
        since: Moment | None = None,
        until: Moment | None = None,
        version: str | None = None,
        subject: str | None = None,
        has_outcome: bool | None = None,
        output: Any = None,
        decision_id: str | None = None,
        reveal: bool = False,
        attributes: bool | None = None,
        cursor: str | None = None,
        limit: int | None = None,
    ) -> Page[DecisionRead]:
        """One page of decisions, newest first. ``output`` is matched as a JSON value. Every call is
        recorded in the audit trail (``reveal`` as a reveal)."""
        params = _filters(since, until, version, subject, has_outcome, output, decision_id)
        params.update(query(reveal=reveal or None, attributes=attributes, cursor=cursor, limit=limit))
        return self._get(Page[DecisionRead], _path(model), params)

    def decisions(
        self,
        model: str | int,
        *,
        since: Moment | None = None,
        until: Moment | None = None,
        version: str | None = None,
        subject: str | None = None,
        has_outcome: bool | None = None,
        output: Any = None,
        decision_id: str | None = None,
        reveal: bool = False,
        attributes: bool | None = None,
        page_size: int | None = None,
    ) -> Iterator[DecisionRead]:
        """Every matching decision, newest first, page by page (each page read is audited)."""
        return paginate(
            lambda cursor: self.decision_page(
                model,
                since=since,
                until=until,
                version=version,
                subject=subject,
                has_outcome=has_outcome,
                output=output,
                decision_id=decision_id,
                reveal=reveal,
                attributes=attributes,
                cursor=cursor,
                limit=page_size,
            )
        )

    def export_decisions(
        self,
        model: str | int,
        *,
        since: Moment | None = None,
        until: Moment | None = None,
        version: str | None = None,
        subject: str | None = None,
        has_outcome: bool | None = None,
        output: Any = None,
        decision_id: str | None = None,
        reveal: bool = False,
        attributes: bool | None = None,
    ) -> Iterator[DecisionRead]:
        """Every matching decision, oldest first, streamed as the server sends it (one audited export)."""
        params = _filters(since, until, version, subject, has_outcome, output, decision_id)
        params.update(query(reveal=reveal or None, attributes=attributes))
        path = _path(model) + "/export"
        with self._transport.stream("GET", path, params=params) as response:
            for line in response.iter_lines():
                if not line.strip():
                    continue
                try:
                    yield DecisionRead.model_validate_json(line)
                except ValueError as exc:
                    raise CharterError(f"GET {path} sent a line that is not a decision: {line[:200]!r}") from exc


def _filters(
    since: Moment | None,
    until: Moment | None,
    version: str | None,
    subject: str | None,
    has_outcome: bool | None,
    output: Any,
    decision_id: str | None,
) -> dict[str, Any]:
    return query(
        since=iso(since),
        until=iso(until),
        version=version,
        subject=subject,
        has_outcome=has_outcome,
        output=_json(output),
        decision_id=decision_id,
    )


def decision_item(
    *,
    decision_id: str,
    version: str,
    inputs: Mapping[str, Any],
    output: Any,
    score: float | None = None,
    explanation: str | Mapping[str, Any] | None = None,
    subject: str | None = None,
    sensitive_attributes: Mapping[str, Any] | None = None,
    decided_at: Moment | None = None,
) -> dict[str, Any]:
    """One decision as ``log_decisions`` sends it."""
    if isinstance(explanation, str):
        explanation = {"text": explanation}
    item: dict[str, Any] = {"decision_id": decision_id, "version": version, "inputs": dict(inputs), "output": output}
    item.update(
        query(
            score=score,
            explanation=explanation,
            subject=subject,
            sensitive_attributes=sensitive_attributes,
            decided_at=iso(decided_at),
        )
    )
    return item


def _split(result: Any) -> tuple[Any, Any]:
    """(output, score) of what a predict function returned: a pair is (output, score), anything else the output."""
    if isinstance(result, tuple) and len(result) == 2:
        return result[0], result[1]
    return result, None


class DecisionLogger:
    """Logs each call of the functions it decorates as a decision of ``model`` at ``version``.

    The wrapped function returns exactly what it returned before. Its result is read as
    ``(output, score)`` when it is a pair, otherwise as the output with no score. The inputs are
    the one mapping the function was called with, or else its arguments by name (``self`` left
    out); pass ``inputs=`` (called with the same arguments) to choose them yourself. ``subject``
    is an input field naming the data subject, or a function of the inputs; ``sensitive_attributes``
    a function of the inputs.

    With ``batch_size=1`` (the default) each call is logged before it returns. With a larger
    ``batch_size`` decisions are buffered and sent when the buffer is full, on ``flush()``, at the
    end of a ``with`` block, and (as a last resort) when the interpreter exits; call ``flush()``
    before closing the client. ``on_error="raise"`` (the default) lets a failure to log reach the
    caller, so no decision goes unlogged unnoticed; ``"warn"`` issues a warning and returns the
    result. Decisions that could not be sent stay buffered and are sent again at the next flush
    (safe: the server skips decisions logged exactly as sent), up to ``max_buffer`` of them.
    """

    def __init__(
        self,
        client: DecisionsAPI,
        model: str | int,
        *,
        version: str,
        personal_fields: Sequence[str] = (),
        subject: str | Callable[[dict[str, Any]], str | None] | None = None,
        sensitive_attributes: Callable[[dict[str, Any]], Mapping[str, Any] | None] | None = None,
        inputs: Callable[..., Mapping[str, Any]] | None = None,
        batch_size: int = 1,
        on_error: Literal["raise", "warn"] = "raise",
        max_buffer: int = 100_000,
    ) -> None:
        if not 1 <= batch_size <= MAX_BATCH:
            raise ValueError(f"batch_size must be between 1 and {MAX_BATCH}")
        self.client = client
        self.model = model
        self.version = version
        self.personal_fields = tuple(personal_fields)
        self.subject = subject
        self.sensitive_attributes = sensitive_attributes
        self.inputs = inputs
        self.batch_size = batch_size
        self.on_error = on_error
        self.max_buffer = max(max_buffer, batch_size)
        self._buffer: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        if batch_size > 1:
            atexit.register(self._flush_at_exit)

    def __call__(self, function: Callable[Params, Result]) -> Callable[Params, Result]:
        signature = inspect.signature(function)

        @functools.wraps(function)
        def logged(*args: Params.args, **kwargs: Params.kwargs) -> Result:
            result = function(*args, **kwargs)
            seen = self._inputs_of(signature, args, kwargs)
            output, score = _split(result)
            self.record(seen, output, score)
            return result

        return logged

    def _inputs_of(self, signature: inspect.Signature, args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[str, Any]:
        if self.inputs is not None:
            return dict(self.inputs(*args, **kwargs))
        if len(args) == 1 and not kwargs and isinstance(args[0], Mapping):
            return dict(args[0])
        bound = signature.bind(*args, **kwargs)
        bound.apply_defaults()
        return {name: value for name, value in bound.arguments.items() if name not in ("self", "cls")}

    def record(self, inputs: dict[str, Any], output: Any, score: Any = None) -> None:
        """Log one decision (or buffer it) as the decorated function does."""
        if isinstance(self.subject, str):
            subject = inputs.get(self.subject)
        elif self.subject is not None:
            subject = self.subject(inputs)
        else:
            subject = None
        attributes = self.sensitive_attributes(inputs) if self.sensitive_attributes is not None else None
        item = decision_item(
            decision_id=new_decision_id(),
            version=self.version,
            inputs=plain(inputs),
            output=plain(output),
            score=None if score is None else float(score),
            subject=None if subject is None else str(subject),
            sensitive_attributes=attributes,
            decided_at=iso(datetime.now(UTC)),
        )
        with self._lock:
            self._buffer.append(item)
            if len(self._buffer) > self.max_buffer:
                dropped = len(self._buffer) - self.max_buffer
                del self._buffer[:dropped]
                warnings.warn(f"decision log buffer full: {dropped} unsent decisions dropped", stacklevel=2)
            if len(self._buffer) >= self.batch_size:
                self._send()

    def flush(self) -> None:
        """Send every buffered decision now."""
        with self._lock:
            self._send()

    def _send(self) -> None:
        while self._buffer:
            batch = self._buffer[:MAX_BATCH]
            try:
                self.client.log_decisions(self.model, batch, personal_fields=self.personal_fields)
            except CharterError as exc:
                if self.on_error == "raise":
                    raise
                warnings.warn(f"could not log {len(batch)} decisions (kept for the next flush): {exc}", stacklevel=3)
                return
            del self._buffer[: len(batch)]

    def _flush_at_exit(self) -> None:
        try:
            self.flush()
        except Exception as exc:  # at exit there is nobody left to raise to
            warnings.warn(f"decision log: {len(self._buffer)} decisions not sent at exit: {exc}", stacklevel=1)

    def __enter__(self) -> DecisionLogger:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.flush()
