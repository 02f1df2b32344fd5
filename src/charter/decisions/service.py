"""Decision-log services: log batches of decisions, record outcomes, search and export.

Each function authorizes the acting principal in the model's team scope and records one audit
event in the same transaction: one per batch logged (never one per decision), one per search or
export (with its filters and how many decisions it returned). Events name the decision log of a
model (``decision_log``, model id), apart from the model's own history. Services flush; the caller
commits.

Personal data (see ``pseudonyms``): the input fields a batch names as personal are replaced by a
keyed pseudonym, or encrypted when a dataset linked to the deciding version is special-category
data; data-subject references are always pseudonymised. Raw values are never stored, logged or
audited.

Preparing a batch (pseudonyms, encryption, JSON, digests) needs no lock: ``prepare_decisions`` does
it between a reading transaction (``batch_target``) and the writing one (``log_decisions``), so a
SQLite writer holds the database's write lock only while it writes (see ``prepare_decisions``).

Duplicate ids: a decision id is unique per model. Re-sending a decision exactly as it was logged
is not an error: it is skipped and counted as a duplicate, so a client may retry a batch whose
answer it lost. A different decision under an id already logged is refused (409, naming the ids)
and nothing of its batch is stored. An id repeated inside one batch is refused (422).
"""

from __future__ import annotations

import re
import typing
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

import orjson
from sqlalchemy import Connection, Select, String, Table, Text, and_, any_, bindparam, cast, func, or_, select
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from charter.audit import service as audit
from charter.db.base import utcnow
from charter.db.bulk import BulkWrite, Row
from charter.decisions.models import DecisionAttributesRow, DecisionRow, dumps, subject_match
from charter.decisions.parquet import Filter, ParquetLog, parse_cursor
from charter.decisions.pseudonyms import DecisionKeys, aad_prefix
from charter.decisions.schemas import (
    BatchResult,
    DecisionBatch,
    DecisionFilter,
    DecisionIn,
    DecisionRead,
    Explanation,
    Outcome,
    OutcomeRead,
    PerformanceRead,
    PerformanceWindow,
    Treatment,
)
from charter.errors import Conflict, InvalidInput, NotFound, named_list
from charter.gcpause import paused
from charter.incidents.service import suspended_versions
from charter.inventory.models import DatasetRow, ModelRow, ModelVersionRow, VersionDatasetRow
from charter.inventory.service import get_model_row, get_version_row, scope_of, version_ids
from charter.monitoring.service import mark_ingested
from charter.pagination import Page, clamp_limit
from charter.security.permissions import Permission
from charter.security.principal import Principal, authorize

P = Permission
RESOURCE = "decision_log"
EXPORT_BATCH = 2_000
# Ids named in a refusal: enough to act on, not a 10,000-id message.
_NAMED = 20

_DECISIONS = typing.cast(Table, DecisionRow.__table__)
_ATTRIBUTES = typing.cast(Table, DecisionAttributesRow.__table__)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_CURSOR = re.compile(r"^(-?\d{1,20})_(\d{1,20})$")


def _named(ids: Sequence[str]) -> str:
    return named_list([repr(i) for i in ids], _NAMED)


# -- where a batch is written -----------------------------------------------------------------------

# The columns of a logged decision, in the order ``log_decisions`` prepares them (the sink adds the
# id): plain values (text, numbers, None), JSON already encoded, times as UTC text both databases read.
COLUMNS = (
    "model_id",
    "version_id",
    "decision_key",
    "decided_at",
    "subject_ref",
    "inputs",
    "personal_fields",
    "output",
    "score",
    "explanation",
    "digest",
    "created_at",
    "created_by",
)
_SUBJECT = COLUMNS.index("subject_ref")


def stamp(moment: datetime) -> str:
    """A time as stored: UTC, ``YYYY-MM-DD HH:MM:SS.ffffff`` (SQLAlchemy's SQLite format; PostgreSQL parses it)."""
    offset = moment.utcoffset()  # None: no zone, taken as UTC
    moment = moment.replace(tzinfo=None)
    return (moment - offset if offset else moment).isoformat(" ", "microseconds")


_EPOCH_NAIVE = datetime(1970, 1, 1)


def stamps(moments: Sequence[datetime | None], *, default: str) -> list[str]:
    """:func:`stamp` of each time (``default`` for None), for a batch: each distinct second is formatted
    once (a batch's decisions share their seconds) and the microseconds appended, at 0.8 us a time
    against 1.9 us. ``OverflowError`` if one is outside the years 1 to 9999 in UTC, as with ``stamp``."""
    seconds: dict[tuple[int, int], str] = {}
    found: list[str] = []
    append = found.append
    for moment in moments:
        if moment is None:
            append(default)
            continue
        try:
            since = moment - (_EPOCH_NAIVE if moment.tzinfo is None else _EPOCH)
        except TypeError:  # a zone that gives no offset: taken as UTC, as ``stamp`` does
            since = moment.replace(tzinfo=None) - _EPOCH_NAIVE
        key = (since.days, since.seconds)
        text = seconds.get(key)
        if text is None:
            text = seconds[key] = stamp(_EPOCH + timedelta(days=since.days, seconds=since.seconds))[:19]
        append(f"{text}.{since.microseconds:06d}")
    return found


class DecisionSink(Protocol):
    """Where a prepared batch goes: the database (``DATABASE``) or Parquet files (``parquet.ParquetLog``).

    ``write`` takes ``rows`` in ``COLUMNS`` order, all of one model; ``attributes[i]``, the sensitive
    attributes of ``rows[i]`` as JSON text, or None. ``stored_digests`` says which of a batch's ids
    are logged already (``days``: the ``YYYY-MM-DD`` dates the batch's decisions fall on).
    """

    def stored_digests(
        self, session: Session, model_id: int, keys: list[str], days: Iterable[str]
    ) -> dict[str, str]: ...

    def write(self, session: Session, rows: list[Row], attributes: list[str | None]) -> None: ...


class DatabaseSink:
    """One bulk write per table per batch (``charter.db.bulk``), no ORM objects.

    When a batch has sensitive attributes, ids are allocated first, so that the attributes can name
    their decision without a round trip per row; otherwise the database numbers the rows itself
    (the same numbers: the next after the largest, or the sequence).
    """

    def __init__(self) -> None:
        self._plain = BulkWrite(_DECISIONS.insert().inline(), COLUMNS)
        self._numbered = BulkWrite(_DECISIONS.insert().inline(), ("id", *COLUMNS))
        self._attached = BulkWrite(_ATTRIBUTES.insert().inline(), ("decision_id", "attributes"))

    @staticmethod
    def _ids(connection: Connection, count: int) -> Sequence[int]:
        if connection.dialect.name == "sqlite":
            # A writing SQLite transaction holds the database's write lock (BEGIN IMMEDIATE): nobody
            # else can take the ids after the largest until it ends.
            last = connection.execute(select(func.max(_DECISIONS.c.id))).scalar() or 0
            return range(last + 1, last + 1 + count)
        sequence = "SELECT nextval(pg_get_serial_sequence('decisions', 'id')) FROM generate_series(1, %(n)s)"
        return [int(i) for i in connection.exec_driver_sql(sequence, {"n": count}).scalars()]

    def stored_digests(self, session: Session, model_id: int, keys: list[str], days: Iterable[str]) -> dict[str, str]:
        return _stored_digests(session, model_id, keys)  # ids are unique per model for all time here

    def write(self, session: Session, rows: list[Row], attributes: list[str | None]) -> None:
        connection = session.connection()
        # In subject order: the subject index is the one whose keys (pseudonyms) are random, and
        # inserting them sorted touches each of its pages once, not once per decision.
        order = sorted(range(len(rows)), key=lambda i: rows[i][_SUBJECT] or "")
        if not any(a is not None for a in attributes):
            self._plain.write(connection, [rows[i] for i in order])
            return
        ids = self._ids(connection, len(rows))
        self._numbered.write(connection, [(ids[k], *rows[i]) for k, i in enumerate(order)])
        linked = [(ids[k], attributes[i]) for k, i in enumerate(order) if attributes[i] is not None]
        self._attached.write(connection, linked)


DATABASE = DatabaseSink()

# -- logging decisions ------------------------------------------------------------------------------


def _versions(session: Session, model: ModelRow, names: set[str]) -> dict[str, tuple[int, bool]]:
    """version -> (id, whether its personal fields are encrypted: a linked dataset is special-category)."""
    found = version_ids(session, model, names, before="logging its decisions")
    special = set(
        session.scalars(
            select(VersionDatasetRow.version_id)
            .join(DatasetRow, DatasetRow.id == VersionDatasetRow.dataset_id)
            .where(VersionDatasetRow.version_id.in_(found.values()), DatasetRow.classification == "special_category")
        )
    )
    return {name: (vid, vid in special) for name, vid in found.items()}


def _stored_digests(session: Session, model_id: int, keys: list[str]) -> dict[str, str]:
    """decision id -> digest, for those of ``keys`` the model has logged already.

    The ids travel as one parameter (a JSON array on SQLite, an array on PostgreSQL), not as
    10,000 placeholders, which cost four times as much as the lookup itself.
    """
    c = _DECISIONS.c
    if session.get_bind().dialect.name == "postgresql":
        listed = c.decision_key == any_(bindparam("keys", keys, type_=ARRAY(String)))
    else:
        # One probe first: a batch of fresh time-ordered ids (the SDK's) lies beyond every logged id,
        # and then there is nothing to look up. SQLite only: it compares text by code point, as
        # ``min``/``max`` do; PostgreSQL's collation may order text otherwise.
        within = c.decision_key.between(min(keys), max(keys))
        if session.connection().execute(select(c.id).where(c.model_id == model_id, within).limit(1)).first() is None:
            return {}
        ids = func.json_each(_text(keys)).table_valued("value")
        listed = c.decision_key.in_(select(ids.c.value))
    stmt = select(c.decision_key, c.digest).where(c.model_id == model_id, listed)
    return {key: digest for key, digest in session.connection().execute(stmt)}


def _text(value: Any) -> str:
    return dumps(value).decode()


def _explanation(explanation: Explanation) -> dict[str, Any]:
    # By hand: ``model_dump`` costs more than the rest of a decision's encoding.
    found: dict[str, Any] = {}
    if explanation.text is not None:
        found["text"] = explanation.text
    if explanation.attributions is not None:
        found["attributions"] = explanation.attributions
    return found


def _fingerprint(d: DecisionIn, decided: str, explanation: dict[str, Any] | None, personal: list[str] | None) -> bytes:
    """The decision as sent (raw values included: it is only ever HMAC-ed, never stored)."""
    return orjson.dumps(
        [
            d.decision_id,
            d.version,
            decided if d.decided_at is not None else None,
            d.inputs,
            d.output,
            d.score,
            explanation,
            d.subject,
            d.sensitive_attributes,
            personal,
        ],
        option=orjson.OPT_SORT_KEYS,
    )


def _decision_times(decisions: Sequence[DecisionIn], created: str) -> list[str]:
    """Each decision's time as stored (``created`` when it gave none); 422 naming one out of range."""
    try:
        return stamps([d.decided_at for d in decisions], default=created)
    except OverflowError:
        for d in decisions:
            moment = d.decided_at
            try:
                if moment is not None:
                    stamp(moment)
            except OverflowError as exc:
                raise InvalidInput(
                    f"Decision {d.decision_id!r} was decided at {moment}, which is outside the years 1 to 9999 in UTC."
                ) from exc
        raise


def _unencodable(decisions: Sequence[DecisionIn], personal: list[str] | None) -> str:
    """The id of the first decision whose values JSON cannot hold (the fingerprint encodes all it was sent)."""
    for d in decisions:
        explanation = None if d.explanation is None else _explanation(d.explanation)
        try:
            _fingerprint(d, "", explanation, personal)
        except orjson.JSONEncodeError:
            return d.decision_id
    return decisions[0].decision_id  # not reached: the batch's encoding failed on one of them


def _prepare(
    decisions: Sequence[DecisionIn],
    decided_at: Sequence[str],
    versions: dict[str, tuple[int, bool]],
    personal: list[str] | None,
    *,
    keys: DecisionKeys,
    model_id: int,
    created: str,
    created_by: str,
) -> tuple[list[Row], list[str | None]]:
    """The rows to store (``COLUMNS`` order) and their sensitive attributes (JSON text or None).

    One pass, decision by decision, with the callables bound once: doing each step over the whole
    batch instead (all the HMACs, then all the JSON) measured slower, as every intermediate result
    then stays allocated until the step ends instead of being reused at once.
    """
    encode, sort = orjson.dumps, orjson.OPT_SORT_KEYS  # ``models.dumps``, without a call per value
    digest_of, subject_ref, pseudonymise, protect = keys.digest, keys.subject_ref, keys.pseudonymise, keys.protect
    personal_json = None if personal is None else encode(personal, option=sort).decode()
    rows: list[Row] = []
    attributes: list[str | None] = []
    for d, decided in zip(decisions, decided_at, strict=True):
        explanation = None if d.explanation is None else _explanation(d.explanation)
        version_id, encrypt = versions[d.version]
        inputs = d.inputs
        if personal:
            if encrypt:
                inputs = protect(inputs, personal, encrypt=True, aad=aad_prefix(model_id, d.decision_id))
            else:
                inputs = pseudonymise(inputs, personal)
        rows.append(
            (
                model_id,
                version_id,
                d.decision_id,
                decided,
                None if d.subject is None else subject_ref(d.subject),
                encode(inputs, option=sort).decode(),
                personal_json,
                None if d.output is None else encode(d.output, option=sort).decode(),
                d.score,
                None if explanation is None else encode(explanation, option=sort).decode(),
                digest_of(_fingerprint(d, decided, explanation, personal)),
                created,
                created_by,
            )
        )
        attributes.append(encode(d.sensitive_attributes, option=sort).decode() if d.sensitive_attributes else None)
    return rows, attributes


_KEY, _DIGEST = COLUMNS.index("decision_key"), COLUMNS.index("digest")


def _personal(data: DecisionBatch) -> list[str] | None:
    """The batch's personal fields as stored and compared: sorted, once each; None for none."""
    return sorted(set(data.personal_fields)) or None


@dataclass(frozen=True)
class BatchTarget:
    """What preparing a batch needs from the database (:func:`batch_target`), as plain values: it
    is prepared after the reading transaction that found them has ended."""

    model_id: int
    versions: dict[str, tuple[int, bool]]  # version -> (id, personal fields encrypted)
    actor: str


@dataclass(frozen=True)
class PreparedBatch:
    """A batch made ready to store: each decision's row, with its personal data protected and its
    digest taken (see :func:`prepare_decisions`), and what the preparation depended on."""

    target: BatchTarget
    personal: list[str] | None
    rows: list[Row]
    attributes: list[str | None]
    now: datetime
    days: frozenset[str]  # the dates (YYYY-MM-DD) the decisions fall on

    def made_for(self, target: BatchTarget, data: DecisionBatch) -> bool:
        """Whether this preparation holds for ``data`` logged to ``target`` as it is now (its actor, and
        the model's versions: a version whose fields are now encrypted must not be stored pseudonymised)."""
        if (self.target, self.personal) != (target, _personal(data)):
            return False
        return [row[_KEY] for row in self.rows] == [d.decision_id for d in data.decisions]

    def unlogged(self, stored: dict[str, str]) -> tuple[list[Row], list[str | None], int, list[str]]:
        """The rows and attributes not logged yet, how many were logged exactly as sent, and the ids
        logged already as different decisions (in the batch's order: see ``_refusal``)."""
        if not stored:
            return self.rows, self.attributes, 0, []
        rows: list[Row] = []
        attributes: list[str | None] = []
        conflicts: list[str] = []
        duplicates = 0
        for row, attached in zip(self.rows, self.attributes, strict=True):
            previous = stored.get(row[_KEY])
            if previous is None:
                rows.append(row)
                attributes.append(attached)
            elif previous == row[_DIGEST]:
                duplicates += 1
            else:
                conflicts.append(row[_KEY])
        return rows, attributes, duplicates, conflicts


def _unique_ids(decisions: Sequence[DecisionIn]) -> list[str]:
    """The batch's ids; 422 naming those that appear more than once."""
    ids = [d.decision_id for d in decisions]
    if len(set(ids)) != len(ids):
        repeated = sorted(i for i, n in Counter(ids).items() if n > 1)
        raise InvalidInput(
            f"A decision id may appear once per batch: {_named(repeated)} appear more than once.",
            details={"decision_ids": repeated[:_NAMED]},
        )
    return ids


def batch_target(session: Session, actor: Principal, model_ref: str | int, data: DecisionBatch) -> BatchTarget:
    """The model and versions a batch is logged to, once ``actor`` may log it (403, 404, 422 else)."""
    model = get_model_row(session, model_ref)
    authorize(actor, P.DECISION_WRITE, scope_of(model))
    _unique_ids(data.decisions)
    versions = _versions(session, model, {d.version for d in data.decisions})
    return BatchTarget(model.id, versions, actor.actor)


def prepare_decisions(target: BatchTarget, data: DecisionBatch, *, keys: DecisionKeys) -> PreparedBatch:
    """The work of logging a batch that needs neither the database nor a lock: pseudonyms,
    encryption, JSON and digests.

    The route finds the batch's target (:func:`batch_target`) in a reading transaction, ends it,
    prepares, and hands the result to :func:`log_decisions` in a writing transaction, which checks
    that the model and its versions still are what the preparation used (or prepares again) and
    only then looks up logged ids and writes. On SQLite the write lock is then held for the
    writing alone, not for the preparation too (about half of a batch's time), so another writer's
    batch is prepared while this one is written; and no snapshot is held while preparing, which
    would keep the WAL from being checkpointed back to its start (it grew to 170 MB with two
    writers, each preparing inside its reading transaction).
    """
    decisions = data.decisions
    now = utcnow()
    created = stamp(now)
    decided_at = _decision_times(decisions, created)
    personal = _personal(data)
    with paused():  # see charter.gcpause: a batch makes no reference cycles
        try:
            rows, attributes = _prepare(
                decisions,
                decided_at,
                target.versions,
                personal,
                keys=keys,
                model_id=target.model_id,
                created=created,
                created_by=target.actor,
            )
        except orjson.JSONEncodeError as exc:  # e.g. an integer beyond 64 bits, which JSON readers cannot all take
            raise InvalidInput(
                f"Decision {_unencodable(decisions, personal)!r} holds a value that cannot be stored as JSON: {exc}."
            ) from exc
    days = frozenset(t[:10] for t in decided_at)
    return PreparedBatch(target, personal, rows, attributes, now, days)


def _refusal(model: ModelRow, conflicts: list[str]) -> Conflict:
    """409 for ids the model logged already as different decisions (in the batch's order)."""
    return Conflict(
        f"Model {model.name!r} already logged different decisions under the ids {_named(conflicts)}; "
        "nothing in this batch was stored. Decision ids are unique per model; a decision re-sent "
        "exactly as logged is skipped.",
        details={"decision_ids": conflicts[:_NAMED], "conflicts": len(conflicts)},
    )


def _concurrent() -> Conflict:
    """409 for ids a concurrent request logged between the lookup and the insert (an IntegrityError)."""
    return Conflict(
        "Some decision ids of this batch were logged by a concurrent request; send the batch again "
        "(decisions logged exactly as sent are then skipped).",
    )


def log_decisions(
    session: Session,
    actor: Principal,
    model_ref: str | int,
    data: DecisionBatch,
    *,
    keys: DecisionKeys,
    sink: DecisionSink = DATABASE,
    prepared: PreparedBatch | None = None,
) -> BatchResult:
    """Log a batch of decisions (see the module docstring for personal data and duplicate ids).

    ``prepared``: the batch as :func:`prepare_decisions` made it in an earlier transaction; used if
    it was made from ``data`` by ``actor`` and the model and its versions (and whether their fields
    are encrypted) are unchanged; otherwise the batch is prepared again here.
    """
    model = get_model_row(session, model_ref)
    authorize(actor, P.DECISION_WRITE, scope_of(model))
    decisions = data.decisions
    ids = _unique_ids(decisions)
    versions = _versions(session, model, {d.version for d in decisions})
    suspended = suspended_versions(session, [vid for vid, _ in versions.values()])
    if suspended:
        named = {vid: name for name, (vid, _) in versions.items()}
        held = ", ".join(f"{named[v]} (incident #{i})" for v, i in sorted(suspended.items()))
        raise Conflict(
            f"Decision logging of {model.name!r} version {held} is suspended as an incident's containment; "
            "nothing in this batch was stored. Lift the containment to log again.",
            details={"suspended": {named[v]: i for v, i in suspended.items()}},
        )
    target = BatchTarget(model.id, versions, actor.actor)
    if prepared is None or not prepared.made_for(target, data):
        prepared = prepare_decisions(target, data, keys=keys)
    stored = sink.stored_digests(session, model.id, ids, prepared.days)
    with paused():
        rows, attributes, duplicates, conflicts = prepared.unlogged(stored)
        if conflicts:
            raise _refusal(model, conflicts)
        count, with_attributes = len(rows), sum(a is not None for a in attributes)
        if rows:
            try:
                sink.write(session, rows, attributes)
            except IntegrityError as exc:  # a concurrent request logged some of these ids first
                raise _concurrent() from exc
    if count:  # monitors that run on ingestion are due now
        mark_ingested(session, model.id, prepared.now)
    personal = prepared.personal
    treatment: dict[str, Treatment] = {}
    if personal:
        treatment = {name: "encrypted" if versions[name][1] else "pseudonymised" for name in sorted(versions)}
    audit.record(
        session,
        actor,
        "decision.log",
        resource_type=RESOURCE,
        resource_id=model.id,
        details={
            "received": len(decisions),
            "stored": count,
            "duplicates": duplicates,
            "versions": sorted(versions),
            "personal_fields": personal or [],
            "treatment": treatment,
            "with_attributes": with_attributes,
        },
    )
    return BatchResult(
        model=model.name, received=len(decisions), stored=count, duplicates=duplicates, treatment=treatment
    )


# -- outcomes ---------------------------------------------------------------------------------------


def record_outcome(
    session: Session,
    actor: Principal,
    model_ref: str | int,
    decision_id: str,
    data: Outcome,
    *,
    parquet: ParquetLog | None = None,
) -> OutcomeRead:
    """Attach the ground truth to a logged decision. The same outcome again is a no-op; a different
    one is refused unless ``replace`` is set (a correction, audited as such). ``parquet``: the log
    is kept there (``CHARTER_DECISION_STORE=parquet``), not in the database."""
    model = get_model_row(session, model_ref)
    authorize(actor, P.DECISION_WRITE, scope_of(model))
    try:
        encoded = dumps(data.outcome)
    except orjson.JSONEncodeError as exc:
        raise InvalidInput(f"The outcome cannot be stored as JSON: {exc}.") from exc
    row: DecisionRow | None = None
    if parquet is None:
        row = session.scalars(
            select(DecisionRow).where(DecisionRow.model_id == model.id, DecisionRow.decision_key == decision_id)
        ).first()
        found = row is not None
        current, current_at = (row.outcome, row.outcome_at) if row is not None else (None, None)
    else:
        found, current, current_at = parquet.outcome_of(session, model.id, decision_id)
    if not found:
        raise NotFound(f"Model {model.name!r} has no logged decision {decision_id!r}.")
    replaced = current_at is not None
    if current_at is not None:
        if dumps(current) == encoded:
            return OutcomeRead(decision_id=decision_id, outcome=current, outcome_at=current_at)
        if not data.replace:
            raise Conflict(
                f"Decision {decision_id!r} already has a different outcome; send `replace: true` to correct it."
            )
    observed = data.observed_at or utcnow()
    if row is not None:
        row.outcome = data.outcome
        row.outcome_at = observed
        session.flush()
    elif parquet is not None:
        text = None if data.outcome is None else encoded.decode()
        parquet.append_outcome(session, model.id, decision_id, text, observed, utcnow())
    audit.record(
        session,
        actor,
        "decision.outcome",
        resource_type=RESOURCE,
        resource_id=model.id,
        # The outcome itself stays out of the trail: ground truth about a person can be personal data.
        details={"decision_id": decision_id, "replaced": replaced},
    )
    return OutcomeRead(decision_id=decision_id, outcome=data.outcome, outcome_at=observed)


# -- search and export ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Query:
    """A resolved search: the model, its WHERE clauses, what to show, and the filters as audited."""

    model_id: int
    model_name: str
    where: tuple[ColumnElement[bool], ...]
    attributes: bool
    reveal: bool
    audited_filters: dict[str, Any]
    # The same search for a Parquet log.
    stored: Filter


def json_or_text(text: str) -> Any:
    """A value given as text in a query: JSON when it parses (`1`, `true`, `"approve"`), else the text itself."""
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return text


def _output_equals(session: Session, value: Any) -> ColumnElement[bool]:
    if value is None:  # a null output is stored as SQL NULL
        return DecisionRow.output.is_(None)
    if session.get_bind().dialect.name == "postgresql":
        # ``json`` has no equality; its text is what was written (``models.dumps``), so compare that.
        return cast(DecisionRow.output, Text) == dumps(value).decode()
    # SQLite: the bound value is encoded the same way; a number stored as a number compares as one.
    return typing.cast(ColumnElement[bool], DecisionRow.output == value)


def _resolve(
    session: Session,
    actor: Principal,
    model_ref: str | int,
    filters: DecisionFilter,
    *,
    keys: DecisionKeys,
    reveal: bool,
    attributes: bool | None,
) -> Query:
    model = get_model_row(session, model_ref)
    scope = scope_of(model)
    authorize(actor, P.DECISION_READ, scope)
    may_see = actor.can(P.FAIRNESS_READ, scope)
    if reveal:
        # Decrypting special-category inputs is a fairness reader's act, like seeing the attributes.
        authorize(actor, P.FAIRNESS_READ, scope)
    if attributes:
        authorize(actor, P.FAIRNESS_READ, scope)
    where: list[ColumnElement[bool]] = [DecisionRow.model_id == model.id]
    audited = filters.model_dump(mode="json", exclude_none=True)
    version_id = ref = output = None
    if filters.since is not None:
        where.append(DecisionRow.decided_at >= filters.since)
    if filters.until is not None:
        where.append(DecisionRow.decided_at < filters.until)
    if filters.version is not None:
        version_id = get_version_row(session, model, filters.version).id
        where.append(DecisionRow.version_id == version_id)
    if filters.subject is not None:
        ref = keys.subject_ref(filters.subject)
        where.append(subject_match(ref))
        audited["subject"] = ref  # the trail names the pseudonym, never the reference as typed
    if filters.has_outcome is not None:
        where.append(DecisionRow.outcome_at.is_not(None) if filters.has_outcome else DecisionRow.outcome_at.is_(None))
    if filters.output is not None:
        value = json_or_text(filters.output)
        where.append(_output_equals(session, value))
        output = dumps(value).decode()
    if filters.decision_id is not None:
        where.append(DecisionRow.decision_key == filters.decision_id)
    stored = Filter(
        since=filters.since,
        until=filters.until,
        version_id=version_id,
        subject_ref=ref,
        has_outcome=filters.has_outcome,
        output=output,
        decision_key=filters.decision_id,
    )
    return Query(
        model_id=model.id,
        model_name=model.name,
        where=tuple(where),
        attributes=may_see if attributes is None else attributes,
        reveal=reveal,
        audited_filters=audited,
        stored=stored,
    )


def _select(query: Query) -> Select[Any]:
    columns: list[Any] = [
        DecisionRow.id,
        DecisionRow.decision_key,
        ModelVersionRow.version,
        DecisionRow.decided_at,
        DecisionRow.subject_ref,
        DecisionRow.inputs,
        DecisionRow.personal_fields,
        DecisionRow.output,
        DecisionRow.score,
        DecisionRow.explanation,
        DecisionRow.outcome,
        DecisionRow.outcome_at,
        DecisionRow.created_at,
        DecisionRow.created_by,
    ]
    if query.attributes:
        columns.append(DecisionAttributesRow.attributes)
    stmt = select(*columns).join(ModelVersionRow, ModelVersionRow.id == DecisionRow.version_id).where(*query.where)
    if query.attributes:
        stmt = stmt.outerjoin(DecisionAttributesRow, DecisionAttributesRow.decision_id == DecisionRow.id)
    return stmt


def _read(row: Any, query: Query, keys: DecisionKeys) -> tuple[DecisionRead, int]:
    """A result row as returned, and how many of its fields were decrypted."""
    inputs = row.inputs
    fields = row.personal_fields or []
    decrypted = 0
    if query.reveal and fields:
        inputs, decrypted = keys.reveal(inputs, fields, aad=aad_prefix(query.model_id, row.decision_key))
    read = DecisionRead(
        decision_id=row.decision_key,
        model=query.model_name,
        version=row.version,
        decided_at=row.decided_at,
        subject=row.subject_ref,
        inputs=inputs,
        personal_fields=fields,
        output=row.output,
        score=row.score,
        explanation=Explanation(**row.explanation) if row.explanation is not None else None,
        outcome=row.outcome,
        outcome_at=row.outcome_at,
        sensitive_attributes=row.attributes if query.attributes else None,
        created_at=row.created_at,
        created_by=row.created_by,
    )
    return read, decrypted


def _by_time(query: Query) -> ColumnElement[Any]:
    """What results are ordered by: the decision time."""
    if query.stored.subject_ref is None:
        return DecisionRow.decided_at.expression
    # A subject's decisions are few: find them by the subject index and sort them. Ordered by the bare
    # column, SQLite (which keeps no statistics here) walks all the model's decisions in time order
    # through the time index instead, to spare that sort.
    return func.coalesce(DecisionRow.decided_at, DecisionRow.decided_at)


def _micros(moment: datetime) -> int:
    return (moment - _EPOCH) // timedelta(microseconds=1)


def _parse_cursor(cursor: str | None) -> tuple[datetime, int] | None:
    if not cursor:
        return None
    match = _CURSOR.match(cursor)
    if match is None:
        raise InvalidInput("The cursor is not valid; use the `next_cursor` of a previous page.")
    try:
        moment = _EPOCH + timedelta(microseconds=int(match[1]))
    except OverflowError as exc:
        raise InvalidInput("The cursor is not valid; use the `next_cursor` of a previous page.") from exc
    return moment, int(match[2])


def _audit_read(session: Session, actor: Principal, query: Query, action: str, **details: Any) -> None:
    if query.reveal:
        action = "decision.reveal"
    audit.record(
        session,
        actor,
        action,
        resource_type=RESOURCE,
        resource_id=query.model_id,
        details={"filters": query.audited_filters, "attributes": query.attributes, "reveal": query.reveal, **details},
    )


def _version_names(session: Session, model_id: int) -> dict[int, str]:
    stmt = select(ModelVersionRow.id, ModelVersionRow.version).where(ModelVersionRow.model_id == model_id)
    return {vid: name for vid, name in session.execute(stmt)}


def _page(
    session: Session, query: Query, cursor: str | None, limit: int, parquet: ParquetLog | None
) -> tuple[Sequence[Any], str | None]:
    """One page of rows, newest first, from the database or the Parquet log, and the next page's cursor."""
    if parquet is not None:
        after = parse_cursor(cursor) if cursor else None
        versions = _version_names(session, query.model_id)
        rows: Sequence[Any]
        rows, next_cursor = parquet.search(
            query.model_id, versions, query.stored, attributes=query.attributes, limit=limit, after=after
        )
        return rows, next_cursor
    stmt = _select(query).order_by(_by_time(query).desc(), DecisionRow.id.desc()).limit(limit + 1)
    position = _parse_cursor(cursor)
    if position is not None:
        moment, last = position
        stmt = stmt.where(
            or_(DecisionRow.decided_at < moment, and_(DecisionRow.decided_at == moment, DecisionRow.id < last))
        )
    rows = session.execute(stmt).all()
    if len(rows) <= limit:
        return rows, None
    last_row = rows[limit - 1]
    return rows[:limit], f"{_micros(last_row.decided_at)}_{last_row.id}"


def list_decisions(
    session: Session,
    actor: Principal,
    model_ref: str | int,
    filters: DecisionFilter,
    *,
    keys: DecisionKeys,
    reveal: bool = False,
    attributes: bool | None = None,
    cursor: str | None = None,
    limit: int | None = None,
    parquet: ParquetLog | None = None,
) -> Page[DecisionRead]:
    """Decisions, newest first (by decision time), a page at a time; the search is itself audited.

    ``attributes``: None shows the sensitive attributes to readers holding ``fairness:read`` and
    hides them from others; True demands them (403 without the permission); False leaves them out.
    ``reveal`` decrypts encrypted personal fields (needs ``fairness:read``; audited as
    ``decision.reveal``). ``parquet``: the log is kept there, not in the database.
    """
    query = _resolve(session, actor, model_ref, filters, keys=keys, reveal=reveal, attributes=attributes)
    rows, next_cursor = _page(session, query, cursor, clamp_limit(limit), parquet)
    items: list[DecisionRead] = []
    decrypted = 0
    for row in rows:
        read, n = _read(row, query, keys)
        items.append(read)
        decrypted += n
    details: dict[str, Any] = {"count": len(items)}
    if reveal:
        details["decrypted_fields"] = decrypted
    _audit_read(session, actor, query, "decision.read", **details)
    return Page(items=items, next_cursor=next_cursor)


def plan_export(
    session: Session,
    actor: Principal,
    model_ref: str | int,
    filters: DecisionFilter,
    *,
    keys: DecisionKeys,
    reveal: bool = False,
    attributes: bool | None = None,
    parquet: ParquetLog | None = None,
) -> Query:
    """Authorize and audit an export; :func:`export_lines` then streams it (in a session of its own).

    The export holds the decisions logged up to now: the event's count is of those, and decisions
    logged while the export streams are left out.
    """
    query = _resolve(session, actor, model_ref, filters, keys=keys, reveal=reveal, attributes=attributes)
    if parquet is not None:
        query = replace(query, stored=replace(query.stored, created_upto=utcnow()))
        count = parquet.count(query.model_id, query.stored)
    else:
        upto = session.scalar(select(func.max(DecisionRow.id)).where(DecisionRow.model_id == query.model_id)) or 0
        query = replace(query, where=(*query.where, DecisionRow.id <= upto))
        count = session.scalar(select(func.count()).select_from(DecisionRow).where(*query.where)) or 0
    _audit_read(session, actor, query, "decision.export", count=count)
    return query


def export_lines(
    session: Session, query: Query, *, keys: DecisionKeys, parquet: ParquetLog | None = None
) -> Iterator[str]:
    """The planned export as JSON lines, oldest first, each a ``DecisionRead``; memory stays flat."""
    rows: Iterable[Any]
    if parquet is not None:
        versions = _version_names(session, query.model_id)
        rows = parquet.stream(query.model_id, versions, query.stored, attributes=query.attributes, batch=EXPORT_BATCH)
    else:
        stmt = _select(query).order_by(_by_time(query), DecisionRow.id)
        rows = session.execute(stmt.execution_options(yield_per=EXPORT_BATCH))
    for row in rows:
        read, _ = _read(row, query, keys)
        yield read.model_dump_json() + "\n"


def recent_inputs(
    session: Session,
    model_id: int,
    version_id: int,
    *,
    since: datetime,
    until: datetime,
    limit: int,
    parquet: ParquetLog | None = None,
) -> list[dict[str, Any]]:
    """The inputs of a version's decisions in [since, until), newest first, at most ``limit``.

    For monitors (drift, data quality), which run as the system: no authorization, no audit event.
    Personal fields come as they are stored (pseudonyms or ciphertexts), never revealed.
    """
    if parquet is not None:
        return parquet.recent_inputs(model_id, version_id, since=since, until=until, limit=limit)
    stmt = (
        select(DecisionRow.inputs)
        .where(
            DecisionRow.model_id == model_id,
            DecisionRow.version_id == version_id,
            DecisionRow.decided_at >= since,
            DecisionRow.decided_at < until,
        )
        .order_by(DecisionRow.decided_at.desc())
        .limit(limit)
    )
    return list(session.scalars(stmt))


def performance(
    session: Session,
    actor: Principal,
    model_ref: str | int,
    version: str,
    *,
    positive_output: Any,
    positive_outcome: Any = None,
    since: datetime | None = None,
    until: datetime | None = None,
    window: str = "1d",
    parquet: ParquetLog | None = None,
) -> PerformanceRead:
    """Performance over time from the decisions a version logged whose outcome is known.

    A decision is a positive prediction when its output equals ``positive_output``, and actually
    positive when its outcome equals ``positive_outcome`` (default: the same value). Needs
    ``decision:read``; the read is audited (its counts, never the decisions).
    """
    from charter.compute.series import performance_windows

    model = get_model_row(session, model_ref)
    authorize(actor, P.DECISION_READ, scope_of(model))
    row = get_version_row(session, model, version)
    wanted = positive_output if positive_outcome is None else positive_outcome
    if parquet is not None:
        found = parquet.outcomes_of(model.id, row.id, since=since, until=until)
    else:
        stmt = select(DecisionRow.decided_at, DecisionRow.output, DecisionRow.outcome, DecisionRow.score).where(
            DecisionRow.model_id == model.id, DecisionRow.version_id == row.id, DecisionRow.outcome_at.is_not(None)
        )
        if since is not None:
            stmt = stmt.where(DecisionRow.decided_at >= since)
        if until is not None:
            stmt = stmt.where(DecisionRow.decided_at < until)
        found = [tuple(r) for r in session.execute(stmt.order_by(DecisionRow.decided_at))]
    if not found:
        raise InvalidInput(
            f"Version {version} of {model.name} has no logged decision with a known outcome in that range."
        )
    scores = [r[3] for r in found]
    result = performance_windows(
        [r[2] == wanted for r in found],
        [r[1] == positive_output for r in found],
        times=[r[0] for r in found],
        scores=None if any(s is None for s in scores) else scores,
        window=window,
        positive_label=True,
    )
    audit.record(
        session,
        actor,
        "decision.performance",
        resource_type=RESOURCE,
        resource_id=model.id,
        details={"version": version, "decisions": len(found), "window": window, "windows": len(result)},
    )
    return PerformanceRead(
        model=model.name,
        version=version,
        window=window,
        decisions=len(found),
        windows=[PerformanceWindow(**w) for w in result.records()],
    )
